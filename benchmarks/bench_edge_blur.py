"""Cost and readings of the per-photo sharpness estimate of the painted teeth (``render/mouth.py``, issue 14).

    python3 benchmarks/bench_edge_blur.py --scales 1 2 4 --blurs 0 2 --repeats 200

``examples/face.png`` (its dlib landmarks) is resized by each scale (bicubic, as an upscaled photo) and
optionally Gaussian-blurred (a soft webcam frame). Per photo: the mouth's inner width in pixels,
:func:`talkface.render.mouth.edge_blur` (the edges' width, pixels), :func:`talkface.render.mouth.blur_scale`
(photo pixels per sharp pixel), and the time of ``edge_blur`` and of the whole
:meth:`talkface.render.mouth.MouthPalette.from_photo` (which calls it once per photo) in the same process.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from talkface.face.landmarks import landmarks_for_image
from talkface.render.mouth import MouthPalette, blur_scale, edge_blur


def _ms(fn: Callable[[], object], repeats: int) -> float:
    """Mean milliseconds of ``repeats`` calls of ``fn``."""
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    """Print one table row per (scale, blur) photo."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photo", type=Path, default=Path(__file__).resolve().parents[1] / "examples" / "face.png")
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    p.add_argument("--blurs", type=float, nargs="+", default=[0.0, 2.0], help="Gaussian sigmas (pixels, after scaling)")
    p.add_argument("--repeats", type=int, default=200)
    args = p.parse_args()
    cv2.setNumThreads(1)
    photo = np.asarray(Image.open(args.photo).convert("RGB"))
    lm = landmarks_for_image(photo, str(args.photo)).astype(np.float64)
    print("| scale | blur σ | inner mouth px | edge_blur px | blur_scale | edge_blur ms | from_photo ms |")
    print("|---|---|---|---|---|---|---|")
    for scale in args.scales:
        h, w = photo.shape[:2]
        big = cv2.resize(photo, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
        points = lm * scale
        for sigma in args.blurs:
            img = cv2.GaussianBlur(big, (0, 0), sigma) if sigma > 0 else big
            blur = edge_blur(img, points)
            t_blur = _ms(lambda: edge_blur(img, points), args.repeats)  # noqa: B023
            t_pal = _ms(lambda: MouthPalette.from_photo(img, points), max(1, args.repeats // 10))  # noqa: B023
            inner = float(np.linalg.norm(points[64] - points[60]))
            print(f"| {scale:g} | {sigma:g} | {inner:.0f} | {blur:.2f} | {blur_scale(blur):.2f} | {t_blur:.2f} | "
                  f"{t_pal:.1f} |")


if __name__ == "__main__":
    main()
