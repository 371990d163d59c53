"""Texture-stage reconstruction on held-out clips (issue 4): PSNR, SSIM, mouth PSNR, CPBD, identity cosine.

Every target frame of a held-out clip is rendered from its ground-truth landmarks with the clip's
neutral frame as the one reference (no adaptation), and compared with the real frame. Rows:

* ``copy reference``: the reference frame itself (a model that does not move);
* ``warp only``: the reference warped onto the target landmarks (thin-plate spline), no network;
* one row per checkpoint or model bundle given.

Usage::

    python3 benchmarks/eval_texture.py DATASET[:SPLIT] ... --model NAME=CKPT_OR_BUNDLE ... [--json out.json]

e.g. ``python3 benchmarks/eval_texture.py prepared/grid_texture:test prepared/grid_s1:test
--model default=src/talkface/assets/default_model --max-clips 10``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from talkface.eval.identity import FaceNetEmbedder, acd, facenet_distance
from talkface.eval.metrics import cpbd
from talkface.texture.adapt import choose_references, image_metrics, person_from_model
from talkface.texture.data import FrameStore
from talkface.texture.tgan import images_to_tensor, tensor_to_images
from talkface.texture.warp import warp_image
from talkface.train.core import load_module


def load_texture(path: str) -> torch.nn.Module:
    p = Path(path)
    if p.is_dir():
        from talkface.pipeline import load_bundle

        return load_bundle(p, trainable=True).texture
    return load_module(p)


_FACENET: list[FaceNetEmbedder] = []


def score(
    fake: np.ndarray, real: np.ndarray, points: np.ndarray, ref: np.ndarray, ref_points: np.ndarray
) -> dict[str, float]:
    """Full-reference metrics vs. the real frames; CPBD of the fakes; identity vs. the reference frame
    (ACD: dlib descriptor distance; FaceNet cosine distance), landmarks of the real frames standing in."""
    if not _FACENET:
        _FACENET.append(FaceNetEmbedder())
    m = image_metrics(fake, real, points)
    stride = max(1, len(fake) // 8)
    m["cpbd"] = float(cpbd(fake[::stride]))
    m["acd"] = acd(fake, points, ref, ref_points, stride=stride)
    m["facenet"] = facenet_distance(fake, points, ref, ref_points, embedder=_FACENET[0], stride=stride)
    return m


def evaluate(stores: dict[str, FrameStore], models: dict[str, torch.nn.Module], max_frames: int) -> dict:
    results: dict[str, dict[str, dict[str, float]]] = {}
    for store_name, store in stores.items():
        rows: dict[str, list[tuple[int, dict[str, float]]]] = {}
        for clip in store.clips:
            refs = choose_references(clip.points, 1)
            idx = np.array([i for i in range(len(clip.frames)) if i not in refs])
            if max_frames and len(idx) > max_frames:
                idx = idx[np.linspace(0, len(idx) - 1, max_frames).round().astype(int)]
            real, pts, ref = clip.frames[idx], clip.points[idx], clip.frames[refs[0]]
            outs = {"copy reference": np.repeat(ref[None], len(idx), 0)}
            with torch.no_grad():
                warped = warp_image(images_to_tensor(ref)[None].expand(len(idx), -1, -1, -1),
                                    torch.from_numpy(clip.points[refs[0]])[None], torch.from_numpy(pts))
            outs["warp only"] = tensor_to_images(warped)
            for name, model in models.items():
                person = person_from_model(model, clip.frames, clip.points, 1)  # type: ignore[arg-type]
                outs[name] = person.generate(pts)
            for name, fake in outs.items():
                rows.setdefault(name, []).append((len(idx), score(fake, real, pts, ref, clip.points[refs[0]])))
        results[store_name] = {}
        for name, items in rows.items():
            n = sum(k for k, _ in items)
            keys = items[0][1].keys()
            results[store_name][name] = {k: sum(c * m[k] for c, m in items) / n for k in keys}
            results[store_name][name]["frames"] = n
            results[store_name][name]["clips"] = len(items)
    return results


def markdown(results: dict) -> str:
    lines = []
    for store, rows in results.items():
        lines += [f"\n**{store}** ({next(iter(rows.values()))['clips']} clips, "
                  f"{int(next(iter(rows.values()))['frames'])} frames)\n",
                  "| method | PSNR ↑ | SSIM ↑ | mouth PSNR ↑ | CPBD ↑ | ACD ↓ | FaceNet dist ↓ |",
                  "|---|---|---|---|---|---|---|"]
        for name, m in rows.items():
            lines.append(f"| {name} | {m['psnr']:.2f} | {m['ssim']:.3f} | {m['mouth_psnr']:.2f} | {m['cpbd']:.3f} | "
                         f"{m['acd']:.3f} | {m['facenet']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="+", help="prepared dataset folder[:split] (default split: test)")
    p.add_argument("--model", action="append", default=[], help="NAME=checkpoint or bundle folder (repeatable)")
    p.add_argument("--max-clips", type=int, default=10, help="clips per dataset")
    p.add_argument("--max-frames", type=int, default=0, help="targets per clip (0: all)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t = time.time()
    stores = {}
    for spec in args.datasets:
        root, _, split = spec.partition(":")
        st = FrameStore.from_datasets([root], split or "test", 128, frames_per_clip=0, max_clips=args.max_clips, seed=1)
        stores[f"{Path(root).name}:{split or 'test'}"] = st
    models = {}
    for spec in args.model:
        name, _, path = spec.partition("=")
        models[name] = load_texture(path)
    results = evaluate(stores, models, args.max_frames)
    print(markdown(results))
    print(f"\n{time.time() - t:.0f} s; command: python3 {' '.join(sys.argv)}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
