"""Build ``src/talkface/assets/canonical_face_68.npy``: the canonical mean neutral face.

Neutral shapes (mouth closed, eyes open, frontal) are taken from real clips:

* the start of every GRID clip in ``grid/*.mpg`` (GRID clips start in silence): the most
  neutral of the first 10 frames, because some speakers rest with parted lips at frame 0;
* the first frame of ~200 GRID speaker-1 clips (``grid_s1/video/*.mp4``, every 5th);
* for each ``wild/*.mp4`` clip, the most neutral of its first ~150 frames (every 3rd): the
  smallest inner-lip opening, most symmetric (frontal) pose, eyes open.

Shapes that are still not neutral (inner-lip opening > 0.1 inter-ocular distances, or a yaw
asymmetry > 0.15, i.e. the head turned by more than ~15 degrees) are left out.

The speaker-1 shapes are averaged first (generalised Procrustes analysis) and count once, like
every other clip, so the result is a mean over people rather than speaker 1's face. The mean
is left-right symmetrised (averaged with its mirror image) and saved in the normalised space of
:func:`talkface.face.align.normalize_shape` (centroid 0, eyes horizontal, unit inter-ocular
distance, y down), float32 (68, 2).

Usage: ``python scripts/make_canonical_face.py [--data /work/shared/data] [--out PATH]``
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import av
import numpy as np

from talkface.face.align import MIRROR_68, mean_face, normalize_shape
from talkface.face.detect import FaceDetector
from talkface.face.eyes import eye_aspect_ratio
from talkface.face.landmarks import LandmarkDetector
from talkface.io.atomic import atomic_path

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "talkface" / "assets" / "canonical_face_68.npy"


def read_frames(path: Path, max_frames: int, step: int = 1) -> list[np.ndarray]:
    """Decode up to ``max_frames`` frames (every ``step``-th) as (H, W, 3) uint8 RGB."""
    out: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= max_frames:
                break
            if i % step == 0:
                out.append(frame.to_ndarray(format="rgb24"))
    return out


def mouth_opening(lm: np.ndarray) -> float:
    """Inner-lip opening (mean of 61-67, 62-66, 63-65 gaps) over the inter-ocular distance."""
    gap = np.linalg.norm(lm[[61, 62, 63]] - lm[[67, 66, 65]], axis=1).mean()
    iod = np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0))
    return float(gap / iod)


def yaw_asymmetry(lm: np.ndarray) -> float:
    """|left - right| / (left + right) of the nose-tip-to-jaw-side distances (0 = frontal)."""
    a = np.linalg.norm(lm[30] - lm[0])
    b = np.linalg.norm(lm[30] - lm[16])
    return float(abs(a - b) / (a + b))


def shapes_of(frames: list[np.ndarray], det: FaceDetector, pred: LandmarkDetector) -> list[np.ndarray]:
    """Landmarks of the largest face in each frame (frames without a face are skipped)."""
    out = []
    for f in frames:
        boxes = det.detect(f)
        if boxes:
            out.append(pred(f, boxes[0]))
    return out


def most_neutral(shapes: list[np.ndarray]) -> np.ndarray:
    """The shape with the smallest mouth opening + pose asymmetry among eyes-open ones."""
    ear = eye_aspect_ratio(np.stack(shapes))
    open_eyes = ear >= 0.85 * np.median(ear)
    cost = np.array([mouth_opening(s) + 2.0 * yaw_asymmetry(s) for s in shapes])
    cost[~open_eyes] = np.inf
    return shapes[int(np.argmin(cost))]


MAX_MOUTH = 0.1
MAX_YAW = 0.15


def is_neutral(lm: np.ndarray) -> bool:
    """Mouth closed and roughly frontal."""
    return mouth_opening(lm) <= MAX_MOUTH and yaw_asymmetry(lm) <= MAX_YAW


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--s1-every", type=int, default=5, help="use every n-th grid_s1 clip")
    args = ap.parse_args(argv)

    det = FaceDetector()
    pred = LandmarkDetector()
    groups: dict[str, np.ndarray] = {}

    for p in sorted((args.data / "grid").glob("*.mpg")):
        got = shapes_of(read_frames(p, 10), det, pred)
        if got and is_neutral(best := most_neutral(got)):
            groups[p.name] = best
        else:
            print(f"  {p.name}: no neutral frame, skipped", file=sys.stderr)
    print(f"grid: {len(groups)} shapes", file=sys.stderr)

    s1 = sorted((args.data / "grid_s1" / "video").glob("*.mp4"))[:: args.s1_every]
    s1_shapes = [s for p in s1 for s in shapes_of(read_frames(p, 1), det, pred) if is_neutral(s)]
    print(f"grid_s1: {len(s1_shapes)} shapes from {len(s1)} clips", file=sys.stderr)
    if s1_shapes:
        groups["grid_s1 (mean)"] = mean_face(np.stack(s1_shapes))

    n_wild = 0
    for p in sorted((args.data / "wild").glob("*.mp4")):
        got = shapes_of(read_frames(p, 150, step=3), det, pred)
        if len(got) >= 3 and is_neutral(best := most_neutral(got)):
            groups[p.name] = best
            n_wild += 1
        else:
            print(f"  {p.name}: no neutral frontal frame, skipped", file=sys.stderr)
    print(f"wild: {n_wild} shapes", file=sys.stderr)

    names = list(groups)
    shapes = np.stack([groups[n] for n in names])
    mean = mean_face(shapes)
    mirrored = mean.copy()
    mirrored[:, 0] *= -1.0
    mirrored = mirrored[list(MIRROR_68)]
    canonical = normalize_shape(mean_face(np.stack([mean, mirrored]))).astype(np.float32)

    for n, s in zip(names, shapes, strict=True):
        print(f"  {n:40s} mouth {mouth_opening(s):.3f} yaw {yaw_asymmetry(s):.3f}", file=sys.stderr)
    print(
        f"canonical from {len(names)} shapes: mouth {mouth_opening(canonical):.3f}, "
        f"EAR {float(eye_aspect_ratio(canonical)):.3f}, jaw width {np.ptp(canonical[:17, 0]):.3f}, "
        f"height {np.ptp(canonical[:, 1]):.3f} (inter-ocular units)",
        file=sys.stderr,
    )
    with atomic_path(args.out) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, canonical)
        os.chmod(tmp, 0o644)  # package data: readable by all
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
