"""What the blink and pose columns add to ``talkface evaluate``'s rendering scores, per clip.

On each clip of a prepared dataset (its 128² crops, landmarks tracked by dlib), times
:func:`talkface.eval.render_metrics.render_scores` for the real row (its own blinks, as
``talkface evaluate`` scores ground truth; no LPIPS) and, inside it, the new columns: ``lmd_pose`` +
``blink_ear`` / ``blink_closed`` (landmark arithmetic) and ``blink_vis`` (pixels around the eyes).
Prints the real clip's blink readings and the still photo repeated's (which should read 1)::

    nice -n 10 python3 benchmarks/bench_render_scores.py /work/prepared/grid7 --clips brbk7n pwij3p
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from talkface.eval.render_metrics import (
    blink_apex_ratio,
    blink_visible_share,
    pose_aligned_lmd,
    real_reference,
    render_scores,
)
from talkface.face.landmarks import track_landmarks
from talkface.io.media import read_video


def one_clip(mp4: Path) -> str:
    """Times and readings of one clip.

    Args:
        mp4: the clip's crops.

    Returns:
        One printable line.
    """
    frames, fps = read_video(mp4)
    lm = track_landmarks(frames, fps=fps).landmarks.astype(np.float64)
    ref = real_reference(frames, lm, 5)
    t0 = time.perf_counter()
    real = render_scores(frames, lm, frames, lm, 0, lm, reference=ref, blinks=lm, closed_below=None)
    t1 = time.perf_counter()
    pose_aligned_lmd(lm, lm)
    blink_apex_ratio(lm, lm)
    blink_apex_ratio(lm, lm, closed_below=None)
    t2 = time.perf_counter()
    blink_visible_share(frames, lm, frames[0], lm[0], lm, closed_below=None)
    t3 = time.perf_counter()
    still = render_scores(np.repeat(frames[:1], len(frames), 0), np.repeat(lm[:1], len(lm), 0), frames, lm, 0, lm,
                          reference=ref, blinks=lm, closed_below=None)
    keys = ("blink_ear", "blink_vis")
    return (f"{mp4.stem}: {len(frames)} frames {frames.shape[2]}x{frames.shape[1]}; render_scores {t1 - t0:.3f} s, "
            f"of it lmd_pose+EAR {t2 - t1:.3f} s, blink_vis {t3 - t2:.3f} s; real "
            f"{ {k: round(real[k], 3) for k in keys} } still { {k: round(still[k], 3) for k in keys} }")


def main() -> None:
    """Parse the arguments and print one line per clip."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", type=Path, help="a prepared dataset (talkface preprocess)")
    parser.add_argument("--clips", nargs="*", default=None, help="clip names (default: all)")
    args = parser.parse_args()
    for mp4 in sorted(args.dataset.glob("clips/*/*.mp4")):
        if args.clips is None or mp4.stem in args.clips:
            print(one_clip(mp4), flush=True)


if __name__ == "__main__":
    main()
