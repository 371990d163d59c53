"""Data modules for the motion stage: l-GAN sequences and blink windows from prepared datasets.

Ground truth (Das et al. Sec. 4.2, identity paper Sec. IV): each clip's pose-free landmarks
(``Clip.canonical``, head motion removed by a similarity fit on stable points) are moved onto the
dataset's mean neutral face with :func:`talkface.motion.retarget.to_canonical`, relative to the
clip's own neutral frame. The result is speaker-independent motion around one canonical neutral
face, which both G_L (speech points) and G_B (eye region) learn.

Several prepared datasets can be combined (``roots``); they must share fps and speech feature. Their
canonical neutral face is the mean (generalised Procrustes) of their mean faces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from talkface.audio.windows import frame_windows
from talkface.data.dataset import PreparedDataset
from talkface.errors import InputError
from talkface.face.align import mean_face
from talkface.face.geometry import EYE_POINTS, SPEECH_POINTS
from talkface.motion.pca import fit_pca
from talkface.motion.retarget import to_canonical
from talkface.motion.stats import BlinkStatistics, MotionStatistics

__all__ = [
    "BlinkDataConfig",
    "BlinkDataModule",
    "BlinkWindows",
    "LGANDataModule",
    "MotionClip",
    "MotionDataConfig",
    "MotionSequences",
    "canonical_neutral_of",
    "load_motion_clips",
    "open_datasets",
]


@dataclass
class MotionClip:
    """One clip's motion training data.

    Attributes:
        clip_id: ``"<speaker>/<utterance>"``.
        features: (T, D) float16 speech features per video frame.
        landmarks: (T, 68, 2) float32 canonical ground truth around the common neutral face.
    """

    clip_id: str
    features: np.ndarray
    landmarks: np.ndarray


def open_datasets(roots: tuple[str, ...]) -> list[PreparedDataset]:
    """Open prepared datasets and check they agree on fps and speech feature.

    Raises:
        InputError: a folder is not a prepared dataset, or the datasets disagree.
    """
    if not roots:
        raise ValueError("no prepared dataset given (roots is empty)")
    datasets = [PreparedDataset(r) for r in roots]
    first = datasets[0]
    for ds in datasets[1:]:
        if ds.fps != first.fps or ds.feature_name != first.feature_name or ds.feature_dim != first.feature_dim:
            raise InputError(
                ds.root,
                f"dataset has {ds.feature_name} ({ds.feature_dim}-d) at {ds.fps} fps but {first.root} has "
                f"{first.feature_name} ({first.feature_dim}-d) at {first.fps} fps",
            )
    return datasets


def canonical_neutral_of(datasets: list[PreparedDataset]) -> np.ndarray:
    """The common canonical neutral face: (68, 2) float32 GPA mean of the datasets' mean faces."""

    return mean_face(np.stack([ds.mean_face() for ds in datasets]))


def load_motion_clips(
    datasets: list[PreparedDataset],
    split: str | None,
    canonical_neutral: np.ndarray,
    max_clips: int | None = None,
    min_frames: int = 2,
) -> list[MotionClip]:
    """Load a split's clips as motion ground truth (see module doc).

    Args:
        datasets: prepared datasets.
        split: ``"train"``, ``"val"`` or ``"test"`` (datasets without that split contribute nothing);
            None for every clip.
        canonical_neutral: (68, 2) the common canonical neutral face.
        max_clips: keep at most this many clips per dataset (None: all).
        min_frames: skip clips shorter than this.

    Returns:
        The clips, in dataset then split order.
    """
    out: list[MotionClip] = []
    for ds in datasets:
        if split is not None and split not in ds.splits:
            continue
        for n, clip in enumerate(ds.clips(split)):
            if max_clips is not None and n >= max_clips:
                break
            if clip.num_frames < min_frames:
                continue
            gt = to_canonical(clip.canonical, clip.canonical[clip.neutral_index], canonical_neutral)
            out.append(MotionClip(clip.clip_id, clip.features.astype(np.float16), gt))
    return out


@dataclass
class MotionDataConfig:
    """Data for the l-GAN.

    Attributes:
        roots: prepared dataset folders.
        sequence_length: L, consecutive frames per training sample (the temporal losses need L >= 2).
        stride: frames between the starts of two training sequences of a clip.
        window: Δt, speech-feature frames per generated frame (must equal the model's).
        window_align: ``"centre"`` or ``"end"`` (must equal the model's).
        train_split: split to train on.
        val_split: split to validate on (skipped when no dataset has it).
        max_clips: at most this many clips per dataset and split (None: all).
        batch_size: sequences per batch (set by :func:`talkface.train.core.fit`).
        num_workers: loader workers (set by :func:`talkface.train.core.fit`).
    """

    roots: tuple[str, ...] = ()
    sequence_length: int = 16
    stride: int = 4
    window: int = 6
    window_align: Literal["centre", "end"] = "centre"
    train_split: str = "train"
    val_split: str = "val"
    max_clips: int | None = None
    batch_size: int = 32
    num_workers: int = 0


class MotionSequences(Dataset[dict[str, torch.Tensor]]):
    """Sequences of L consecutive frames: speech windows and canonical ground truth.

    Item: ``{"windows": (L, Δt, D) float32, "landmarks": (L, 68, 2) float32}``.

    Args:
        clips: the clips.
        sequence_length: L (clips shorter than L are skipped).
        stride: frames between sequence starts.
        window: Δt.
        window_align: ``"centre"`` or ``"end"``.
    """

    def __init__(
        self,
        clips: list[MotionClip],
        sequence_length: int,
        stride: int,
        window: int,
        window_align: Literal["centre", "end"] = "centre",
    ) -> None:
        self.length = sequence_length
        self.window = window
        self.window_align: Literal["centre", "end"] = window_align
        self.clips = clips
        self.index = [
            (i, s)
            for i, c in enumerate(clips)
            for s in range(0, c.landmarks.shape[0] - sequence_length + 1, max(1, stride))
        ]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        i, s = self.index[item]
        clip = self.clips[i]
        # windows are cut per item (storing them would take Δt times the features' memory): the
        # slice holds exactly the frames the L windows need, clamped at the clip's ends, where
        # frame_windows' edge padding then equals that of the whole clip
        before = self.window // 2 if self.window_align == "centre" else self.window - 1
        after = self.window - 1 - before
        lo, hi = max(0, s - before), min(len(clip.features), s + self.length + after)
        windows = frame_windows(clip.features[lo:hi], self.window, self.window_align)
        start = s - lo
        return {
            "windows": torch.from_numpy(windows[start : start + self.length].astype(np.float32)),
            "landmarks": torch.from_numpy(clip.landmarks[s : s + self.length]),
        }


class LGANDataModule(L.LightningDataModule):
    """l-GAN training data from prepared datasets.

    Call :meth:`setup` (``fit`` does) before :meth:`statistics`.

    Args:
        config: :class:`MotionDataConfig`.
    """

    def __init__(self, config: MotionDataConfig) -> None:
        super().__init__()
        self.config = config
        self.batch_size = config.batch_size
        self.num_workers = config.num_workers
        self.datasets = open_datasets(config.roots)
        self.canonical_neutral = canonical_neutral_of(self.datasets)
        self.train_clips: list[MotionClip] | None = None
        self.val_clips: list[MotionClip] = []

    @property
    def feature_name(self) -> str:
        """Speech feature of the data."""
        return self.datasets[0].feature_name

    @property
    def feature_dim(self) -> int:
        """Size D of the speech feature."""
        return self.datasets[0].feature_dim

    @property
    def fps(self) -> float:
        """Video frame rate of the data."""
        return self.datasets[0].fps

    def setup(self, stage: str | None = None) -> None:
        """Load the clips (once)."""
        cfg = self.config
        if self.train_clips is None:
            self.train_clips = load_motion_clips(
                self.datasets, cfg.train_split, self.canonical_neutral, cfg.max_clips, cfg.sequence_length
            )
            if not self.train_clips:
                raise InputError(cfg.roots[0], f"no {cfg.train_split} clips of at least {cfg.sequence_length} frames")
            self.val_clips = load_motion_clips(
                self.datasets, cfg.val_split, self.canonical_neutral, cfg.max_clips, cfg.sequence_length
            )

    def statistics(self, variance: float = 0.99, max_components: int = 33) -> MotionStatistics:
        """Canonical neutral face, feature mean/std and displacement PCA of the training clips.

        Args:
            variance: variance the PCA keeps.
            max_components: at most this many components (the model's code size).
        """
        self.setup()
        assert self.train_clips is not None
        feats = np.concatenate([c.features for c in self.train_clips]).astype(np.float64)
        disp = np.concatenate([c.landmarks for c in self.train_clips]) - self.canonical_neutral
        speech = disp[:, list(SPEECH_POINTS)].reshape(len(disp), -1)
        # deterministic subsample keeps the SVD cheap on big datasets
        step = max(1, len(speech) // 200_000)
        return MotionStatistics(
            canonical_neutral=self.canonical_neutral.astype(np.float32),
            feature_mean=feats.mean(0).astype(np.float32),
            feature_std=np.maximum(feats.std(0), 1e-3).astype(np.float32),
            pca=fit_pca(speech[::step], variance=variance, max_components=max_components),
        )

    def _dataset(self, clips: list[MotionClip], stride: int) -> MotionSequences:
        cfg = self.config
        return MotionSequences(clips, cfg.sequence_length, stride, cfg.window, cfg.window_align)

    def train_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        """Shuffled training sequences (drop_last)."""
        self.setup()
        assert self.train_clips is not None
        return DataLoader(
            self._dataset(self.train_clips, self.config.stride),
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        """Validation sequences (non-overlapping)."""
        self.setup()
        return DataLoader(
            self._dataset(self.val_clips, self.config.sequence_length),
            batch_size=self.batch_size,
            num_workers=self.num_workers,
        )


@dataclass
class BlinkDataConfig:
    """Data for the blink generator.

    Attributes:
        roots: prepared dataset folders.
        sequence_length: frames per window (Sec. 4.2: 75); shorter clips are skipped.
        stride: frames between window starts within a clip.
        train_split: split to train on.
        val_split: split to validate on.
        max_clips: at most this many clips per dataset and split.
        batch_size: windows per batch (set by :func:`talkface.train.core.fit`).
        num_workers: loader workers.
        blink_points: the landmarks of the eye region (22, brows and eyes).
    """

    roots: tuple[str, ...] = ()
    sequence_length: int = 75
    stride: int = 25
    train_split: str = "train"
    val_split: str = "val"
    max_clips: int | None = None
    batch_size: int = 64
    num_workers: int = 0
    blink_points: tuple[int, ...] = field(default_factory=lambda: EYE_POINTS)


class BlinkWindows(Dataset[dict[str, torch.Tensor]]):
    """Windows of eye-region displacements.

    Item: ``{"eyes": (L, 22, 2) float32}`` displacement from the canonical neutral face.

    Args:
        clips: the clips (canonical ground truth).
        canonical_neutral: (68, 2) the neutral face.
        sequence_length: L.
        stride: frames between window starts.
    """

    def __init__(
        self, clips: list[MotionClip], canonical_neutral: np.ndarray, sequence_length: int, stride: int
    ) -> None:
        idx = list(EYE_POINTS)
        windows = [
            c.landmarks[s : s + sequence_length, idx] - canonical_neutral[idx]
            for c in clips
            for s in range(0, c.landmarks.shape[0] - sequence_length + 1, max(1, stride))
        ]
        self.eyes = (
            np.stack(windows).astype(np.float32) if windows else np.zeros((0, sequence_length, len(idx), 2), np.float32)
        )

    def __len__(self) -> int:
        return int(self.eyes.shape[0])

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        return {"eyes": torch.from_numpy(self.eyes[item])}


class BlinkDataModule(L.LightningDataModule):
    """Blink-generator training data (eye-region displacement windows).

    Args:
        config: :class:`BlinkDataConfig`.
    """

    def __init__(self, config: BlinkDataConfig) -> None:
        super().__init__()
        self.config = config
        self.batch_size = config.batch_size
        self.num_workers = config.num_workers
        self.datasets = open_datasets(config.roots)
        self.canonical_neutral = canonical_neutral_of(self.datasets)
        self.train_set: BlinkWindows | None = None
        self.val_set: BlinkWindows | None = None

    @property
    def fps(self) -> float:
        """Video frame rate of the data."""
        return self.datasets[0].fps

    def setup(self, stage: str | None = None) -> None:
        """Load the clips and cut the windows (once)."""
        cfg = self.config
        if self.train_set is None:
            clips = load_motion_clips(self.datasets, cfg.train_split, self.canonical_neutral, cfg.max_clips)
            self.train_set = BlinkWindows(clips, self.canonical_neutral, cfg.sequence_length, cfg.stride)
            if len(self.train_set) == 0:
                raise InputError(cfg.roots[0], f"no {cfg.train_split} clips of at least {cfg.sequence_length} frames")
            val = load_motion_clips(self.datasets, cfg.val_split, self.canonical_neutral, cfg.max_clips)
            self.val_set = BlinkWindows(val, self.canonical_neutral, cfg.sequence_length, cfg.sequence_length)

    def statistics(self, variance: float = 0.99, max_components: int = 16) -> BlinkStatistics:
        """PCA, scale, kernel bandwidth bases and range targets of the training windows.

        Args:
            variance: variance the PCA keeps.
            max_components: at most this many components (the model's ``code_dim``).
        """
        self.setup()
        assert self.train_set is not None
        eyes = self.train_set.eyes.astype(np.float64)  # (N, L, 22, 2)
        n, length = eyes.shape[:2]
        frames = eyes.reshape(n * length, -1)
        scale = float(max(frames.std(), 1e-6))
        scaled = eyes.reshape(n, length, -1) / scale
        rng = np.random.default_rng(0)
        seq = scaled.reshape(n, -1)[rng.permutation(n)[:512]]
        fr = scaled.reshape(n * length, -1)[rng.permutation(n * length)[:2048]]
        return BlinkStatistics(
            canonical_neutral=self.canonical_neutral.astype(np.float32),
            pca=fit_pca(frames, variance=variance, max_components=max_components),
            scale=scale,
            sequence_d2=_median_d2(seq),
            frame_d2=_median_d2(fr),
            range_max=scaled.max(axis=1).mean(0).astype(np.float32),
            range_min=scaled.min(axis=1).mean(0).astype(np.float32),
        )

    def train_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        """Shuffled windows (drop_last)."""
        self.setup()
        assert self.train_set is not None
        return DataLoader(
            self.train_set,
            batch_size=min(self.batch_size, len(self.train_set)),
            shuffle=True,
            drop_last=True,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        """Validation windows."""
        self.setup()
        assert self.val_set is not None
        return DataLoader(self.val_set, batch_size=self.batch_size, num_workers=self.num_workers)


def _median_d2(x: np.ndarray) -> float:
    """Median squared Euclidean distance between distinct rows of (N, F) data (1.0 if N < 2)."""
    from scipy.spatial.distance import pdist

    if len(x) < 2:
        return 1.0
    return float(max(np.median(pdist(x, "sqeuclidean")), 1e-6))
