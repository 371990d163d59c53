"""Per-frame cost of the learned lower-face shading (``RenderConfig.shading``) on HD photos.

    python3 benchmarks/bench_shading.py --sizes 1280x720 1920x1080 --frames 100

``examples/face.png`` is placed (scaled to 0.9 of the height: the landmark box ~40 % of it) on a grey canvas of each
size; its dlib landmarks, opened and closed by a sine (a jaw drop of 12 % of the face height), are the
requested frames. Per size, the native renderer's time per frame without and with the shading, and
the shading alone (:class:`talkface.render.shading.LowerFaceShading` on the rendered frames), in the
same process, one thread, interleaved frame by frame (so the ratio is what counts on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from talkface.face.landmarks import landmarks_for_image
from talkface.render.compose import NativeRenderer, RenderConfig
from talkface.render.shading import LowerFaceShading

ROOT = Path(__file__).resolve().parents[1]


def _photo(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The example face on a grey canvas: (photo, its (68, 2) landmarks)."""
    face = cv2.cvtColor(cv2.imread(str(ROOT / "examples" / "face.png")), cv2.COLOR_BGR2RGB)
    s = 0.9 * height / face.shape[0]
    face = cv2.resize(face, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)
    canvas = np.full((height, width, 3), 128, np.uint8)
    h, w = min(face.shape[0], height), min(face.shape[1], width)
    y0, x0 = (height - h) // 2, (width - w) // 2
    canvas[y0 : y0 + h, x0 : x0 + w] = face[:h, :w]
    return canvas, landmarks_for_image(canvas, "photo").astype(np.float64)


def _track(lm: np.ndarray, n: int) -> np.ndarray:
    """``n`` frames of the photo's landmarks with the jaw and lower lip dropping and rising."""
    drop = 0.12 * float(lm[8, 1] - lm[27, 1]) * 0.5 * (1 - np.cos(np.linspace(0, 6 * np.pi, n)))
    out = np.repeat(lm[None], n, 0)
    lower = [*range(5, 12), *range(55, 60), 65, 66, 67]
    out[:, lower, 1] += drop[:, None]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["1280x720", "1920x1080"])
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--weights", default=None, help="shading weights (default: the bundled ones)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for size in args.sizes:
        w, h = (int(v) for v in size.split("x"))
        photo, lm = _photo(w, h)
        track = _track(lm, args.frames)
        plain = NativeRenderer(photo, lm, track, RenderConfig())
        shaded = NativeRenderer(photo, lm, track, RenderConfig(shading=1.0))
        if args.weights is not None:
            shaded._shading = LowerFaceShading(lm, 1.0, path=args.weights)
        alone = LowerFaceShading(lm, 1.0, net=shaded._shading.net if shaded._shading is not None else None)
        for t in track[:3]:  # warm-up
            plain(t), shaded(t)
        times = {"native": 0.0, "native+shading": 0.0, "shading": 0.0}
        clock = time.perf_counter
        for _ in range(args.rounds):
            for t in track:  # interleaved frame by frame: load swings hit all three alike
                t0 = clock()
                frame = plain(t)
                t1 = clock()
                shaded(t)
                t2 = clock()
                alone(frame, t)
                t3 = clock()
                times["native"] += t1 - t0
                times["native+shading"] += t2 - t1
                times["shading"] += t3 - t2
        ms = {k: round(1000 * v / (args.rounds * args.frames), 2) for k, v in times.items()}
        print(json.dumps({"size": size, "ms_per_frame": ms,
                          "ratio": round(ms["native+shading"] / ms["native"], 3),
                          "load_average": [round(x, 2) for x in os.getloadavg()]}), flush=True)


if __name__ == "__main__":
    main()
