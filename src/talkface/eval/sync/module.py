"""Lightning training wrappers of the sync model: :class:`SyncNetModule` and :class:`SyncNetDataModule`.

Training (:class:`SyncNetModule`): InfoNCE over every audio window in the batch for each video
window, the negatives including the same clip's audio at offsets up to +-15 frames (the hard
ones) and other clips' audio. Importing this module imports Lightning (seconds); scoring never
does (:mod:`talkface.eval.sync.scoring` needs only the plain :class:`~talkface.eval.sync.network.SyncNet`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from talkface.eval.sync.data import SyncClip, SyncNetDataConfig, _SyncItems
from talkface.eval.sync.network import SyncNet, SyncNetConfig
from talkface.train.core import TalkfaceModule

__all__ = ["SyncNetDataModule", "SyncNetModule"]


class SyncNetModule(TalkfaceModule):
    """Lightning training module of :class:`SyncNet` (InfoNCE over offsets and clips).

    Args:
        config: a :class:`SyncNetConfig` (or its dict form), None for the defaults.
    """

    config_class = SyncNetConfig

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.net = SyncNet(self.config)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        mouths, mel = batch
        # (B, K, D), (B, K + 2 off, D); the items carry their own audio context (no padding)
        v, a = self.net(mouths, mel, pad=False)
        b, k, d = v.shape
        off = (a.shape[1] - k) // 2
        scale = self.net.log_scale.exp().clamp(max=100.0)
        logits = v.reshape(b * k, d) @ a.reshape(-1, d).T * scale
        rows = torch.arange(b, device=v.device)[:, None] * a.shape[1]
        target = (rows + off + torch.arange(k, device=v.device)[None, :]).reshape(-1)
        loss = F.cross_entropy(logits, target)
        with torch.no_grad():  # offset accuracy within the clip, what scoring measures
            idx = torch.arange(k, device=v.device)[:, None] + torch.arange(2 * off + 1, device=v.device)[None, :]
            own = a[:, idx]  # (B, K, 2 off + 1, D)
            sims = (own * v[:, :, None, :]).sum(-1)
            acc = (sims.argmax(dim=-1) == off).float().mean()
        self.log_losses({"loss": loss, "offset_acc": acc, "scale": scale.detach()})
        return loss

    def configure_optimizers(self) -> Any:
        """Adam with a cosine decay of the learning rate to 5 % over the run (per batch)."""
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr)
        total = max(1, int(self.trainer.max_steps) if self._trainer is not None else 1)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class SyncNetDataModule(L.LightningDataModule):
    """Random training items (mouth windows + surrounding audio) from in-memory clips.

    Args:
        clips: from :func:`talkface.eval.sync.data.prepare_sync_arrays`.
        config: sampling settings.
        seed: sampling seed.
        audio_context: the model's ``audio_context`` (items carry that much audio around them).
    """

    def __init__(self, clips: Sequence[SyncClip], config: SyncNetDataConfig | None = None, seed: int = 0,
                 audio_context: int = 0) -> None:
        super().__init__()
        self.clips = clips
        self.config = config or SyncNetDataConfig()
        self.seed = seed
        self.audio_context = audio_context
        self.batch_size = 32
        self.num_workers = 0

    def train_dataloader(self) -> Any:
        return torch.utils.data.DataLoader(
            _SyncItems(self.clips, self.config, self.seed, self.audio_context), batch_size=self.batch_size,
            num_workers=self.num_workers,
        )
