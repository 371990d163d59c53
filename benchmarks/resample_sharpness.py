"""How much of the photo's sharpness the native renderer keeps with head motion, per resampling (issue 14).

For every clip of a prepared dataset (as ``benchmarks/render_quality.py``: the source's first frame is the
photo, its first seconds of speech drive the default model) the default request is made once with head
motion and once without, and each variant renders the *same* request with
:class:`talkface.render.compose.NativeRenderer` (painted mouth, the learned shading, as ``animate``). Per
variant: the variance of the Laplacian of each frame's face box (boxes from the requested landmarks,
:func:`talkface.eval.render_metrics.laplacian_var`) over the still photo's with the same boxes, so the
variants differ only in how the photo is sampled; and the renderer's milliseconds per frame (wall, noisy on
a shared machine).

Variants are ``RESAMPLE/BLEND`` (:data:`talkface.render.compose.RESAMPLE`, ``RenderConfig.blend``), e.g.
``cubic/pixels`` (the renderer before 2026-12-01), ``cubic2x/map`` (the default since). The first variant
is also rendered without head motion (column ``..._h0``).

Usage::

    python3 benchmarks/resample_sharpness.py --data /work/prepared/grid7 --out OUT.json
    python3 benchmarks/resample_sharpness.py --data /work/prepared/wild --max-clips 6 --out OUT.json \\
        --variants cubic/pixels cubic/map lanczos/map cubic2x/map --save OUT.npz   # frames 10/40/70 for tiles

``--save`` keeps three frames per clip and variant (never commit the wild clips' outputs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from render_quality import clip_sources, downscale, speech_sources  # noqa: E402


def main() -> None:
    """Run the comparison and print / write the per-clip and mean ratios."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="prepared dataset folder (with manifest.jsonl)")
    p.add_argument("--out", required=True, type=Path, help="results (.json)")
    p.add_argument("--variants", nargs="+", default=["cubic/pixels", "cubic/map", "lanczos/map", "cubic2x/map"])
    p.add_argument("--max-clips", type=int, default=0, help="0: all")
    p.add_argument("--seconds", type=float, default=3.0, help="first N seconds of each clip")
    p.add_argument("--save", type=Path, default=None, help="also keep frames 10/40/70 per clip and variant (.npz)")
    args = p.parse_args()

    from talkface.eval.render_metrics import laplacian_var
    from talkface.io.media import read_audio, read_video
    from talkface.pipeline import AnimateConfig, Animator
    from talkface.render.compose import NativeRenderer, RenderConfig

    torch.set_num_threads(1)
    animators = {"h1": Animator(AnimateConfig(threads=1)), "h0": Animator(AnimateConfig(threads=1, head_motion=0.0))}
    shading = animators["h1"].config.shading
    rows: list[dict[str, object]] = []
    saved: dict[str, np.ndarray] = {}
    speech = speech_sources(args.data)  # the styletalk clips' side-car .wav
    for clip, source, _ in clip_sources(args.data, args.max_clips):
        real, fps = read_video(source, max_duration_s=args.seconds)
        real = downscale(real, 1280)
        photo = real[0]
        try:  # no audio track (styletalk_KristiNoem.mp4) or no face: say so, go on
            audio = read_audio(speech.get(source, source), max_duration_s=len(real) / fps)
            photo_lm = animators["h1"]._face(photo, source)
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"{clip}: skipped ({exc})", flush=True)
            continue
        row: dict[str, object] = {"clip": clip, "size": f"{photo.shape[1]}x{photo.shape[0]}"}
        for head, animator in animators.items():
            animator.talking_head(photo, audio)
            assert animator.last_requested_landmarks is not None
            req = animator.last_requested_landmarks[: len(real)]
            still = laplacian_var(np.repeat(photo[None], len(req), 0), req)
            for v in args.variants if head == "h1" else args.variants[:1]:
                resample, blend = v.split("/")
                renderer = NativeRenderer(photo, photo_lm, req, RenderConfig(mouth="painted", shading=shading,
                                                                              resample=resample, blend=blend))
                t = time.perf_counter()
                frames = np.stack([renderer(x) for x in req])
                row[f"{v}_{head}_ms"] = 1000 * (time.perf_counter() - t) / len(req)
                row[f"{v}_{head}"] = laplacian_var(frames, req) / still
                if args.save is not None:
                    idx = [i for i in (10, 40, 70) if i < len(frames)]
                    saved[f"{clip}/{v}/{head}"], saved[f"{clip}/req/{head}"] = frames[idx], req[idx]
            if args.save is not None:
                saved[f"{clip}/photo"] = photo
        rows.append(row)
        print({k: round(x, 3) if isinstance(x, float) else x for k, x in row.items()}, flush=True)
    keys = [k for k in rows[0] if k not in ("clip", "size")] if rows else []
    means = {k: float(np.mean([float(r[k]) for r in rows])) for k in keys}  # type: ignore[arg-type]
    print("mean over", len(rows), "clips:", {k: round(x, 3) for k, x in means.items()})
    args.out.write_text(json.dumps({"rows": rows, "mean": means, "command": " ".join(sys.argv)}, indent=1) + "\n")
    if args.save is not None:
        np.savez_compressed(args.save, **saved)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
