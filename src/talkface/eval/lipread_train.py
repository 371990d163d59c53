"""Training of the GRID lip reader (:mod:`talkface.eval.lipread`) with the training core.

* :func:`cache_lip_crops` cuts every clip's mouth crops once (:func:`~talkface.eval.lipread.lip_crops`
  on the prepared face crops and their ``crop_landmarks``) into ``<cache>/<speaker>/<utterance>.npz``
  (reused by later runs: epochs then cost only the network);
* :class:`LipReadModule` trains :class:`~talkface.eval.lipread.LipReadNet` with the summed
  cross-entropy of the six slots, augmenting every batch (:class:`LipReadDataConfig`: flip, scale,
  shift, rotation, gamma/contrast/brightness, noise, blur, frame-rate jitter, frozen frames);
* :func:`train_lipreader` runs :func:`talkface.train.core.fit` (config beside the checkpoints,
  resume from ``last.ckpt``, ``best.ckpt`` by validation WER) and exports ``lipreader.pt``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from talkface.data.dataset import PreparedDataset, load_clip
from talkface.errors import InputError
from talkface.eval.lipread import (
    _MARGIN,
    CACHE_SIZE,
    INPUT_SIZE,
    SLOTS,
    LipReaderConfig,
    LipReadNet,
    central_view,
    clip_sources,
    export_lipreader,
    grid_sentence,
    labels_of,
    lip_crops,
)
from talkface.io.atomic import atomic_path
from talkface.train.core import BEST_CHECKPOINT, LAST_CHECKPOINT, TalkfaceModule, TrainConfig, fit, load_module_as

PathLike = str | os.PathLike[str]

__all__ = ["LipReadDataConfig", "LipReadModule", "LipReadTrainResult", "cache_lip_crops", "train_lipreader"]


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def cache_lip_crops(
    dataset: PathLike, ids: Sequence[str], cache_dir: PathLike, progress: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Mouth crops and slot labels of prepared clips, cut once and cached per clip.

    Args:
        dataset: A prepared dataset folder (``talkface preprocess``) with crop videos.
        ids: Clip ids to load; clips that are not GRID sentences are skipped.
        cache_dir: Folder of the per-clip caches (``<speaker>/<utterance>.npz``: ``crops`` (T, 40, 80)
            uint8 and ``labels`` (6,)), reused when present.

    Returns:
        ``(crops (N, T_max, 40, 80) uint8 padded with each clip's last frame, lengths (N,), labels
        (N, 6) int64, clip ids)``.
    """
    from tqdm import tqdm

    root = Path(dataset)
    sources = clip_sources(root)
    cache = Path(cache_dir)
    crops: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    kept: list[str] = []
    for clip_id in tqdm(ids, desc="mouth crops", disable=not progress):
        sentence = grid_sentence(clip_id, sources.get(clip_id))
        if sentence is None:
            continue
        path = cache / f"{clip_id}.npz"
        if path.is_file():
            with np.load(path) as z:
                c = z["crops"]
        else:
            clip = load_clip(root / "clips" / f"{clip_id}.npz")
            if clip.crop_path is None:
                raise InputError(root / "clips" / f"{clip_id}.npz", "prepared clip has no crop video")
            c = lip_crops(clip.crops(), clip.crop_landmarks)
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, crops=c, labels=labels_of(sentence))
        crops.append(c)
        labels.append(labels_of(sentence))
        kept.append(clip_id)
    if not crops:
        raise InputError(dataset, "no GRID clips (names or .align files) among the clips to train on")
    lengths = np.asarray([c.shape[0] for c in crops], np.int64)
    t_max = int(lengths.max())
    out = np.stack([np.concatenate([c, np.repeat(c[-1:], t_max - c.shape[0], axis=0)]) for c in crops])
    return out, lengths, np.stack(labels), kept


@dataclass
class LipReadDataConfig:
    """Training data and augmentation of the lip reader (every value is drawn per clip, per batch).

    Attributes:
        batch_size: clips per batch (set from the train config by :func:`fit`).
        num_workers: data-loader workers (the data are in memory; 0 is fine).
        flip: probability of a horizontal flip.
        scale: crops are zoomed by a factor in [1 - scale, 1 + scale].
        shift: random shift, fraction of the crop's half-size.
        rotate: random rotation, degrees (±).
        gamma: gamma drawn log-uniformly in [1 / gamma, gamma].
        contrast: contrast factor in [1 - contrast, 1 + contrast].
        brightness: added grey level in ±brightness.
        noise: Gaussian pixel noise with sigma up to this (grey levels).
        blur: probability of a Gaussian blur (sigma 0.5-1.5 px; generated videos are blurrier than real ones).
        rate: frame-rate factor in [1 - rate, 1 + rate] (the whole batch is resampled in time).
        freeze: probability of freezing a run of 1-3 frames (dropped frames).
    """

    batch_size: int = 16
    num_workers: int = 0
    flip: float = 0.5
    scale: float = 0.1
    shift: float = 0.08
    rotate: float = 6.0
    gamma: float = 1.4
    contrast: float = 0.3
    brightness: float = 20.0
    noise: float = 6.0
    blur: float = 0.3
    rate: float = 0.15
    freeze: float = 0.3


def augment(cached: torch.Tensor, lengths: torch.Tensor, cfg: LipReadDataConfig, gen: torch.Generator) -> torch.Tensor:
    """A randomly changed (B, T', 32, 64) view of (B, T, 40, 80) cached crops (grey levels, float)."""
    b, t, h, w = cached.shape
    oh, ow = INPUT_SIZE

    def u(lo: float, hi: float, n: int = b) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    # frame-rate jitter: one factor per batch; each clip stretched by its own length
    rate = float(u(1 - cfg.rate, 1 + cfg.rate, 1))
    new_t = max(3, round(int(lengths.max()) / rate))
    pos = torch.arange(new_t, dtype=torch.float32) * rate
    idx = torch.minimum(pos.round().long()[None, :].expand(b, -1), (lengths - 1)[:, None])
    if cfg.freeze > 0:
        for i in range(b):
            if float(torch.rand(1, generator=gen)) < cfg.freeze:
                span = int(torch.randint(1, 4, (1,), generator=gen))
                start = int(torch.randint(1, max(2, new_t - span), (1,), generator=gen))
                idx[i, start : start + span] = idx[i, start - 1]
    x = torch.gather(cached, 1, idx[:, :, None, None].expand(-1, -1, h, w)).float()
    # geometry: one affine per clip, the same for all its frames
    zoom = u(1 - cfg.scale, 1 + cfg.scale) * _MARGIN
    ang = torch.deg2rad(u(-cfg.rotate, cfg.rotate))
    flip = torch.where(torch.rand(b, generator=gen) < cfg.flip, -1.0, 1.0)
    cos, sin = torch.cos(ang) / zoom, torch.sin(ang) / zoom
    aspect = h / w
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos * flip, -sin * aspect
    theta[:, 1, 0], theta[:, 1, 1] = sin / aspect * flip, cos
    theta[:, 0, 2], theta[:, 1, 2] = u(-cfg.shift, cfg.shift), u(-cfg.shift, cfg.shift)
    theta = theta[:, None].expand(b, new_t, 2, 3).reshape(b * new_t, 2, 3)
    grid = F.affine_grid(theta, [b * new_t, 1, oh, ow], align_corners=False)
    x = F.grid_sample(x.reshape(b * new_t, 1, h, w), grid, mode="bilinear", padding_mode="border",
                      align_corners=False)
    # blur some clips
    if cfg.blur > 0:
        sigma = u(0.5, 1.5)
        blur_on = torch.rand(b, generator=gen) < cfg.blur
        if bool(blur_on.any()):
            k = torch.arange(-2, 3, dtype=torch.float32)
            for i in torch.nonzero(blur_on).flatten().tolist():
                g = torch.exp(-(k**2) / (2 * float(sigma[i]) ** 2))
                g = g / g.sum()
                sl = x[i * new_t : (i + 1) * new_t]
                sl = F.conv2d(F.pad(sl, (2, 2, 0, 0), mode="replicate"), g.view(1, 1, 1, 5))
                sl = F.conv2d(F.pad(sl, (0, 0, 2, 2), mode="replicate"), g.view(1, 1, 5, 1))
                x[i * new_t : (i + 1) * new_t] = sl
    x = x.reshape(b, new_t, oh, ow)
    # photometric
    gamma = torch.exp(u(-math.log(cfg.gamma), math.log(cfg.gamma)))[:, None, None, None]
    x = 255.0 * (x.clamp(0, 255) / 255.0) ** gamma
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * u(1 - cfg.contrast, 1 + cfg.contrast)[:, None, None, None] + mean
    x = x + u(-cfg.brightness, cfg.brightness)[:, None, None, None]
    x = x + torch.randn(x.shape, generator=gen) * u(0, cfg.noise)[:, None, None, None]
    return x.clamp(0, 255)


class _Batches(torch.utils.data.IterableDataset):
    """Endless shuffled, augmented batches from in-memory crops (one item = one batch)."""

    def __init__(self, crops: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor, cfg: LipReadDataConfig,
                 seed: int) -> None:
        super().__init__()
        self.crops, self.lengths, self.labels, self.cfg, self.seed = crops, lengths, labels, cfg, seed

    def __iter__(self) -> Any:
        info = torch.utils.data.get_worker_info()
        gen = torch.Generator().manual_seed(self.seed + (info.id if info else 0))
        n = self.crops.shape[0]
        while True:
            order = torch.randperm(n, generator=gen)
            for start in range(0, n - self.cfg.batch_size + 1, self.cfg.batch_size):
                sel = order[start : start + self.cfg.batch_size]
                yield augment(self.crops[sel], self.lengths[sel], self.cfg, gen), self.labels[sel]


def _tensors(arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    a, b, c = (torch.from_numpy(np.ascontiguousarray(x)) for x in arrays)
    return a, b, c


class LipReadDataModule(L.LightningDataModule):
    """Training batches (augmented) and validation clips (the model's plain central view)."""

    def __init__(self, train: tuple[np.ndarray, np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray, np.ndarray]
                 | None, config: LipReadDataConfig | None = None, seed: int = 0) -> None:
        super().__init__()
        self.config = config or LipReadDataConfig()
        self.train = _tensors(train)
        self.val = _tensors(val) if val is not None else None
        self.seed = seed
        self.batch_size = self.config.batch_size
        self.num_workers = self.config.num_workers

    def train_dataloader(self) -> Any:
        cfg = LipReadDataConfig(**{**asdict(self.config), "batch_size": self.batch_size})
        items = _Batches(*self.train, cfg, self.seed)
        return torch.utils.data.DataLoader(items, batch_size=None, num_workers=self.num_workers)

    def val_dataloader(self) -> Any:
        if self.val is None:
            return []
        crops, lengths, labels = self.val
        views = torch.utils.data.TensorDataset(crops, lengths, labels)
        return torch.utils.data.DataLoader(views, batch_size=16)


class LipReadModule(TalkfaceModule):
    """Lightning module of :class:`LipReadNet`: summed cross-entropy of the six slots (label smoothing 0.1)."""

    config_class = LipReaderConfig
    best_metric = ("val/wer", "min")

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.net = LipReadNet(self.config)

    def _losses(self, logits: list[torch.Tensor], labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss = sum(F.cross_entropy(lg, labels[:, i], label_smoothing=0.1) for i, lg in enumerate(logits))
        errors = torch.stack([(lg.argmax(dim=1) != labels[:, i]).float() for i, lg in enumerate(logits)], dim=1)
        return torch.as_tensor(loss), errors

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, labels = batch
        loss, errors = self._losses(self.net(self.net.normalize(x)), labels)
        self.log_losses({"loss": loss, "wer": errors.mean()})
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        crops, lengths, labels = batch
        x = central_view(crops)
        loss, errors = self._losses(self.net(self.net.normalize(x)), labels)
        values = {"loss": loss, "wer": errors.mean()}
        values.update({f"acc_{s}": 1 - errors[:, i].mean() for i, s in enumerate(SLOTS)})
        self.log_losses(values, prefix="val", prog_bar=False)

    def configure_optimizers(self) -> Any:
        """AdamW (weight decay 1e-2) with a linear warm-up of 100 batches and a cosine decay to 2 %."""
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=1e-2)
        total = max(1, int(self.trainer.max_steps) if self._trainer is not None else 1)

        def factor(step: int) -> float:
            if step < 100:
                return (step + 1) / 100
            return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


@dataclass
class LipReadTrainResult:
    """What :func:`train_lipreader` produced.

    Attributes:
        model_path: the exported reader (``lipreader.pt``, fp16).
        checkpoint: the checkpoint it came from (``best.ckpt`` if the run validated, else ``last.ckpt``).
        train_clips: clips trained on.
        val_clips: clips validated on.
    """

    model_path: Path
    checkpoint: Path
    train_clips: int
    val_clips: int
    meta: dict[str, Any] = field(default_factory=dict)


def train_lipreader(
    dataset: PathLike,
    out: PathLike,
    *,
    train_config: TrainConfig | None = None,
    data_config: LipReadDataConfig | None = None,
    config: LipReaderConfig | None = None,
    train_ids: Sequence[str] | None = None,
    val_ids: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    cache_dir: PathLike | None = None,
    progress: bool = True,
) -> LipReadTrainResult:
    """Train the GRID lip reader on a prepared dataset and export ``out/lipreader.pt``.

    Args:
        dataset: Prepared GRID clips (``talkface preprocess``); the sentences come from the clip names or
            ``.align`` files beside the source videos.
        out: Run folder: ``config.json``, ``last.ckpt`` (resumed from), ``best.ckpt``, ``metrics.csv``,
            ``lipreader.pt``.
        train_config: Steps, batch size, learning rate, seed, threads (:class:`~talkface.train.core.TrainConfig`).
        data_config, config: Augmentation and architecture.
        train_ids, val_ids: Clip ids to train / validate on (default: the dataset's ``train`` / ``val`` splits).
        exclude: Utterances (``bbaf2n``) or clip ids never trained on.
        cache_dir: Mouth-crop cache (default ``out/cache``).

    Raises:
        InputError: No dataset, no splits and no id lists, no GRID clips.
    """
    tc = train_config or TrainConfig(max_steps=1000, batch_size=16, lr=2e-3, num_threads=1, accelerator="cpu",
                                     devices=1, val_every_n_steps=100, checkpoint_every_n_steps=100)
    ds = PreparedDataset(dataset)
    finished = set(ds.all_ids())
    if train_ids is None:
        if not isinstance(ds.splits.get("train"), list):
            raise InputError(dataset, "no splits.json with a 'train' split: give the clip ids to train on")
        train_ids = ds.ids("train")
    if val_ids is None:
        val_ids = ds.ids("val") if isinstance(ds.splits.get("val"), list) else []
    drop = set(exclude)

    def keep(ids: Sequence[str]) -> list[str]:
        return [c for c in ids if c in finished and c not in drop and c.split("/")[-1] not in drop]

    train_ids, val_ids = keep(train_ids), keep(val_ids)
    overlap = set(train_ids) & set(val_ids)
    if overlap:
        raise InputError(dataset, f"{len(overlap)} clips are in both the training and the validation list")
    cache = Path(cache_dir) if cache_dir is not None else Path(out) / "cache"
    crops, lengths, labels, kept = cache_lip_crops(dataset, train_ids, cache, progress)
    val = None
    kept_val: list[str] = []
    if val_ids:
        v_crops, v_lengths, v_labels, kept_val = cache_lip_crops(dataset, val_ids, cache, progress)
        val = (v_crops, v_lengths, v_labels)
    if val is None and tc.val_every_n_steps:
        tc = TrainConfig(**{**asdict(tc), "val_every_n_steps": None})
    module = LipReadModule(config or LipReaderConfig())
    data = LipReadDataModule((crops, lengths, labels), val, data_config, seed=tc.seed)
    extra = {"lipread": {"dataset": os.fspath(dataset), "train_clips": len(kept), "val_clips": len(kept_val),
                         "exclude": sorted(drop), "cache_size": list(CACHE_SIZE), "input_size": list(INPUT_SIZE)}}
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    with atomic_path(outdir / "train_clips.txt") as tmp:
        tmp.write_text("\n".join(kept) + "\n")
    fit(module, data, outdir, tc, extra_configs=extra)
    best = outdir / BEST_CHECKPOINT
    ckpt = best if best.is_file() else outdir / LAST_CHECKPOINT
    trained = load_module_as(ckpt, LipReadModule, "a lip reader")
    meta = {"data": f"{os.fspath(dataset)}: {len(kept)} train clips, {len(kept_val)} val clips",
            "checkpoint": ckpt.name, "licence": "trained on GRID (CC BY 4.0) only"}
    path = export_lipreader(trained.net, outdir / "lipreader.pt", meta)
    return LipReadTrainResult(path, ckpt, len(kept), len(kept_val), meta)
