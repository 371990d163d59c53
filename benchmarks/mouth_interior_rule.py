"""The reference of the adaptive mouth-interior levels: the training corpus's eye contrast and real interiors.

:func:`talkface.render.mouth.interior_levels` scales the painted interior's luminance ratios by a
photo's eye contrast (:func:`talkface.render.mouth.eye_contrast`) over the training corpus's
(``REF_EYE_CONTRAST``). This script measures that reference on a prepared corpus (the GRID s1 train
split): for every ``--every``-th clip, the first frame of the source video is the photo (as
``talkface animate`` would get it) with the clip's first tracked landmarks. It prints per clip and as
medians: the eye contrast, the palette's teeth-over-lip luminance, and the real interior's grey
statistics over the lips' (``benchmarks/mouth_interior_sweep.py``'s ``interior_stats``: mean, std,
10th / 90th percentile inside the inner lips on frames open by >= 0.12 of the mouth width).

The reference levels ``REF_CAVITY_LEVEL`` / ``REF_TEETH_GAIN`` are then chosen so the painted interior's
statistics match the real ones on GRID s1 train clips: ``mouth_interior_sweep.py --stats-only --saved
S1/save --settings adaptive:C,T ...`` on a ``render_quality.py --variants native:oracle --save`` run of
train clips.

Usage::

    python3 benchmarks/mouth_interior_rule.py --data /work/prepared/grid_s1_all --split train --every 20
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np


def _first_frames(source: Path, n: int) -> np.ndarray:
    """The first ``n`` RGB frames of a video (OpenCV)."""
    cap = cv2.VideoCapture(str(source))
    frames = []
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return np.stack(frames) if frames else np.zeros((0, 1, 1, 3), np.uint8)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="prepared dataset folder")
    p.add_argument("--split", default="", help="a split of splits.json (e.g. train); empty: all clips")
    p.add_argument("--every", type=int, default=20, help="every N-th clip of the (split's) manifest")
    p.add_argument("--frames", type=int, default=100, help="frames read per clip for the interior statistics")
    args = p.parse_args()

    sys.path.insert(0, str(Path(__file__).parent))
    from mouth_interior_sweep import interior_stats  # lazy: a sibling benchmark script

    from talkface.render.mouth import MouthPalette, eye_contrast

    rows = [json.loads(line) for f in sorted(args.data.glob("manifest*.jsonl")) for line in f.open() if line.strip()]
    rows = list({r["id"]: r for r in rows if r.get("status") == "ok"}.values())
    if args.split:
        keep = set(json.loads((args.data / "splits.json").read_text())[args.split])
        rows = [r for r in rows if r["id"] in keep]
    rows = sorted(rows, key=lambda r: r["id"])[:: args.every]
    luma = np.array([0.299, 0.587, 0.114])
    out = []
    print("| clip | eye_contrast | teeth/lip | in_mean | in_std | in_p10 | in_p90 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        lm = np.load(args.data / "clips" / f"{r['id']}.npz")["landmarks"].astype(np.float64)
        frames = _first_frames(Path(r["source"]), min(len(lm), args.frames))
        if len(frames) == 0 or float(frames[0].std()) < 2.0:  # a blank first frame (a few GRID videos)
            continue
        lm = lm[: len(frames)]
        contrast = eye_contrast(frames[0], lm[0])
        pal = MouthPalette.from_photo(frames[0], lm[0], adaptive=False)
        stats = interior_stats(frames, lm)
        vals = [math.nan if contrast is None else contrast, float(pal.teeth @ luma / (pal.lip @ luma)), *stats]
        out.append(vals)
        print(f"| {r['id']} | " + " | ".join(f"{x:.3f}" for x in vals) + " |", flush=True)
    med = np.nanmedian(np.asarray(out), 0)
    print(f"| **median of {len(out)}** | " + " | ".join(f"**{x:.3f}**" for x in med) + " |")


if __name__ == "__main__":
    main()
