"""Head/brow motion statistics of real talking clips vs the head-motion prior (docs/motion.md).

For every clip of the prepared folders: head pose per frame from its landmarks
(:func:`talkface.motion.head.estimate_pose`), per-axis standard deviation over the clip, time
constant (autocorrelation half-life / 1.68, the critically damped filter's), correlation of
head-motion energy with speech energy, brow-height std; then the same for the prior
(:func:`talkface.motion.head.generate_head_motion` driven by the clip's own speech, applied to its
neutral frame and measured by the same estimator).

    python3 benchmarks/head_motion_stats.py /work/prepared/wild [/work/prepared/grid7] [--seeds 3] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from talkface.data.dataset import load_clip
from talkface.motion.head import (
    AXES,
    apply_head_motion,
    estimate_pose,
    generate_head_motion,
    motion_energy_correlation,
)

SCALE = np.array([1, 1, 1, 1, 1, 1.0])


def half_life(x: np.ndarray, fps: float) -> float:
    """Seconds until the autocorrelation of ``x`` (mean removed) first drops below 1/2."""
    x = x - x.mean()
    if x.std() < 1e-12:
        return float("nan")
    ac = np.correlate(x, x, "full")[len(x) - 1 :]
    ac = ac / ac[0]
    below = np.flatnonzero(ac < 0.5)
    return float(below[0] / fps) if len(below) else float("nan")


def brow_height(canonical: np.ndarray) -> np.ndarray:
    """Mean height of the brows over the eyes per frame, canonical units (inter-ocular distance 1)."""
    return canonical[:, 36:48, 1].mean(1) - canonical[:, 17:27, 1].mean(1)


def clip_stats(pose: np.ndarray, audio: np.ndarray, fps: float) -> dict[str, float]:
    pose = pose - pose.mean(0)
    row: dict[str, float] = {}
    for k, name in enumerate(AXES):
        row[f"std_{name}"] = float(pose[:, k].std())
        row[f"half_{name}"] = half_life(pose[:, k], fps)
    row["energy_corr"] = motion_energy_correlation(pose, audio, fps)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--strength", type=float, default=1.0)
    ap.add_argument("--csv", default=None)
    args = ap.parse_args()
    rows = []
    for root in args.data:
        for path in sorted(Path(root, "clips").rglob("*.npz")):
            clip = load_clip(path)
            fps = clip.fps
            real = clip_stats(estimate_pose(clip.landmarks), clip.audio, fps)
            real["brow_std"] = float(brow_height(clip.canonical).std())
            gens = []
            for seed in range(args.seeds):
                motion = generate_head_motion(clip.audio, clip.num_frames, fps, seed=seed, strength=args.strength)
                still = np.repeat(clip.neutral[None], clip.num_frames, 0)
                moved = apply_head_motion(still, clip.neutral, clip.canonical[clip.neutral_index], motion)
                g = clip_stats(estimate_pose(moved), clip.audio, fps)
                from talkface.face.align import align_to_canonical

                g["brow_std"] = float(brow_height(align_to_canonical(moved)).std())
                gens.append(g)
            gen = {k: float(np.nanmean([g[k] for g in gens])) for k in gens[0]}
            row = {"clip": clip.clip_id, "set": Path(root).name, "seconds": clip.num_frames / fps, "fps": fps}
            row.update({f"real_{k}": v for k, v in real.items()})
            row.update({f"gen_{k}": v for k, v in gen.items()})
            rows.append(row)
            print(f"{clip.clip_id:45s} {row['seconds']:5.1f}s "
                  + " ".join(f"{n}={real['std_' + n]:.3f}/{gen['std_' + n]:.3f}" for n in AXES)
                  + f" r={real['energy_corr']:+.2f}/{gen['energy_corr']:+.2f} brow={real['brow_std']:.3f}/"
                  f"{gen['brow_std']:.3f}", flush=True)
    for group in sorted({r["set"] for r in rows}):
        sel = [r for r in rows if r["set"] == group]
        seconds = sum(r["seconds"] for r in sel)
        print(f"\n== {group}: {len(sel)} clips, {seconds:.0f} s; median real / prior (ratio of medians)")
        for key in [*(f"std_{n}" for n in AXES), *(f"half_{n}" for n in AXES), "energy_corr", "brow_std"]:
            a = np.nanmedian([r[f"real_{key}"] for r in sel])
            b = np.nanmedian([r[f"gen_{key}"] for r in sel])
            q1, q3 = np.nanpercentile([r[f"real_{key}"] for r in sel], [25, 75])
            print(f"{key:14s} real {a:8.4f} (IQR {q1:.4f}-{q3:.4f})  prior {b:8.4f}  ratio {b / a:5.2f}")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
