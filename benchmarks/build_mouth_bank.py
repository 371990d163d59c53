"""Build the bank of real mouth interiors (``mouth="retrieved"``) from the GRID s1 training split.

    python3 benchmarks/build_mouth_bank.py --data /work/prepared/grid_s1_all \
        --videos /work/shared/data/grid_s1/video --out src/talkface/assets/mouth_bank.npz

Open-mouth frames (inner-lip gap >= ``--min-open`` of the outer mouth width, the face detected in the
frame and both neighbours) of the ``train`` clips of ``splits.json`` are clustered by inner-lip
shape (:func:`talkface.render.mouth_bank.shape_descriptor`, k-means, seeded); the frame nearest to
each cluster's centre becomes an entry, cut from the source video at its own resolution
(:func:`talkface.render.mouth_bank.normalise_mouth`). Reproducible: same data, same seed, same bank.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from talkface.io.atomic import atomic_path
from talkface.io.media import iter_video_frames
from talkface.render.mouth import MouthPalette
from talkface.render.mouth_bank import normalise_mouth, rgb_to_lab, shape_descriptor


def signed_opening(desc: np.ndarray) -> float:
    """Inner-lip opening (lower minus upper lip, mouth-width units) of a shape descriptor."""
    pts = np.asarray(desc).reshape(8, 2)
    return float(pts[[7, 6, 5], 1].mean() - pts[[1, 2, 3], 1].mean())


def kmeans(x: np.ndarray, k: int, seed: int, iters: int = 25) -> np.ndarray:
    """Cluster centres (k, D) of ``x`` (k-means++ start, Lloyd iterations), seeded."""
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        centres.append(x[rng.choice(len(x), p=d2 / d2.sum())])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = np.asarray(centres)
    for _ in range(iters):
        label = np.argmin(((x[:, None] - c[None]) ** 2).sum(-1), axis=1)
        for j in range(k):
            if (label == j).any():
                c[j] = x[label == j].mean(0)
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="prepared GRID s1 folder (splits.json, clips/)")
    ap.add_argument("--videos", type=Path, required=True, help="folder of the source videos (<utterance>.mp4)")
    ap.add_argument("--out", type=Path, required=True, help="bank .npz to write")
    ap.add_argument("--entries", type=int, default=300, help="bank size (k-means clusters)")
    ap.add_argument("--min-open", type=float, default=0.05, help="inner gap over outer mouth width, at least")
    ap.add_argument("--stride", type=int, default=2, help="use every n-th frame as a candidate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()
    train = json.loads((args.data / "splits.json").read_text())["train"]
    cands: list[tuple[str, int]] = []
    descs: list[np.ndarray] = []
    marks: dict[str, np.ndarray] = {}
    for clip in sorted(train):
        with np.load(args.data / "clips" / f"{clip}.npz") as z:
            lm, det = np.asarray(z["landmarks"], np.float64), np.asarray(z["detected"], bool)
        marks[clip] = lm
        for t in range(1, len(lm) - 1, args.stride):
            if not det[t - 1 : t + 2].all():
                continue
            desc = shape_descriptor(lm[t])
            if signed_opening(desc) < args.min_open:  # also drops tracks whose inner lips crossed
                continue
            cands.append((clip, t))
            descs.append(desc)
    x = np.asarray(descs, np.float64)
    print(f"{len(cands)} open frames of {len(train)} train clips", flush=True)
    centres = kmeans(x, args.entries, args.seed)
    picks = sorted({int(np.argmin(((x - c) ** 2).sum(1))) for c in centres})
    by_clip: dict[str, list[int]] = {}
    for i in picks:
        by_clip.setdefault(cands[i][0], []).append(cands[i][1])
    patches, points, descriptors, lips, skins, teeth, ids = [], [], [], [], [], [], []
    for clip, frames in sorted(by_clip.items()):
        wanted = set(frames)
        video = args.videos / f"{clip.split('/')[-1]}.mp4"
        for t, frame in enumerate(iter_video_frames(video)):
            if t in wanted:
                lm = marks[clip][t]
                patch, pts = normalise_mouth(frame, lm)
                pal = MouthPalette.from_photo(frame, lm)
                patches.append(patch)
                points.append(pts)
                descriptors.append(shape_descriptor(lm))
                lips.append(rgb_to_lab(pal.lip))
                skins.append(rgb_to_lab(pal.skin))
                teeth.append(rgb_to_lab(pal.teeth))
                ids.append(f"{clip}:{t}")
            if t >= max(wanted):
                break
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh, patches=np.asarray(patches, np.uint8), points=np.asarray(points, np.float32),
            descriptors=np.asarray(descriptors, np.float32), lip=np.asarray(lips, np.float32),
            skin=np.asarray(skins, np.float32), teeth=np.asarray(teeth, np.float32), ids=np.asarray(ids),
            seed=np.int64(args.seed), source=np.asarray("GRID s1 train split (CC BY 4.0)"))
    opens = np.array([signed_opening(d) for d in descriptors])
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {len(patches)} entries, "
          f"opening/width {np.percentile(opens, [0, 25, 50, 75, 100]).round(3).tolist()}, "
          f"{time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
