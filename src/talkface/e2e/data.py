"""Training data of the end-to-end temporal GAN: (still, frames, audio windows) sequences.

A training sample is a random run of ``L`` consecutive frames of one clip (aligned face crops,
resized to the model's ``image_size``), the per-frame raw audio windows of those frames
(:func:`talkface.audio.windows.raw_windows`, frame ``t`` centred at ``t / fps`` s), and the clip's
still frame (its neutral frame, or its first frame as in the paper). Training videos are mirrored
(flipped left-right) with probability 1/2 (paper sec. 4.1); with ``augment`` the still and the
frames also get one random colour / scale / shift change (:func:`augment_identity`) and the audio a
random gain, so a model trained on one speaker cannot lean on that speaker's colours. ``L`` is drawn per batch between
``min_frames`` and ``max_frames`` so the sequence discriminators see variable lengths.

Clips come from a prepared dataset (:class:`talkface.data.dataset.PreparedDataset`) or from
:func:`synthetic_clips` (tiny moving-mouth faces whose mouth opening follows the audio loudness; for
tests and smoke runs).
"""

from __future__ import annotations

import math
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from talkface.audio.windows import raw_windows
from talkface.data.dataset import PreparedDataset, load_clip
from talkface.e2e.mouth import mouth_masks
from talkface.e2e.temporal_gan import E2EConfig, TemporalGAN, images_to_tensor
from talkface.errors import InputError
from talkface.train.core import TrainConfig, fit

__all__ = [
    "E2EDataConfig",
    "E2EDataModule",
    "SequenceDataset",
    "VideoClip",
    "augment_identity",
    "augment_with_masks",
    "dataset_model_settings",
    "load_clips",
    "resize_frames",
    "synthetic_clips",
    "train_e2e",
]


@dataclass
class VideoClip:
    """One clip held in memory for training or evaluation.

    Attributes:
        clip_id: ``"<speaker>/<utterance>"``.
        frames: ``(T, S, S, 3)`` uint8 RGB aligned face crops.
        audio: ``(N,)`` float32 mono speech, ``N = T / fps * sample_rate``.
        still_index: frame used as the identity (still) image.
        fps: frames/s.
        sample_rate: Hz.
        landmarks: ``(T, 68, 2)`` float32 landmarks in the pixels of the *prepared* crops
            (``crop_size``), or None.
    """

    clip_id: str
    frames: np.ndarray
    audio: np.ndarray
    still_index: int
    fps: float
    sample_rate: int
    landmarks: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        """T."""
        return int(self.frames.shape[0])


@dataclass
class E2EDataConfig:
    """Which data to train on and how to sample it.

    Attributes:
        root: prepared dataset folder (None: ``synthetic`` clips).
        extra_roots: further prepared datasets trained on together with ``root`` (same fps, sample
            rate and crop size); their clips of the same splits are added.
        train_split, val_split: split names of the prepared dataset.
        max_train_clips, max_val_clips: use at most this many clips (None: all; val: 0 = none).
        min_frames, max_frames: sequence length range of training samples, frames.
        samples_per_clip: training samples drawn per clip per epoch.
        mirror: flip training videos left-right with probability 1/2.
        augment: identity augmentation of training samples (:func:`augment_identity` applied
            identically to the still and the frames; random audio gain 0.5-2).
        still: ``"neutral"`` (the clip's neutral frame) or ``"first"`` (its first frame, the paper's x_1).
        synthetic: number of synthetic clips when ``root`` is None.

    The batch size and data-loader workers come from :class:`talkface.train.core.TrainConfig`.
    """

    root: str | None = None
    extra_roots: tuple[str, ...] = ()
    train_split: str = "train"
    val_split: str = "val"
    max_train_clips: int | None = None
    max_val_clips: int | None = 8
    min_frames: int = 16
    max_frames: int = 32
    samples_per_clip: int = 1
    mirror: bool = True
    augment: bool = False
    still: str = "neutral"
    synthetic: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.min_frames <= self.max_frames:
            raise ValueError(f"need 1 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")
        if self.still not in ("neutral", "first"):
            raise ValueError(f"still must be 'neutral' or 'first', got {self.still!r}")
        if self.extra_roots and self.root is None:
            raise ValueError("extra_roots need a root")

    @property
    def roots(self) -> list[str]:
        """Every prepared dataset folder: ``root`` then ``extra_roots`` (empty for synthetic data)."""
        return [] if self.root is None else [self.root, *self.extra_roots]


def load_clips(
    root: str | os.PathLike[str],
    split: str | None,
    image_size: int,
    *,
    max_clips: int | None = None,
    still: str = "neutral",
    clip_ids: Sequence[str] | None = None,
) -> list[VideoClip]:
    """Load clips of a prepared dataset into memory, crops resized to ``image_size``.

    Args:
        root: prepared dataset folder.
        split: ``"train"``, ``"val"``, ``"test"`` or None (all).
        image_size: side of the frames kept, pixels.
        max_clips: load at most this many (the first ones of the split).
        still: ``"neutral"`` or ``"first"`` (see :class:`E2EDataConfig`).
        clip_ids: load these clips instead of a split.

    Returns:
        The clips (those without crop video are skipped).
    """
    ds = PreparedDataset(root)
    ids = list(clip_ids) if clip_ids is not None else ds.ids(split)
    if max_clips is not None:
        ids = ids[:max_clips]
    clips = []
    for cid in ids:
        clip = load_clip(ds.clip_path(cid))
        if clip.crop_path is None:
            continue
        crops = clip.crops()
        if crops.shape[1] != image_size:
            crops = resize_frames(crops, image_size)
        t = crops.shape[0]
        n = int(round(t / clip.fps * clip.sample_rate))
        audio = np.zeros(n, np.float32)
        audio[: min(n, clip.audio.shape[0])] = clip.audio[:n]
        clips.append(VideoClip(
            clip_id=clip.clip_id, frames=crops, audio=audio,
            still_index=min(clip.neutral_index, t - 1) if still == "neutral" else 0,
            fps=clip.fps, sample_rate=clip.sample_rate, landmarks=clip.crop_landmarks[:t],
        ))
    return clips


def synthetic_clips(
    count: int,
    *,
    num_frames: int = 40,
    image_size: int = 32,
    fps: float = 25.0,
    sample_rate: int = 16000,
    seed: int = 0,
) -> list[VideoClip]:
    """Tiny synthetic talking faces: a face disc whose mouth opens with the audio's loudness.

    Each clip has its own skin tone and tone frequency; the audio is bursts of a tone, and the
    mouth (a dark ellipse in the lower half) opens in proportion to the burst envelope at each
    frame. The upper half never moves. For tests and smoke training.

    Args:
        count: number of clips.
        num_frames: frames per clip.
        image_size: frame side, pixels.
        fps: frames/s.
        sample_rate: Hz.
        seed: random seed.

    Returns:
        The clips (still = first frame, mouth closed).
    """
    import cv2

    rng = np.random.default_rng(seed)
    clips = []
    s = image_size
    n = int(round(num_frames / fps * sample_rate))
    time = np.arange(n) / sample_rate
    for i in range(count):
        env = np.zeros(n, np.float32)
        pos = 0.2
        while pos < time[-1] - 0.15:
            length = rng.uniform(0.12, 0.35)
            m = (time >= pos) & (time < pos + length)
            env[m] = np.sin(np.pi * (time[m] - pos) / length) ** 2
            pos += length + rng.uniform(0.08, 0.3)
        audio = (0.5 * env * np.sin(2 * np.pi * rng.uniform(150, 400) * time)).astype(np.float32)
        skin = rng.uniform(90, 230, size=3)
        bg = rng.uniform(0, 80, size=3)
        frames = np.empty((num_frames, s, s, 3), np.uint8)
        for t in range(num_frames):
            centre = int(round(t / fps * sample_rate))
            lo, hi = max(0, centre - sample_rate // 50), min(n, centre + sample_rate // 50 + 1)
            opening = float(env[lo:hi].mean()) if hi > lo else 0.0
            img = np.empty((s, s, 3), np.uint8)
            img[:] = bg.astype(np.uint8)
            cv2.ellipse(img, (s // 2, s // 2), (int(s * 0.38), int(s * 0.46)), 0, 0, 360, skin.tolist(), -1)
            for ex in (s // 2 - s // 6, s // 2 + s // 6):
                cv2.circle(img, (ex, int(s * 0.38)), max(1, s // 16), (20, 20, 20), -1)
            mouth_h = max(1, int(round(1 + opening * s * 0.12)))
            cv2.ellipse(img, (s // 2, int(s * 0.72)), (max(2, s // 7), mouth_h), 0, 0, 360, (60, 10, 10), -1)
            frames[t] = img
        clips.append(VideoClip(f"synthetic/{i:03d}", frames, audio, 0, fps, sample_rate))
    return clips


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 RGB frames ``(T, H, W, 3)`` to ``(T, size, size, 3)`` (area when shrinking)."""
    import cv2

    if frames.shape[1:3] == (size, size):
        return frames
    interp = cv2.INTER_AREA if frames.shape[1] > size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (size, size), interpolation=interp) for f in frames])


def _uniform(lo: float, hi: float, generator: torch.Generator | None, n: int = 1) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator)


def augment_identity(
    still: torch.Tensor, frames: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random identity change applied identically to a still and its frames.

    Colour: per-channel gain (0.85-1.15), brightness (+-0.1 of the range), contrast (0.7-1.3 about
    the still's mean grey), saturation (0.6-1.4) and hue (+-25 degrees, a rotation of the YIQ
    chroma plane); geometry: scale (0.93-1.07) and shift (+-4 % of the side), borders repeated.
    Every parameter is drawn once from ``generator`` (None: torch's global RNG), so the same seed
    gives the same change, and the still and every frame get exactly the same one.

    Args:
        still: ``(3, S, S)`` in [-1, 1].
        frames: ``(T, 3, S, S)`` in [-1, 1].
        generator: random source.

    Returns:
        The changed still and frames (same shapes, in [-1, 1]).
    """
    still, frames, _ = augment_with_masks(still, frames, None, generator)
    return still, frames


def augment_with_masks(
    still: torch.Tensor, frames: torch.Tensor, masks: torch.Tensor | None, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """:func:`augment_identity`, with per-frame masks sent through the same scale and shift.

    Args:
        still: ``(3, S, S)`` in [-1, 1].
        frames: ``(T, 3, S, S)`` in [-1, 1].
        masks: ``(T, 1, S, S)`` in [0, 1] (e.g. :func:`talkface.e2e.mouth.mouth_masks`), or None.
        generator: random source (the same draws as :func:`augment_identity`).

    Returns:
        The changed still, frames and masks (masks: zero where the warp reaches outside the frame).
    """
    gain = _uniform(0.85, 1.15, generator, 3)
    bright = float(_uniform(-0.1, 0.1, generator))
    contrast = float(_uniform(0.7, 1.3, generator))
    sat = float(_uniform(0.6, 1.4, generator))
    hue = float(_uniform(-25.0, 25.0, generator)) * math.pi / 180.0
    scale = float(_uniform(0.93, 1.07, generator))
    shift = _uniform(-0.04, 0.04, generator, 2) * 2.0  # normalised coordinates span 2
    x = torch.cat([still[None], frames], 0)  # (1 + T, 3, S, S)
    y = (x + 1.0) / 2.0 * gain[None, :, None, None]
    rgb2yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    yiq2rgb = torch.linalg.inv(rgb2yiq)
    c, s_ = math.cos(hue), math.sin(hue)
    chroma = torch.tensor([[1.0, 0.0, 0.0], [0.0, sat * c, -sat * s_], [0.0, sat * s_, sat * c]])
    colour = yiq2rgb @ chroma @ rgb2yiq
    y = torch.einsum("ij,njhw->nihw", colour, y)
    grey = (y[0] * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(0).mean()
    y = (y - grey) * contrast + grey + bright
    theta = torch.tensor([[1.0 / scale, 0.0, float(shift[0])], [0.0, 1.0 / scale, float(shift[1])]])
    grid = F.affine_grid(theta[None].expand(y.shape[0], 2, 3), list(y.shape), align_corners=False)
    y = F.grid_sample(y, grid, mode="bilinear", padding_mode="border", align_corners=False)
    out = (y.clamp(0.0, 1.0) * 2.0 - 1.0).contiguous()
    if masks is not None:
        masks = F.grid_sample(masks, grid[1:], mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[0], out[1:], masks


class SequenceDataset(Dataset[dict[str, torch.Tensor]]):
    """Random runs of frames of in-memory clips, with their audio windows and still.

    Args:
        clips: the clips.
        config: model config (image size, audio window, sample rate).
        min_frames, max_frames: run lengths are drawn per batch by :meth:`collate` in this range
            (and never longer than a clip); items carry up to ``max_frames`` frames.
        samples_per_clip: items per clip per epoch.
        mirror: random left-right flips.
        augment: random identity changes (:func:`augment_identity`) and audio gain.
        train: random runs and flips (False: whole clips, no flips, for validation).
        mouth_masks: add each frame's soft mouth mask (:func:`talkface.e2e.mouth.mouth_masks`, from
            the clip's landmarks, flipped and warped with the frames) as ``"mouth"`` ``(T, 1, S, S)``;
            clips without landmarks get zero masks.
    """

    def __init__(
        self,
        clips: Sequence[VideoClip],
        config: E2EConfig,
        *,
        min_frames: int = 16,
        max_frames: int = 32,
        samples_per_clip: int = 1,
        mirror: bool = True,
        augment: bool = False,
        train: bool = True,
        mouth_masks: bool = False,
    ) -> None:
        if not clips:
            raise ValueError("no clips to train on")
        self.clips = list(clips)
        self.config = config
        self.min_frames, self.max_frames = min_frames, max_frames
        self.samples_per_clip = samples_per_clip if train else 1
        self.mirror = mirror and train
        self.augment = augment and train
        self.train = train
        self.mouth_masks = mouth_masks
        for c in self.clips:
            if c.sample_rate != config.sample_rate:
                raise ValueError(f"{c.clip_id}: audio at {c.sample_rate} Hz, the model expects {config.sample_rate}")

    def __len__(self) -> int:
        return len(self.clips) * self.samples_per_clip

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        clip = self.clips[index % len(self.clips)]
        t_all = clip.num_frames
        if self.train:
            length = min(self.max_frames, t_all)
            start = int(torch.randint(0, t_all - length + 1, ()).item())
        else:
            length, start = t_all, 0
        windows = raw_windows(clip.audio, t_all, clip.fps, self.config.window_samples, clip.sample_rate)
        size = self.config.image_size
        frames = images_to_tensor(clip.frames[start : start + length], size)
        still = images_to_tensor(clip.frames[clip.still_index], size)
        masks = None
        if self.mouth_masks:
            if clip.landmarks is None:
                masks = torch.zeros(length, 1, size, size)
            else:
                drawn = mouth_masks(clip.landmarks[start : start + length], size, self.config.crop_size)
                masks = torch.from_numpy(drawn)[:, None]
        if self.mirror and bool(torch.rand(()) < 0.5):
            frames, still = frames.flip(-1), still.flip(-1)
            masks = masks.flip(-1) if masks is not None else None
        audio = torch.from_numpy(windows[start : start + length])
        if self.augment:
            still, frames, masks = augment_with_masks(still, frames, masks)
            audio = audio * float(2.0 ** (2.0 * torch.rand(()) - 1.0))  # gain 0.5-2
        item = {"still": still, "frames": frames, "audio": audio}
        if masks is not None:
            item["mouth"] = masks
        return item

    def collate(self, items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Stack items into a batch, all cut to one random length in ``[min_frames, max_frames]``.

        Each item is cut at a random offset, so all parts of the runs are used.
        """
        shortest = min(int(it["frames"].shape[0]) for it in items)
        if self.train:
            hi = min(self.max_frames, shortest)
            lo = min(self.min_frames, hi)
            length = int(torch.randint(lo, hi + 1, ()).item())
        else:
            length = shortest
        frames, audio, masks = [], [], []
        for it in items:
            off = int(torch.randint(0, int(it["frames"].shape[0]) - length + 1, ()).item()) if self.train else 0
            frames.append(it["frames"][off : off + length])
            audio.append(it["audio"][off : off + length])
            if "mouth" in it:
                masks.append(it["mouth"][off : off + length])
        batch = {
            "still": torch.stack([it["still"] for it in items]),
            "frames": torch.stack(frames),
            "audio": torch.stack(audio),
        }
        if masks:
            batch["mouth"] = torch.stack(masks)
        return batch


def _load_roots(
    roots: Sequence[str], split: str, image_size: int, max_clips: int | None, still: str, *, missing_ok: bool = False
) -> list[VideoClip]:
    """Clips of one split of several prepared datasets, at most ``max_clips`` in all.

    Raises:
        InputError: a dataset has no such split (unless ``missing_ok``), or a mangled one (named as by
            ``talkface evaluate``: what is wrong with its entry in ``splits.json``).
    """
    clips: list[VideoClip] = []
    for root in roots:
        left = None if max_clips is None else max_clips - len(clips)
        if left is not None and left <= 0:
            break
        PreparedDataset(root).check_split(split)
        try:
            clips += load_clips(root, split, image_size, max_clips=left, still=still)
        except KeyError as exc:
            if not missing_ok:
                raise InputError(root, f"no split {split!r}") from exc
    return clips


class E2EDataModule(L.LightningDataModule):
    """Lightning data of the temporal GAN (train: random runs; val: whole clips, batch 1).

    Args:
        config: what to load (:class:`E2EDataConfig`).
        model_config: the model's config (image size, audio window); its ``fps``/``sample_rate``
            must match the data.
        train_clips, val_clips: in-memory clips to use instead of loading ``config.root``.
    """

    def __init__(
        self,
        config: E2EDataConfig,
        model_config: E2EConfig,
        train_clips: Sequence[VideoClip] | None = None,
        val_clips: Sequence[VideoClip] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.model_config = model_config
        self.batch_size = 8  # set by talkface.train.core.fit from TrainConfig
        self.num_workers = 0
        self._train = list(train_clips) if train_clips is not None else None
        self._val = list(val_clips) if val_clips is not None else None

    def setup(self, stage: str | None = None) -> None:
        """Load the clips (once)."""
        cfg, mcfg = self.config, self.model_config
        if self._train is None:
            if cfg.root is None:
                self._train = synthetic_clips(cfg.synthetic, image_size=mcfg.image_size, fps=mcfg.fps,
                                              sample_rate=mcfg.sample_rate)
                self._val = self._val if self._val is not None else []
            else:
                self._train = _load_roots(cfg.roots, cfg.train_split, mcfg.image_size, cfg.max_train_clips, cfg.still)
                if not self._train:
                    raise InputError(cfg.root, f"no clips with face crops in split {cfg.train_split!r}")
        if self._val is None:
            self._val = []
            if cfg.max_val_clips != 0:
                self._val = _load_roots(cfg.roots, cfg.val_split, mcfg.image_size, cfg.max_val_clips, cfg.still,
                                        missing_ok=True)
        for c in self._train + self._val:
            if not math.isclose(c.fps, mcfg.fps, rel_tol=1e-3):
                raise ValueError(f"{c.clip_id}: {c.fps} fps, the model is configured for {mcfg.fps} fps")

    def _dataset(self, train: bool) -> SequenceDataset:
        cfg = self.config
        clips = self._train if train else self._val
        assert clips is not None, "call setup() first"
        return SequenceDataset(clips, self.model_config, min_frames=cfg.min_frames, max_frames=cfg.max_frames,
                               samples_per_clip=cfg.samples_per_clip, mirror=cfg.mirror, augment=cfg.augment,
                               train=train, mouth_masks=self.model_config.mouth_weight > 0)

    def train_dataloader(self) -> DataLoader[Any]:
        """Shuffled random runs, ``batch_size`` per batch."""
        ds = self._dataset(True)
        return DataLoader(ds, batch_size=min(self.batch_size, len(ds)), shuffle=True, drop_last=True,
                          collate_fn=ds.collate, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def val_dataloader(self) -> DataLoader[Any]:
        """Whole validation clips, one per batch."""
        if not self._val:
            return DataLoader(cast(Any, []))
        ds = self._dataset(False)
        return DataLoader(ds, batch_size=1, shuffle=False, collate_fn=ds.collate, num_workers=0)


def dataset_model_settings(root: str | os.PathLike[str], *more: str | os.PathLike[str]) -> dict[str, Any]:
    """Model-config fields that prepared datasets fix: ``fps``, ``sample_rate``, ``crop_size``.

    Args:
        root: prepared dataset folder.
        *more: further dataset folders, which must agree with ``root``.

    Raises:
        InputError: a folder is not a prepared dataset, or the datasets disagree.
    """
    settings: dict[str, Any] = {}
    for folder in (root, *more):
        ds = PreparedDataset(Path(folder))
        found = {"fps": ds.fps, "sample_rate": int(ds.meta.get("sample_rate", 16000)), "crop_size": ds.crop_size}
        if settings and found != settings:
            raise InputError(folder, f"dataset settings {found} differ from {os.fspath(root)}'s {settings}")
        settings = found
    return settings


def train_e2e(
    out_dir: str | os.PathLike[str],
    data_config: E2EDataConfig,
    model_config: E2EConfig | None = None,
    train_config: Any = None,
    *,
    train_clips: Sequence[VideoClip] | None = None,
    val_clips: Sequence[VideoClip] | None = None,
    init: str | os.PathLike[str] | None = None,
) -> Path:
    """Train the temporal GAN with the one training core (:func:`talkface.train.core.fit`).

    The model's ``fps``, ``sample_rate`` and ``crop_size`` are taken from the prepared dataset when
    ``data_config.root`` is set. Resumes from ``out_dir/last.ckpt`` if present.

    Args:
        out_dir: run folder (checkpoints, ``config.json``, ``metrics.csv``).
        data_config: the data (a prepared dataset, or synthetic clips when ``root`` is None).
        model_config: architecture and losses (None: the paper's, see :class:`E2EConfig`); pick an
            ablation with :func:`talkface.e2e.temporal_gan.ablation_config`.
        train_config: a :class:`talkface.train.core.TrainConfig` (None: defaults; its ``lr`` is the
            generator's learning rate, the paper's 2e-4).
        train_clips, val_clips: in-memory clips instead of loading ``data_config.root``.
        init: fine-tune: a temporal-GAN checkpoint (``.ckpt``) whose weights (generator and
            discriminators) start this run, with fresh optimisers at batch 0. Its architecture must
            equal ``model_config``'s; the loss settings (``l1_weight``, ``mask_weight``,
            ``mouth_weight``, ...) are ``model_config``'s. Ignored when ``out_dir/last.ckpt``
            exists (the run resumes from it).

    Returns:
        Path of ``out_dir/last.ckpt``.

    Raises:
        InputError: ``init`` is not a temporal-GAN checkpoint or its architecture differs.
    """
    from dataclasses import replace

    model_config = model_config if model_config is not None else E2EConfig()
    if data_config.root is not None and train_clips is None:
        model_config = replace(model_config, **dataset_model_settings(*data_config.roots))
    train_config = train_config if train_config is not None else TrainConfig()
    if train_config.num_threads is not None:
        torch.set_num_threads(train_config.num_threads)
    module = TemporalGAN(model_config)
    extra = None
    if init is not None and not (Path(out_dir) / "last.ckpt").exists():
        load_init_weights(module, init)
        extra = {"init": {"checkpoint": os.fspath(init)}}
    datamodule = E2EDataModule(data_config, model_config, train_clips, val_clips)
    return fit(module, datamodule, out_dir, train_config, extra_configs=extra)


#: E2EConfig fields that only set losses or learning rates: an ``init`` checkpoint may differ in them.
_LOSS_FIELDS = frozenset({
    "l1_weight", "l1_region", "mask_weight", "mouth_weight", "frame_samples", "lr_frame_discriminator",
    "lr_sequence_discriminator", "lr_decay_start_epoch", "lr_decay", "adam_betas",
})


def load_init_weights(module: TemporalGAN, init: str | os.PathLike[str]) -> None:
    """Copy a temporal-GAN checkpoint's weights into ``module`` (fine-tuning start; no optimiser state).

    Raises:
        InputError: ``init`` is unreadable, not a temporal-GAN checkpoint, or of another architecture.
    """
    from dataclasses import asdict

    try:
        ckpt = torch.load(os.fspath(init), map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise InputError(init, f"cannot read the checkpoint ({exc})") from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "config" not in ckpt.get("hyper_parameters", {}):
        raise InputError(init, "is not a temporal-GAN training checkpoint (.ckpt of talkface train e2e)")
    theirs = dict(ckpt["hyper_parameters"]["config"])
    ours = asdict(module.config)
    differ = sorted(k for k in ours if k not in _LOSS_FIELDS and k in theirs
                    and _as_plain(theirs[k]) != _as_plain(ours[k]))
    if differ:
        raise InputError(init, "has another architecture: " + ", ".join(
            f"{k}={theirs[k]!r} (this run: {ours[k]!r})" for k in differ))
    try:
        module.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise InputError(init, f"weights do not fit this model ({str(exc).splitlines()[0]})") from exc


def _as_plain(value: Any) -> Any:
    """Tuples as lists, so a config read back from JSON/YAML compares equal."""
    return list(value) if isinstance(value, tuple) else value
