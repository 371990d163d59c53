"""CPU time per frame of the native renderer alone (no encoding) on HD photos, one thread (issue 14).

Usage::

    PYTHONPATH=/path/to/a/checkout/src python3 benchmarks/bench_render_frames.py --seconds 3 --json a.json

Run it under two checkouts' ``PYTHONPATH`` alternately to compare commits: on a loaded machine the wall
clock measures the other jobs, while this thread's CPU time (``time.thread_time``, OpenCV and torch on one
thread) per frame is what the renderer itself costs. The frames are those ``talkface animate`` makes for
``examples/face.png`` scaled to each size (``bench_animate.hd_photo``) and the example speech looped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_animate import hd_photo, looped_speech  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=3.0, help="speech length")
    p.add_argument("--hd", nargs="+", default=["1280x720", "1920x1080"], help="photo sizes, WxH")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()
    import tempfile

    import cv2
    import torch

    import talkface
    from talkface.photo_video import SAMPLE_RATE, prepare_photo, read_speech
    from talkface.pipeline import AnimateConfig, Animator

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    animator = Animator(AnimateConfig(max_side=0, threads=1))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        speech = read_speech(looped_speech(args.seconds, Path(tmp)), sample_rate=SAMPLE_RATE)
        for size in args.hd:
            width, height = (int(v) for v in size.split("x"))
            photo = prepare_photo(hd_photo(width, height, Path(tmp)), max_side=0)
            cfg = animator.config
            t = time.thread_time()
            _, frames = animator._frames(photo.image, photo.landmarks, speech, blink_rate=cfg.blink_rate,
                                         motion_scale=cfg.motion_scale, seed=cfg.seed, size=0, timer={},
                                         progress=None, head_motion=cfg.head_motion)
            motion = time.thread_time() - t
            t = time.thread_time()
            n = sum(1 for _ in frames)  # (a generator that makes frames in chunks: per-frame times mean nothing)
            render = time.thread_time() - t
            rows.append({"photo": size, "frames": n, "render_cpu_ms_per_frame": round(1000 * render / n, 2),
                         "motion_cpu_s": round(motion, 2)})
            print(rows[-1], flush=True)
    out = {"talkface": str(Path(talkface.__file__).parent), "load_average": os.getloadavg(), "rows": rows}
    print(json.dumps(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
