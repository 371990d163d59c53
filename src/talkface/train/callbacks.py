"""Lightning callbacks and the checkpoint writer of :func:`talkface.train.core.fit` (re-exported there)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, Timer
from lightning.pytorch.plugins.io import TorchCheckpointIO

from talkface.io.atomic import save_torch

__all__ = ["AtomicCheckpointIO", "BatchStepCheckpoint", "BestCheckpoint", "CallTimer", "RunFolderCheckpoint",
           "SamplesPerSecond", "batch_size_of", "recorded_best_score"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoint writer that never leaves a half-written ``.ckpt`` (write a temp file, then rename)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        """Write ``checkpoint`` to ``path`` atomically (see :func:`talkface.io.atomic.save_torch`)."""
        if storage_options is not None:
            raise TypeError("storage_options are not supported")
        save_torch(checkpoint, path)


class RunFolderCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose state resumes in a run folder that was moved or copied since it was saved.

    Lightning restores a ModelCheckpoint's state (best score, best/last paths) only when the folder's
    absolute path is the one stored in the checkpoint, and warns otherwise. A talkface run folder is
    self-contained (every path in that state is a file in it), so the paths are re-based into the
    folder as it is now.
    """

    def _here(self, path: str) -> str:
        """``path`` (recorded in the run folder, perhaps at another place) re-based into ``dirpath``."""
        return os.path.join(str(self.dirpath), os.path.basename(path)) if path and self.dirpath else path

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state of a checkpoint of this run, even if the run folder moved since."""
        paths = {k: self._here(state_dict[k]) for k in ("best_model_path", "kth_best_model_path", "last_model_path")
                 if isinstance(state_dict.get(k), str)}
        best_k = {self._here(k): v for k, v in (state_dict.get("best_k_models") or {}).items()}
        super().load_state_dict({**state_dict, **paths, "best_k_models": best_k, "dirpath": self.dirpath})


class BatchStepCheckpoint(RunFolderCheckpoint):
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


class BestCheckpoint(RunFolderCheckpoint):
    """ModelCheckpoint keeping one file (``best.ckpt``) whose best score survives every resume.

    Lightning restores the best score of a resumed run only when the run folder's absolute path is the
    one stored in ``last.ckpt``; a run folder copied or moved between calls (to a time-limited GPU
    machine and back with ``--max-minutes``, to another disk) lost it, and the first validation after
    the resume replaced ``best.ckpt`` however bad it was. Here, when a run resumes:

    * the state in ``last.ckpt`` is restored wherever the folder now is (:class:`RunFolderCheckpoint`);
    * the score guarding ``best.ckpt`` is the one recorded *in* ``best.ckpt`` (each checkpoint holds a
      copy of this callback's state), so a run killed after writing ``best.ckpt`` but before refreshing
      ``last.ckpt`` keeps it too; without a ``best.ckpt`` in the folder the next validation writes one.

    The state is stored under plain ModelCheckpoint's key, so runs saved before this class resume with
    their score and its checkpoints still resume with plain ModelCheckpoint.

    Args:
        **kwargs: passed to :class:`lightning.pytorch.callbacks.ModelCheckpoint` (``monitor``, ``mode``,
            ``dirpath``, ``filename`` without metric placeholders, ``save_top_k=1``).
    """

    @property
    def state_key(self) -> str:
        """Plain ModelCheckpoint's key, so old and new checkpoints match."""
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """On a resume, take the best score from the best checkpoint file itself (after all state is restored)."""
        if trainer.ckpt_path is None:
            return  # a fresh run: starts its own best
        path = self.format_checkpoint_name({})
        # rank 0's view for every rank: all must take the same save decisions (the saves synchronise)
        local = (os.path.isfile(path), recorded_best_score(path, self.state_key)) if trainer.is_global_zero else None
        found, score = trainer.strategy.broadcast(local or (False, None), src=0)
        if not found:
            self.best_k_models, self.best_model_path, self.best_model_score, self.kth_best_model_path = {}, "", None, ""
            self.kth_value = torch.tensor(torch.inf if self.mode == "min" else -torch.inf)
        elif score is not None:
            self.best_k_models = {path: score}
            self.best_model_path = self.kth_best_model_path = path
            self.best_model_score = self.kth_value = score
        # else: a best checkpoint without a recorded score: the state restored from last.ckpt stands


def recorded_best_score(path: str | os.PathLike[str], state_key: str) -> torch.Tensor | None:
    """The best score a checkpoint file recorded for the ModelCheckpoint with ``state_key`` (None if none).

    Only the small callback state is read: the weights are memory-mapped, not loaded.
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        score = ckpt["callbacks"][state_key]["best_model_score"]
    except Exception:  # noqa: BLE001 - missing, unreadable or older file: no recorded score
        return None
    return torch.as_tensor(score).detach().cpu() if score is not None else None


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
