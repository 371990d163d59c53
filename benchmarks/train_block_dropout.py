"""`talkface train regression|motion` with modality dropout on the leading feature block (docs/motion.md 5b).

In a random share ``P`` of the training sequences the first ``K`` feature dimensions (the Whisper
tiny.en block of ``whisper-tiny.en+hama``: K = 384) are replaced by their training mean, i.e. zero
after G_L's standardisation, so that G_L must also predict the mouth from the other block (hama's
phone posteriors). Validation and inference see the full feature. An experiment, not a CLI option.

    python3 benchmarks/train_block_dropout.py 0.5 384 train regression grid_s1_mix -o runs/mixdrop_s1 \\
        --steps 1000 --seed 1 --threads 1 --checkpoint-every 100 --val-every 100
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from talkface.cli import main
from talkface.motion.lgan import LGAN


def patch(share: float, dims: int) -> None:
    """Make :meth:`LGAN.training_step` drop the first ``dims`` feature dimensions in ``share`` of the sequences."""
    original = LGAN.training_step

    def training_step(self: LGAN, batch: dict[str, torch.Tensor], batch_idx: int) -> Any:
        windows = batch["windows"]  # (B, L, dt, D)
        drop = torch.rand(windows.shape[0], device=windows.device) < share
        if bool(drop.any()):
            windows = windows.clone()
            windows[drop, ..., :dims] = self.generator.feature_mean[:dims].to(windows.dtype)
            batch = dict(batch, windows=windows)
        return original(self, batch, batch_idx)

    LGAN.training_step = training_step  # type: ignore[method-assign]


if __name__ == "__main__":
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    patch(float(sys.argv[1]), int(sys.argv[2]))
    sys.exit(main(sys.argv[3:]))
