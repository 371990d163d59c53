"""Would precomputed coordinate maps speed up the warp's displacement upsampling? (issue 14 follow-up)

Usage::

    python3 benchmarks/bench_upsample_maps.py --repeats 5

``FaceWarp._photo_map`` upsamples the coarse displacement (one node every ``step`` pixels) with
``cv2.warpAffine(..., INTER_LINEAR, BORDER_REPLICATE)`` every frame; the affine is the same every frame. This
script (1) checks on random fields, steps and output sizes that ``cv2.remap`` with OpenCV's own fixed-point maps
for that affine (computed once, as ``warpAffine`` computes them: coordinates in 1/1024 rounded to the nearest,
plus half a 1/32 step, then split into integer pixel and 1/32 fraction) gives the same bits, and (2) times both,
alternating, one thread, ``time.thread_time``, at the 1920x1080 example photo's map size (734x801 pixels, step 17,
44x48 nodes). Measured 2026-12-02 (OpenCV 5.0.0): bit-identical on all 300 fields, and no faster — the
bilinear interpolation, not the coordinate arithmetic, is what the call costs (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

#: OpenCV's warpAffine fixed point: coordinates in 1/2**AB_BITS, sampled at 1/2**INTER_BITS
AB_BITS, INTER_BITS = 10, 5


def fixed_maps(step: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps (CV_16SC2 pixels, CV_16UC1 fractions) of ``warpAffine`` with ``[[step,0,0],[0,step,0]]``."""
    inv = 1.0 / step
    half = 1 << (AB_BITS - INTER_BITS - 1)  # warpAffine's round_delta for bilinear
    x = (half + np.rint(inv * np.arange(width) * (1 << AB_BITS)).astype(np.int64)) >> (AB_BITS - INTER_BITS)
    y = (half + np.rint(inv * np.arange(height) * (1 << AB_BITS)).astype(np.int64)) >> (AB_BITS - INTER_BITS)
    pixels = np.empty((height, width, 2), np.int16)
    pixels[:, :, 0] = (x >> INTER_BITS)[None, :]
    pixels[:, :, 1] = (y >> INTER_BITS)[:, None]
    mask = (1 << INTER_BITS) - 1
    fractions = (((y & mask)[:, None] << INTER_BITS) + (x & mask)[None, :]).astype(np.uint16)
    return pixels, fractions


def by_affine(sub: np.ndarray, step: int, width: int, height: int) -> np.ndarray:
    affine = np.array([[step, 0.0, 0.0], [0.0, step, 0.0]])
    return np.asarray(cv2.warpAffine(sub, affine, (width, height), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE))


def by_maps(sub: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return np.asarray(cv2.remap(sub, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fields", type=int, default=300, help="random fields checked for identity")
    p.add_argument("--repeats", type=int, default=5, help="alternating timing rounds (20 calls each)")
    args = p.parse_args()
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    differ = 0
    for _ in range(args.fields):
        step = int(rng.integers(4, 30))
        gh, gw = int(rng.integers(2, 60)), int(rng.integers(2, 60))
        sub = (rng.standard_normal((gh, gw, 2)) * rng.uniform(0.01, 50)).astype(np.float32)
        w = max(1, (gw - 1) * step + 1 - int(rng.integers(0, step)))
        h = max(1, (gh - 1) * step + 1 - int(rng.integers(0, step)))
        same = np.array_equal(by_affine(sub, step, w, h).view(np.uint32),
                              by_maps(sub, fixed_maps(step, w, h)).view(np.uint32))
        differ += not same
    print(f"identity: {args.fields - differ}/{args.fields} fields bit-identical")
    step, w, h = 17, 734, 801
    sub = rng.standard_normal((48, 44, 2)).astype(np.float32)
    maps = fixed_maps(step, w, h)
    times: dict[str, list[float]] = {"warpAffine": [], "remap, maps made once": []}
    for _ in range(args.repeats):
        for name, call in (("warpAffine", lambda: by_affine(sub, step, w, h)),
                           ("remap, maps made once", lambda: by_maps(sub, maps))):
            t = time.thread_time()
            for _ in range(20):
                call()
            times[name].append(1000 * (time.thread_time() - t) / 20)
    for name, ms in times.items():
        print(f"{name}: {' / '.join(f'{v:.2f}' for v in ms)} CPU ms per {w}x{h} map (median {np.median(ms):.2f})")


if __name__ == "__main__":
    main()
