"""Sync distances at the clip's true alignment vs LSE-D's minimum over offsets: real, still, e2e.

LSE-D is the smallest mean distance over the offsets -15..+15 frames, so a method that is not in sync
at all is still scored at *some* offset. This script shows where each method's minimum lies and its
distance at offset 0 (GRID clips are recorded in sync, so 0 is the true alignment), scored exactly as
``talkface evaluate`` does (dlib track of the frames, mouth crops, the bundled sync model). Written for
issue 19: the still's LSE-D is its closed mouth matched against the silence that the +15 edge offset
brings in, not sync (docs/e2e.md)::

    python3 benchmarks/sync_offset_check.py /work/prepared/grid7 --exclude bbaf2n/bbaf2n
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from talkface.eval.report.config import EvalConfig
from talkface.eval.report.inputs import samples_from_dataset
from talkface.eval.report.scoring import Scorers, track
from talkface.eval.sync import mouth_crops

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_table import E2EMethod  # noqa: E402


def main() -> None:
    """Print per clip and method: best offset, LSE-D (minimum), distance at offset 0, LSE-C; then means."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", help="prepared dataset (talkface preprocess) with crop videos")
    ap.add_argument("--split", default="all")
    ap.add_argument("--exclude", nargs="*", default=[], help="clip ids to leave out")
    ap.add_argument("--e2e", default=None, help="e2e generator (default: the bundled one)")
    args = ap.parse_args()
    scorers = Scorers(EvalConfig())
    e2e = E2EMethod(args.e2e)
    table: dict[str, list[tuple[float, float, float, float]]] = {}
    for sample in samples_from_dataset(args.dataset, args.split, still="neutral"):
        if sample.clip_id in args.exclude:
            continue
        n = len(sample.frames)
        methods = {"real": sample.frames, "still": np.repeat(sample.still[None], n, 0),
                   "e2e": e2e(sample.still, sample.audio)[:n]}
        for name, frames in methods.items():
            landmarks = track(frames, sample.fps, scorers)
            if landmarks is None:
                print(f"{sample.clip_id} {name}: no face found")
                continue
            r = scorers.sync.score(mouth_crops(frames, landmarks), sample.audio, 16000, sample.fps)
            d0 = float(r.distances[int(np.flatnonzero(r.offsets == 0)[0])])
            table.setdefault(name, []).append((r.offset, r.lse_d, d0, r.lse_c))
            print(f"{sample.clip_id:32s} {name:5s} best offset {r.offset:+3d}  LSE-D {r.lse_d:.3f}  "
                  f"distance at 0 {d0:.3f}  LSE-C {r.lse_c:.3f}")
    for name, rows in table.items():
        a = np.array(rows)
        print(f"mean {name:5s} |offset| {np.abs(a[:, 0]).mean():.2f}  LSE-D {a[:, 1].mean():.3f}  "
              f"distance at 0 {a[:, 2].mean():.3f}  LSE-C {a[:, 3].mean():.3f}  ({len(a)} clips)")


if __name__ == "__main__":
    main()
