"""Preprocessing throughput: per-stage and end-to-end frames/s on real clips.

    python3 benchmarks/bench_preprocess.py tests/fixtures/*.mpg [--feature whisper-tiny.en]

Prints a Markdown table for BENCHMARKS.md. Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from talkface.audio.features import get_extractor
from talkface.data.preprocess import PreprocessConfig, preprocess
from talkface.face.align import align_to_canonical, crop_transforms, warp_crop
from talkface.face.landmarks import track_landmarks
from talkface.io.media import read_audio, read_video, write_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--feature", default="whisper-tiny.en")
    parser.add_argument("--crop-size", type=int, default=128)
    args = parser.parse_args()

    extractor = get_extractor(args.feature, threads=os.cpu_count() or 1) if args.feature.startswith(
        "whisper") else get_extractor(args.feature)
    stages = {"decode video+audio": 0.0, "track 68 landmarks": 0.0, "align + crop": 0.0,
              f"speech features ({args.feature})": 0.0, "write crop mp4": 0.0}
    frames_total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, video in enumerate(args.videos):
            t0 = time.perf_counter()
            frames, fps = read_video(video)
            audio = read_audio(video)
            t1 = time.perf_counter()
            track = track_landmarks(frames)
            t2 = time.perf_counter()
            aff = crop_transforms(track.landmarks, args.crop_size)
            crops = np.stack([warp_crop(f, a, args.crop_size) for f, a in zip(frames, aff, strict=True)])
            align_to_canonical(track.landmarks)
            t3 = time.perf_counter()
            extractor(audio, len(frames), fps)
            t4 = time.perf_counter()
            write_video(Path(tmp) / f"{i}.mp4", crops, fps)
            t5 = time.perf_counter()
            for key, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                stages[key] += dt
            frames_total += len(frames)
        t0 = time.perf_counter()
        config = PreprocessConfig(feature=args.feature, crop_size=args.crop_size)
        summary = preprocess(args.videos, Path(tmp) / "ds", config, workers=1, progress=False)
        end_to_end = time.perf_counter() - t0

    load = os.getloadavg()[0]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load avg {load:.1f}")
    print(f"clips: {len(args.videos)}, frames: {frames_total}, crop {args.crop_size}\n")
    print("| stage | seconds | frames/s |\n|---|---|---|")
    for key, sec in stages.items():
        print(f"| {key} | {sec:.2f} | {frames_total / sec:.0f} |")
    print(f"| **preprocess end to end (1 worker, incl. model loading)** | {end_to_end:.2f} | "
          f"{summary.frames / end_to_end:.1f} |")


if __name__ == "__main__":
    main()
