"""Blink timing: real blink profiles from prepared clips, and the generated blinks' timing (docs/motion.md).

``--mode real``: every blink of the prepared clips' dlib eye aspect ratio (``ear`` in each clip file,
:func:`talkface.motion.blink_shape.blink_profiles`) as a fraction of its depth around its apex; per
dataset the median profile, the mean time under half depth (:func:`talkface.face.eyes.detect_blinks`'s
extent) and the frames from the profile's last value under 0.1 before the apex to the apex (closing)
and from the apex to its first value under 0.1 after it (opening). The mean of the datasets' median
profiles is :data:`talkface.motion.blink_shape.PROFILE`.

``--mode generated``: the bundled blink model at ``--rate`` blinks/s, ``--sequences`` sequences of
``--seconds`` s, raw (``shaped=False``) and shaped: rate and time under half depth as the evaluation
counts them (:func:`talkface.eval.motion_metrics.blink_statistics` on the canonical faces), frames
fully shut per blink (lid closure 1, :func:`talkface.motion.lids.blink_closure`, in each blink's run
of closure > 0) and the median profile; ``--calibrate`` also re-measures the model's rate calibration
with shaping, ``--store`` writes it into a checkpoint (the weights are not touched).

Usage::

    python3 benchmarks/blink_timing.py --mode real --data /work/prepared/grid_s1_subset /work/prepared/wild
    python3 benchmarks/blink_timing.py --mode generated --sequences 100 --seconds 20 --calibrate \\
        --store src/talkface/assets/default_model/blink.pt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

BEFORE, AFTER = 5, 12
FPS = 25.0  # the profile's frame rate (talkface.motion.blink_shape.PROFILE_FPS)


def fmt(profile: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in profile) + "]"


def edges(profile: np.ndarray, below: float = 0.1) -> tuple[int, int]:
    """(closing frames, opening frames) of a profile with its apex at index BEFORE."""
    pre = np.flatnonzero(profile[:BEFORE] < below)
    post = np.flatnonzero(profile[BEFORE + 1:] < below)
    return BEFORE - (int(pre[-1]) if len(pre) else 0), (int(post[0]) + 1) if len(post) else AFTER


def real(folders: list[Path]) -> None:
    from talkface.face.eyes import detect_blinks
    from talkface.motion.blink_shape import blink_profiles

    medians = []
    for folder in folders:
        rows, durations, seconds = [], [], 0.0
        for path in sorted(folder.glob("clips/**/*.npz")):
            with np.load(path) as clip:
                ear, fps = clip["ear"].astype(np.float64), float(clip["fps"])
            if not np.isfinite(ear).mean() > 0.9:
                continue
            k = int(np.ceil(fps / FPS))  # native frames per 25-fps frame, rounded up
            profiles, _ = blink_profiles(ear, fps, BEFORE * k, AFTER * k)
            native = np.arange(-BEFORE * k, AFTER * k + 1) / fps
            grid = np.arange(-BEFORE, AFTER + 1) / FPS  # the profile at 25 fps offsets (linear in time)
            rows += [np.interp(grid, native, row) for row in profiles]
            durations += [(e - s) / fps for s, e in detect_blinks(ear, fps)]
            seconds += len(ear) / fps
        prof = np.nanmedian(np.asarray(rows), axis=0)
        medians.append(prof)
        print(json.dumps({"data": str(folder), "blinks": len(rows), "seconds": round(seconds, 1),
                          "rate": round(len(durations) / max(seconds, 1e-9), 3),
                          "half_depth_s": round(float(np.mean(durations)), 4),
                          "close_open_frames": edges(prof), "median_profile": fmt(prof)}))
    mean = np.mean(medians, axis=0)
    print(json.dumps({"mean_of_medians": fmt(mean), "close_open_frames": edges(mean)}))


def generated(sequences: int, seconds: float, rate: float, seed: int, calibrate: bool, store: Path | None) -> None:
    import torch

    from talkface.bundle import load_bundle
    from talkface.eval.motion_metrics import blink_statistics
    from talkface.face.eyes import bool_runs, eye_aspect_ratio
    from talkface.motion.blink_shape import blink_profiles
    from talkface.motion.lids import blink_closure, open_eye_level

    torch.set_num_threads(1)
    blink = load_bundle().blink
    fps = float(blink.config.fps)
    level = open_eye_level(blink)
    n = int(round(seconds * fps))
    for shaped in (False, True):
        faces = blink.generate(n, sequences, seed=seed, blink_rate=rate, shaped=shaped)
        stats = blink_statistics(faces, fps)
        shut, rows = [], []
        for f in faces:
            closure = blink_closure(f, level).mean(1)
            shut += [int((closure[s:e] >= 0.999).sum()) for s, e in bool_runs(closure > 0)
                     if closure[s:e].max() >= 0.999]
            rows += list(blink_profiles(eye_aspect_ratio(f), fps, BEFORE, AFTER)[0])
        prof = np.nanmedian(np.asarray(rows), axis=0)
        print(json.dumps({"shaped": shaped, "requested_rate": rate, "rate": round(stats.rate, 3),
                          "half_depth_s": round(stats.duration, 4), "blinks": len(stats.durations),
                          "fully_shut_frames_mean": round(float(np.mean(shut)), 2),
                          "fully_shut_frames_median": float(np.median(shut)),
                          "close_open_frames": edges(prof), "median_profile": fmt(prof)}), flush=True)
    if calibrate:
        stored = blink.calibration_rates.numpy().copy()
        measured = blink.calibrate()
        print(json.dumps({"scales": list(blink.config.calibration_scales), "stored": stored.round(3).tolist(),
                          "shaped": measured.round(3).tolist()}))
        if store is not None:  # the calibration buffer only; every weight stays as it was
            from talkface.io.atomic import atomic_path

            ckpt = torch.load(store, map_location="cpu", weights_only=False)
            ckpt["state_dict"]["calibration_rates"] = torch.as_tensor(measured, dtype=torch.float32)
            with atomic_path(store) as tmp:
                torch.save(ckpt, tmp)
            print(f"stored the shaped calibration in {store}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("real", "generated"), required=True)
    p.add_argument("--data", nargs="+", type=Path, default=[], help="real: prepared dataset folders")
    p.add_argument("--sequences", type=int, default=100)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--rate", type=float, default=0.35, help="generated: requested blinks/s")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--calibrate", action="store_true", help="generated: re-measure the rate calibration, shaped")
    p.add_argument("--store", type=Path, default=None,
                   help="with --calibrate: write it into this blink checkpoint (e.g. the bundled blink.pt)")
    args = p.parse_args()
    if args.mode == "real":
        real(args.data)
    else:
        generated(args.sequences, args.seconds, args.rate, args.seed, args.calibrate, args.store)


if __name__ == "__main__":
    main()
