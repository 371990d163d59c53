"""Issue #3 protocol: regression-only vs l-GAN G_L, several seeds, checkpoint chosen on validation LMD.

    python3 benchmarks/motion_protocol.py prepared/grid_s1_all -o runs/motion_protocol \
        [--seeds 0 1] [--steps 1000] [--lambda-gan 1 0.25] [--test prepared/grid_s1:test]

Each run: batches of 16 sequences of 16 frames, lr 2e-4, one CPU thread, validation LMD and a
checkpoint every 100 batches (resumable: rerun the command). Then each run's checkpoint with the
lowest ``val/lmd`` (``best.ckpt``) is scored on the test split(s) with ``talkface.eval.motion_metrics`` (mouth LMD,
mouth-opening correlation and amplitude) next to the static neutral face. Results: docs/motion.md.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch

from talkface.eval.motion_metrics import evaluate_motion
from talkface.motion.data import MotionDataConfig
from talkface.motion.lgan import LGANConfig, load_lgan, train_lgan
from talkface.train.core import TrainConfig


def best_checkpoint(run: Path) -> tuple[Path, float]:
    """The run's ``best.ckpt`` (lowest validation LMD), or for runs older than it the checkpoint
    closest to that step; and that LMD."""
    with open(run / "metrics.csv", newline="") as fh:
        val = [(float(r["val/lmd"]), int(r["step"])) for r in csv.DictReader(fh) if r.get("val/lmd")]
    lmd, step = min(val)
    if (run / "best.ckpt").is_file():
        return run / "best.ckpt", lmd
    ckpts = sorted(run.glob("step=*.ckpt"), key=lambda p: abs(int(p.stem.split("=")[1]) - (step + 1)))
    return ckpts[0], lmd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="prepared dataset with train/val/test splits")
    ap.add_argument("-o", "--output", required=True, help="folder of the runs")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--lambda-gan", type=float, nargs="+", default=[1.0, 0.25], help="l-GAN variants")
    ap.add_argument("--test", action="append", default=[], metavar="PATH[:SPLIT]",
                    help="extra test sets (default: DATA:test)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = MotionDataConfig(roots=(args.data,), sequence_length=16, stride=2)
    variants = {"regression": LGANConfig(regression_only=True)}
    variants.update({f"lgan_g{g:g}": LGANConfig(lambda_gan=g) for g in args.lambda_gan})
    out = Path(args.output)
    for seed in args.seeds:
        for name, cfg in variants.items():
            tc = TrainConfig(max_steps=args.steps, batch_size=16, lr=2e-4, num_threads=1, log_every_n_steps=10,
                             checkpoint_every_n_steps=100, val_every_n_steps=100, progress_bar=False, seed=seed)
            train_lgan(out / f"{name}_s{seed}", data, tc, cfg)
    models: dict[str, object] = {"static": None}
    for run in sorted(p for p in out.iterdir() if (p / "metrics.csv").is_file()):
        ckpt, lmd = best_checkpoint(run)
        print(f"{run.name}: best val LMD {lmd:.3f} -> {ckpt.name}")
        models[run.name] = load_lgan(ckpt)
    for spec in [f"{args.data}:test", *args.test]:
        root, _, split = spec.partition(":")
        print(f"== {root} ({split or 'test'})")
        for name, s in evaluate_motion([root], models, split=split or "test").items():
            print(f"{name}: LMD {s.lmd:.3f}  mouth r {s.mouth_correlation:.3f}  amplitude {s.opening_amplitude:.2f}  "
                  f"({s.num_clips} clips)")


if __name__ == "__main__":
    main()
