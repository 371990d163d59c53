"""Head-pose std ratio (generated / real) of the shipped motion stage over several seeds (docs/motion.md).

``talkface evaluate-motion DATA --liveliness`` scores one seed (clip i gets seed i), and a 3-s clip's
pose std is a noisy number: this repeats :func:`talkface.eval.liveliness.evaluate_liveliness` for
``--seeds`` seeds, leaves out ``--skip`` clips (e.g. GRID's training speaker ``bbaf2n``), and prints
per seed the per-axis median of the per-clip ratios, then the median and range over the seeds, the
head-energy/speech-energy correlation, the per-clip speaking rate and calm weight
(:func:`talkface.motion.head.speaking_rate`, :func:`talkface.motion.head.calm_weight`) and the
per-clip ratios of seed 0.

    python3 benchmarks/head_motion_eval.py /work/prepared/grid7 --skip bbaf2n/bbaf2n --seeds 5
    python3 benchmarks/head_motion_eval.py /work/prepared/wild --seeds 3
    python3 benchmarks/head_motion_eval.py /work/prepared/grid_s1_all --split train --max-clips 40 --seeds 2
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from talkface.data.dataset import PreparedDataset
from talkface.eval.liveliness import evaluate_liveliness, summarise
from talkface.models import load_lgan_net as load_lgan
from talkface.motion.blink import load_blink
from talkface.motion.head import AXES, calm_weight, speaking_rate
from talkface.pipeline import DEFAULT_MODEL


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[])
    ap.add_argument("--head-motion", type=float, default=1.0)
    ap.add_argument("--split", default="all")
    ap.add_argument("--max-clips", type=int, default=None, help="at most this many clips per folder")
    args = ap.parse_args()
    torch.set_num_threads(1)
    lgan = load_lgan(DEFAULT_MODEL / "lgan.pt")
    blink = load_blink(DEFAULT_MODEL / "blink.pt")
    per_seed, energy = [], []
    first = None
    for seed in range(args.seeds):
        rows = evaluate_liveliness(args.data, lgan, blink, split=args.split, head_motion=args.head_motion,
                                   seed=1000 * seed, max_clips=args.max_clips)
        rows = [r for r in rows if r.clip_id not in args.skip]
        s = summarise(rows)
        per_seed.append(s.pose_std_ratio)
        energy.append(s.energy_corr)
        first = first or rows
        print(f"seed {seed}: {len(rows)} clips, pose std ratio "
              + " ".join(f"{a} {v:.2f}" for a, v in zip(AXES, s.pose_std_ratio, strict=True))
              + f", r(head energy, speech energy) {s.energy_corr:+.2f} (real {s.real_energy_corr:+.2f})", flush=True)
    ratios = np.asarray(per_seed)
    print(f"\nover {args.seeds} seeds, median [min-max] of the per-seed medians:")
    for k, a in enumerate(AXES):
        print(f"  {a:6s} {np.median(ratios[:, k]):.2f} [{ratios[:, k].min():.2f}-{ratios[:, k].max():.2f}]")
    print(f"  r(head energy, speech energy) {np.median(energy):+.2f} [{min(energy):+.2f}-{max(energy):+.2f}]")
    assert first is not None
    split = None if args.split == "all" else args.split
    audio = {c.clip_id: (c.audio, c.sample_rate) for root in args.data
             for n, c in enumerate(PreparedDataset(root).clips(split)) if args.max_clips is None or n < args.max_clips}
    print("\nseed 0 per clip: speaking rate (syll/s), calm weight, ratio per axis")
    for r in first:
        rate = speaking_rate(*audio[r.clip_id])
        ratio = r.pose_std / np.maximum(r.real_pose_std, 1e-9)
        print(f"  {r.clip_id:45s} {rate:4.1f} {calm_weight(rate):4.2f} " + " ".join(f"{v:5.2f}" for v in ratio))


if __name__ == "__main__":
    main()
