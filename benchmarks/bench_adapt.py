"""Few-shot adaptation (`talkface adapt`, issue 4): seconds for K frames and PSNR before/after on unseen people.

For each held-out clip: K frames evenly spaced over the first half adapt the bundle's texture generator
(:func:`talkface.texture.adapt.adapt`, the settings of ``talkface adapt``); the second half's frames
are rendered from their ground-truth landmarks with the clip's neutral frame as reference, before and
after, and compared with the real frames (PSNR, SSIM, mouth PSNR).

Usage::

    python3 benchmarks/bench_adapt.py DATASET[:SPLIT] [--model BUNDLE] [--k 1 5 20] [--steps 40] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from talkface.pipeline import load_bundle
from talkface.texture.adapt import AdaptConfig, adapt, choose_references, image_metrics, person_from_model
from talkface.texture.data import FrameStore


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="prepared dataset folder[:split] (default split: test)")
    p.add_argument("--model", default=None, help="model bundle (default: the bundled one)")
    p.add_argument("--k", type=int, nargs="+", default=[1, 5, 20], help="frames to adapt on")
    p.add_argument("--steps", type=int, default=40, help="fine-tuning steps (talkface adapt's default)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--max-clips", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    root, _, split = args.dataset.partition(":")
    store = FrameStore.from_datasets([root], split or "test", 128, frames_per_clip=0, max_clips=args.max_clips, seed=1)
    texture = load_bundle(args.model, trainable=True).texture  # adapt() fine-tunes the LightningModule
    rows = []
    for clip in store.clips:
        n = len(clip.frames)
        first, second = np.arange(n // 2), np.arange(n // 2, n)
        ref = choose_references(clip.points[first], 1)
        base = person_from_model(texture, clip.frames[first], clip.points[first], 1)
        before = image_metrics(base.generate(clip.points[second]), clip.frames[second], clip.points[second])
        for k in args.k:
            # K = 1: the most neutral frame; else K frames evenly spaced over the first half
            idx = first[ref] if k == 1 else first[np.unique(np.linspace(0, len(first) - 1, k).round().astype(int))]
            cfg = AdaptConfig(steps=args.steps, lr=args.lr, batch_size=min(4, len(idx)), adversarial=False,
                              num_threads=args.threads)
            person = adapt(texture, clip.frames[idx], clip.points[idx], cfg)
            after = image_metrics(person.generate(clip.points[second]), clip.frames[second], clip.points[second])
            row = {"clip": clip.clip_id, "K": int(len(idx)), "seconds": round(float(person.info["seconds"]), 1),
                   **{f"before_{m}": round(v, 3) for m, v in before.items()},
                   **{f"after_{m}": round(v, 3) for m, v in after.items()}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for k in sorted({r["K"] for r in rows}):
        sel = [r for r in rows if r["K"] == k]
        summary[k] = {m: round(float(np.mean([r[m] for r in sel])), 3) for m in sel[0] if m not in ("clip", "K")}
    print("\n| K | adapt s | PSNR before → after | mouth PSNR before → after | SSIM before → after |")
    print("|---|---|---|---|---|")
    for k, s in summary.items():
        print(f"| {k} | {s['seconds']:.1f} | {s['before_psnr']:.2f} → {s['after_psnr']:.2f} | "
              f"{s['before_mouth_psnr']:.2f} → {s['after_mouth_psnr']:.2f} | "
              f"{s['before_ssim']:.3f} → {s['after_ssim']:.3f} |")
    print(f"\ncommand: python3 {' '.join(sys.argv)}; load average {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "summary": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
