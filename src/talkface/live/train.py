"""Training the streaming motion model by distillation (:mod:`talkface.live.model`, :mod:`talkface.live.distill`).

``python -m talkface.live.train OUT_DIR DISTILL_DIR --steps 3000 --threads 1`` (or
:func:`train_stream_motion`): loads every ``.npz`` of a distillation folder, holds out every 10th
file (sorted by name) for validation, and trains with :func:`talkface.train.core.fit` (resumes from
``OUT_DIR/last.ckpt``, ``config.json`` beside the checkpoints, ``best.ckpt`` by validation mouth
LMD against the offline model).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from talkface.errors import InputError
from talkface.live.distill import list_distillation_set
from talkface.live.model import (
    MOUTH_INDEX,
    CausalLogMel,
    StreamMotionConfig,
    StreamMotionInference,
    StreamMotionNet,
    frame_windows,
    load_stream_motion,
    log_mel,
    mel_filter_bank,
)
from talkface.motion.lgan import temporal_consistency_loss
from talkface.pipeline import load_bundle
from talkface.train.core import TalkfaceModule, TrainConfig, fit, load_module_as

__all__ = ["StreamDataConfig", "StreamDataModule", "StreamMotion", "load_trainable", "train_stream_motion"]


class StreamMotion(StreamMotionInference, TalkfaceModule):
    """The streaming motion model as a trainable module (distillation, one optimiser).

    The network and inference methods are :class:`talkface.live.model.StreamMotionInference`'s (the
    same as the plain :class:`~talkface.live.model.StreamMotionModel`); this adds the losses and the
    training and validation steps. Batches (:class:`StreamDataModule`) are dicts with ``"windows"``:
    (B, L, context, n_mels) log-mel windows of L consecutive video frames and ``"motion"``:
    (B, L, 46, 2) target displacements of the speech points, canonical units.
    """

    config_class = StreamMotionConfig
    best_metric = ("val/lmd", "min")
    config: StreamMotionConfig

    def __init__(self, config: StreamMotionConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.net = StreamMotionNet(self.config)
        self._register_statistics()

    def losses(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Distance and frame-to-frame terms (crop pixels²) and mouth LMD (crop pixels)."""
        u = self.config.loss_unit
        p, t = pred * u, target * u
        out = {"dist": (p - t).pow(2).sum(-1).mean(),
               "lmd": (p[..., MOUTH_INDEX, :] - t[..., MOUTH_INDEX, :]).norm(dim=-1).mean()}
        if p.ndim == 4 and p.shape[1] > 1:
            out["temporal"] = temporal_consistency_loss(p, t)
        return out

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Distance + λ · frame-to-frame loss."""
        losses = self.losses(self(batch["windows"]), batch["motion"])
        total = losses["dist"] + self.config.lambda_temporal * losses.get("temporal", torch.zeros(()))
        self.log_losses({**losses, "total": total})
        return total

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Mouth LMD against the targets on whole validation utterances."""
        losses = self.losses(self(batch["windows"]), batch["motion"])
        self.log_losses({"lmd": losses["lmd"], "dist": losses["dist"]}, prefix="val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam."""
        return torch.optim.Adam(self.parameters(), lr=self.lr, betas=self.config.betas)


def load_trainable(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> StreamMotion:
    """A trained streaming motion model (checkpoint or export) as the LightningModule (to fine-tune).

    Raises:
        InputError: the file is missing, unreadable or not a streaming-motion checkpoint.
    """
    return load_module_as(path, StreamMotion, "a streaming-motion", map_location)


@dataclass
class StreamDataConfig:
    """Which distillation data and how to sample it.

    Attributes:
        root: distillation folder (:func:`talkface.live.distill.build_distillation_set`).
        sequence_length: consecutive video frames per training sample.
        val_every: every this many files (sorted by name) is a validation file.
        max_files: use at most this many files (0: all).
        batch_size: sequences per batch.
        num_workers: data-loader workers.
        seed: seed of the sampling and augmentation.
    """

    root: str = ""
    sequence_length: int = 8
    val_every: int = 10
    max_files: int = 0
    batch_size: int = 32
    num_workers: int = 0
    seed: int = 0


@dataclass
class _Clip:
    power: np.ndarray  # (F, n_mels) mel power, silence-padded for the last frame's look-ahead
    motion: np.ndarray  # (T, 46, 2)


def _load_clips(files: list[Path], config: StreamMotionConfig, filters: np.ndarray) -> list[_Clip]:
    clips = []
    for f in files:
        with np.load(f) as z:
            audio = z["audio"].astype(np.float32) / 32768.0
            motion = z["motion"].astype(np.float32)
        if len(motion) < 2:
            continue
        need = config.samples_needed(len(motion) - 1)
        audio = np.pad(audio, (0, max(0, need - len(audio))))
        power = CausalLogMel(filters, config.win, config.hop, config.n_fft).push(audio)
        clips.append(_Clip(power=power, motion=motion))
    return clips


class _TrainSet(Dataset[dict[str, torch.Tensor]]):
    """Random sequences with random gain and noise; item ``i`` is a fixed function of (seed, i)."""

    def __init__(self, clips: list[_Clip], model: StreamMotionConfig, data: StreamDataConfig,
                 noise_unit: np.ndarray, length: int) -> None:
        self.clips, self.model, self.data, self.noise_unit, self.length = clips, model, data, noise_unit, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.data.seed, index])
        clip = self.clips[int(rng.integers(len(self.clips)))]
        n = self.data.sequence_length
        start = int(rng.integers(0, max(1, len(clip.motion) - n + 1)))
        frames = np.arange(start, start + n).clip(0, len(clip.motion) - 1)
        gain = 10.0 ** (rng.uniform(*self.model.gain_db) / 10.0)  # power gain
        noise = 10.0 ** (rng.uniform(*self.model.noise_dbfs) / 10.0)  # RMS² relative to unit noise
        power = clip.power * np.float32(gain) + np.float32(noise) * self.noise_unit
        warp = rng.uniform(*self.model.warp)
        if warp != 1.0:  # stretch the mel axis: bin i takes the power at bin i / warp
            bins = np.arange(power.shape[1], dtype=np.float64)
            src = np.clip(bins / warp, 0, power.shape[1] - 1)
            lo = np.floor(src).astype(np.int64)
            hi = np.minimum(lo + 1, power.shape[1] - 1)
            u = (src - lo).astype(np.float32)
            power = power[:, lo] * (1 - u) + power[:, hi] * u
        windows = frame_windows(log_mel(power), self.model, frames)
        return {"windows": torch.from_numpy(windows), "motion": torch.from_numpy(clip.motion[frames])}


class _ValSet(Dataset[dict[str, torch.Tensor]]):
    def __init__(self, clips: list[_Clip], model: StreamMotionConfig) -> None:
        self.clips, self.model = clips, model

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        clip = self.clips[index]
        frames = np.arange(len(clip.motion))
        windows = frame_windows(log_mel(clip.power), self.model, frames)
        return {"windows": torch.from_numpy(windows), "motion": torch.from_numpy(clip.motion)}


class StreamDataModule(L.LightningDataModule):
    """Distillation data for :class:`StreamMotion`.

    Args:
        config: which data.
        model_config: the model (window geometry, augmentation ranges).
        filters: the model's mel filter bank.
        steps: training batches to provide (the sampler draws ``steps × batch_size`` sequences).
    """

    def __init__(self, config: StreamDataConfig, model_config: StreamMotionConfig, filters: np.ndarray,
                 steps: int) -> None:
        super().__init__()

        self.config, self.model_config, self.filters, self.steps = config, model_config, filters, steps
        files = list_distillation_set(config.root)
        if config.max_files:
            files = files[: config.max_files]
        if len(files) < 2:
            raise InputError(config.root, "needs at least 2 distillation files (python -m talkface.live.distill)")
        self.val_files = files[:: config.val_every]
        self.train_files = [f for f in files if f not in set(self.val_files)]
        self.train_clips: list[_Clip] | None = None
        self.val_clips: list[_Clip] = []

    def setup(self, stage: str | None = None) -> None:
        """Load the files and compute their mel power (once)."""
        if self.train_clips is None:
            self.train_clips = _load_clips(self.train_files, self.model_config, self.filters)
            self.val_clips = _load_clips(self.val_files, self.model_config, self.filters)

    def feature_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-band mean and standard deviation of the training log-mel (no augmentation)."""
        self.setup()
        assert self.train_clips is not None
        mel = log_mel(np.concatenate([c.power for c in self.train_clips]))
        return mel.mean(0), np.maximum(mel.std(0), 1e-3)

    def train_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        self.setup()
        assert self.train_clips is not None
        unit = CausalLogMel(self.filters, self.model_config.win, self.model_config.hop, self.model_config.n_fft)
        dataset = _TrainSet(self.train_clips, self.model_config, self.config, unit.noise_power(1.0),
                            self.steps * self.config.batch_size)
        return DataLoader(dataset, batch_size=self.config.batch_size, shuffle=False,
                          num_workers=self.config.num_workers)

    def val_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        self.setup()
        return DataLoader(_ValSet(self.val_clips, self.model_config), batch_size=1, shuffle=False)


def train_stream_motion(
    out_dir: str | os.PathLike[str],
    data_config: StreamDataConfig,
    train_config: TrainConfig,
    model_config: StreamMotionConfig | None = None,
    teacher: str | os.PathLike[str] | None = None,
    init: str | os.PathLike[str] | None = None,
) -> Path:
    """Train the streaming motion model on a distillation folder (resumes ``out_dir/last.ckpt``).

    The canonical neutral face and the decoder's starting weights come from the teacher bundle's
    l-GAN; the mel filters and the feature standardisation from the data.

    Args:
        out_dir: run folder.
        data_config: the distillation data.
        train_config: steps, batch size (taken from here), lr, threads, seed.
        model_config: the model (default :class:`StreamMotionConfig`).
        teacher: model bundle whose l-GAN made the targets (default: the shipped one).
        init: a streaming-motion checkpoint to start from (its weights and feature statistics; a new
            optimiser with this run's learning rate), e.g. to continue on more data at a lower rate.

    Returns:
        Path of ``out_dir/last.ckpt``.
    """
    if train_config.num_threads:
        torch.set_num_threads(train_config.num_threads)
    bundle = load_bundle(teacher)
    cfg = replace(model_config or StreamMotionConfig(), fps=float(bundle.lgan.config.fps))
    data_config = replace(data_config, batch_size=train_config.batch_size, seed=train_config.seed)
    filters = mel_filter_bank(cfg)
    datamodule = StreamDataModule(data_config, cfg, filters, train_config.max_steps)
    module = StreamMotion(cfg)
    mean, std = datamodule.feature_statistics()
    with torch.no_grad():
        module.mel_filters.copy_(torch.as_tensor(filters))
        module.canonical_neutral.copy_(bundle.lgan.canonical_neutral.float().cpu())
        module.net.feature_mean.copy_(torch.as_tensor(mean))
        module.net.feature_std.copy_(torch.as_tensor(std))
        teacher_decoder = getattr(getattr(bundle.lgan, "generator", None), "decoder", None)  # none: an ensemble
        if teacher_decoder is not None and teacher_decoder.weight.shape == module.net.decoder.weight.shape:
            module.net.decoder.load_state_dict({k: v.float() for k, v in teacher_decoder.state_dict().items()})
    if init is not None:
        start = load_stream_motion(init)
        if start.config != cfg:
            raise ValueError(f"{init}: its model config differs from this run's")
        module.load_state_dict(start.state_dict())
    extra: dict[str, Any] = {"init": None if init is None else os.fspath(init),
                             "teacher": {"bundle": str(bundle.path), "name": bundle.info.get("name")},
                             "files": {"train": len(datamodule.train_files), "val": len(datamodule.val_files)}}
    return fit(module, datamodule, out_dir, train_config, extra_configs=extra)


def main(argv: list[str] | None = None) -> int:
    """``python -m talkface.live.train OUT_DIR DISTILL_DIR [--steps N] [--threads 1]``."""
    import argparse

    p = argparse.ArgumentParser(description="Train the streaming motion model by distillation (resumable).")
    p.add_argument("out_dir")
    p.add_argument("distill_dir")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--val-every", type=int, default=250, help="validate every N batches")
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--context", type=int, default=StreamMotionConfig.context)
    p.add_argument("--lookahead-ms", type=float, default=StreamMotionConfig.lookahead_ms)
    p.add_argument("--teacher", default=None, help="model bundle that made the targets")
    p.add_argument("--init", default=None, help="streaming-motion checkpoint to start from (new optimiser)")
    a = p.parse_args(argv)
    train = TrainConfig(max_steps=a.steps, batch_size=a.batch_size, lr=a.lr, seed=a.seed, accelerator="cpu",
                        devices=1, num_threads=a.threads, val_every_n_steps=a.val_every,
                        checkpoint_every_n_steps=a.val_every, max_minutes=a.max_minutes, log_every_n_steps=25)
    model = StreamMotionConfig(context=a.context, lookahead_ms=a.lookahead_ms)
    print(train_stream_motion(a.out_dir, StreamDataConfig(root=a.distill_dir), train, model, a.teacher, a.init))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

