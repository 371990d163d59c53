"""Lightning callbacks and the checkpoint writer of :func:`talkface.train.core.fit` (re-exported there)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, Timer
from lightning.pytorch.plugins.io import TorchCheckpointIO

from talkface.io.atomic import save_torch

__all__ = ["AtomicCheckpointIO", "BatchStepCheckpoint", "CallTimer", "SamplesPerSecond", "batch_size_of"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoint writer that never leaves a half-written ``.ckpt`` (write a temp file, then rename)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        """Write ``checkpoint`` to ``path`` atomically (see :func:`talkface.io.atomic.save_torch`)."""
        if storage_options is not None:
            raise TypeError("storage_options are not supported")
        save_torch(checkpoint, path)


class BatchStepCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose ``{step}`` in file names counts batches, not optimiser steps.

    Args:
        steps_per_batch: optimiser steps per batch of the model (see
            :attr:`talkface.train.core.TalkfaceModule.optimizer_steps_per_batch`).
        **kwargs: passed to :class:`lightning.pytorch.callbacks.ModelCheckpoint`.
    """

    def __init__(self, steps_per_batch: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.steps_per_batch = steps_per_batch

    def format_checkpoint_name(
        self,
        metrics: dict[str, torch.Tensor],
        filename: str | None = None,
        ver: int | None = None,
        prefix: str | None = None,
    ) -> str:
        """Name a checkpoint file, with ``step`` converted from optimiser steps to batches."""
        if "step" in metrics:
            metrics = {**metrics, "step": torch.as_tensor(metrics["step"]) // self.steps_per_batch}
        return super().format_checkpoint_name(metrics, filename, ver, prefix)


class CallTimer(Timer):
    """Lightning's :class:`~lightning.pytorch.callbacks.Timer` counting only the current call's time.

    Lightning saves the elapsed time in checkpoints and restores it on resume, so a resumed run with
    ``max_time`` would stop at once; ``talkface.train.core.TrainConfig.max_minutes`` means minutes *per call*.
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Ignore the elapsed time of earlier calls."""


class SamplesPerSecond(Callback):
    """Log training throughput ``train/samples_per_s`` (all devices together, data loading included)."""

    def __init__(self) -> None:
        super().__init__()
        self._last: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start the clock."""
        self._last = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Log samples/s since the previous batch ended."""
        now = time.perf_counter()
        if self._last is not None:
            n = batch_size_of(batch) * trainer.world_size
            rate = n / max(now - self._last, 1e-9)
            pl_module.log("train/samples_per_s", rate, on_step=True, on_epoch=False, prog_bar=True)
        self._last = now


def batch_size_of(batch: Any) -> int:
    """Number of samples in a batch: the first dimension of its first tensor (0 if it has none)."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else 1
    if isinstance(batch, Mapping):
        for value in batch.values():
            n = batch_size_of(value)
            if n:
                return n
    if isinstance(batch, list | tuple):
        for value in batch:
            n = batch_size_of(value)
            if n:
                return n
    return 0
