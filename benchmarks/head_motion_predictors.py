"""What in the speech predicts how much a speaker moves the head? (docs/motion.md, issue 15)

For every clip of the prepared folders: the real head-pose std per axis
(:func:`talkface.motion.head.estimate_pose` on the clip's landmarks), the std of the head prior at
``head_motion = 1`` with the speech coupling switched off (driven by the clip's own speech,
applied to its neutral frame, measured by the same estimator over the same length, mean of
``--seeds`` seeds), and candidate speech statistics (:func:`talkface.motion.head.speech_statistics`:
pitch range and variability, loudness dynamics, speaking rate, pauses). The target is the log of
real / prior std, averaged over the six axes (``log_ratio``: how much the prior over- or
under-shoots this speaker; 0 = the prior fits). The script prints the Pearson and Spearman
correlations of every statistic with that target over all clips and within each folder, the
least-squares line of the chosen statistic, and the leave-one-folder-out check.

    python3 benchmarks/head_motion_predictors.py /work/prepared/wild /work/prepared/grid7 \
        /work/prepared/grid_s1_all:test:40 [--seeds 3] [--csv out.csv]

A folder may carry ``:split`` (a split of ``splits.json``) and ``:N`` (the first N clips of it).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

from talkface.data.dataset import load_clip
from talkface.motion.head import (
    AXES,
    HeadMotionConfig,
    apply_head_motion,
    estimate_pose,
    generate_head_motion,
    speech_statistics,
)


def clip_paths(spec: str) -> list[Path]:
    parts = spec.split(":")
    root = Path(parts[0])
    split = parts[1] if len(parts) > 1 and parts[1] else None
    limit = int(parts[2]) if len(parts) > 2 else None
    if split:
        ids = json.loads((root / "splits.json").read_text())[split]
        paths = [root / "clips" / f"{cid}.npz" for cid in ids]
    else:
        paths = sorted((root / "clips").rglob("*.npz"))
    return paths[:limit] if limit else paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=["bbaf2n/bbaf2n"], help="clip ids to leave out")
    ap.add_argument("--csv", default=None)
    args = ap.parse_args()
    flat = HeadMotionConfig(calm_std=None)  # the uncoupled prior: what the gain has to correct
    rows: list[dict[str, float | str]] = []
    for spec in args.data:
        group = Path(spec.split(":")[0]).name
        for path in clip_paths(spec):
            clip = load_clip(path)
            if clip.clip_id in args.skip:
                continue
            fps = clip.fps
            real = estimate_pose(clip.landmarks)
            real_std = (real - real.mean(0)).std(0)
            still = np.repeat(clip.neutral[None], clip.num_frames, 0)
            gens = []
            for seed in range(args.seeds):
                motion = generate_head_motion(clip.audio, clip.num_frames, fps, seed=seed, config=flat)
                moved = apply_head_motion(still, clip.neutral, clip.canonical[clip.neutral_index], motion)
                gens.append(estimate_pose(moved).std(0))
            gen_std = np.mean(gens, axis=0)
            row: dict[str, float | str] = {"clip": clip.clip_id, "set": group, "seconds": clip.num_frames / fps}
            for k, name in enumerate(AXES):
                row[f"real_{name}"] = float(real_std[k])
                row[f"prior_{name}"] = float(gen_std[k])
            row["log_ratio"] = float(np.mean(np.log(np.maximum(real_std, 1e-6) / np.maximum(gen_std, 1e-6))))
            row.update(speech_statistics(clip.audio, clip.sample_rate))
            rows.append(row)
            print(f"{clip.clip_id:45s} {row['seconds']:5.1f}s log_ratio {row['log_ratio']:+.2f} "
                  + " ".join(f"{k}={v:.3g}" for k, v in row.items() if k in STAT_KEYS), flush=True)
    report(rows)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


STAT_KEYS = ("f0_range_st", "f0_std_st", "f0_delta_st", "loud_std_db", "loud_delta_db", "syll_rate",
             "pause_share", "voiced_share", "seconds")


def report(rows: list[dict[str, float | str]]) -> None:
    groups = sorted({str(r["set"]) for r in rows})
    y_all = np.array([float(r["log_ratio"]) for r in rows])
    print(f"\ncorrelation with log(real/prior head-pose std), Pearson / Spearman; n = {len(rows)}")
    print(f"{'statistic':14s} {'all':>13s} " + " ".join(f"{g:>13s}" for g in groups))
    for key in STAT_KEYS:
        x_all = np.array([float(r[key]) for r in rows])
        cells = [_corr(x_all, y_all)]
        for g in groups:
            sel = np.array([r["set"] == g for r in rows])
            cells.append(_corr(x_all[sel], y_all[sel]))
        print(f"{key:14s} " + " ".join(cells))
    for g in groups:
        sel = [r for r in rows if r["set"] == g]
        print(f"{g}: {len(sel)} clips; median log_ratio {np.median([float(r['log_ratio']) for r in sel]):+.2f}; "
              + " ".join(f"{k} {np.median([float(r[k]) for r in sel]):.3g}" for k in STAT_KEYS))


def _corr(x: np.ndarray, y: np.ndarray) -> str:
    if len(x) < 4 or np.std(x) < 1e-12:
        return f"{'-':>13s}"
    return f"{pearsonr(x, y)[0]:+.2f} / {spearmanr(x, y)[0]:+.2f}"


if __name__ == "__main__":
    main()
