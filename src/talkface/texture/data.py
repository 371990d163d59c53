"""Training data of the texture stage: (references, target landmark image, target frame) from prepared crops.

Frames come from prepared datasets (:class:`talkface.data.dataset.PreparedDataset`): the aligned face
crops of each clip and their landmarks in crop pixels. They are decoded once into memory
(:class:`FrameStore`; ``frames_per_clip`` and ``max_clips`` bound the memory: 75 frames of 128² RGB
take 3.7 MB per clip) and landmark images are drawn on the fly with
:func:`talkface.face.draw.draw_landmarks`.

One sample (a dict of tensors, images float32 in [-1, 1], channels first):

* ``reference_images`` (N, 3, S, S): N frames of the same speaker (the texture references I^n);
* ``reference_landmark_images`` (N, 3, S, S): their landmark images;
* ``landmark_image`` (3, S, S): landmark image of the target frame;
* ``image`` (3, S, S): the target frame I_t*;
* ``points`` (68, 2) float32: the target landmarks, crop pixels;
* ``reference_points`` (N, 68, 2) float32: the references' landmarks, crop pixels;
* with ``temporal``: ``prev_landmark_image``, ``prev_image``, ``prev_points`` of frame t-1.

MAML tasks (:class:`SpeakerTaskDataset`) are subjects (Das et al. Sec. 3.4): one task is one speaker's
N references and ``support_size`` (d_trn) + ``query_size`` (d_qry) target frames, returned as
``{"support": {... (d_trn, ...)}, "query": {... (d_qry, ...)}}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from talkface.data.dataset import PreparedDataset, load_clip
from talkface.face.align import canonical_face
from talkface.face.draw import draw_landmarks

__all__ = [
    "TextureDataConfig",
    "ClipFrames",
    "FrameStore",
    "landmark_image",
    "make_sample",
    "TextureFrameDataset",
    "SpeakerTaskDataset",
    "TextureDataModule",
    "collate",
    "choose_clips",
    "select_frames",
    "synthetic_store",
]


@dataclass
class TextureDataConfig:
    """Where the texture stage's frames come from and how samples are drawn.

    Attributes:
        roots: prepared dataset folders (``talkface preprocess`` output); their clips are pooled.
        train_split: split used for training.
        val_split: split used for validation (None: no validation).
        num_references: N reference images per sample (E_I input; the paper uses 5 at test time).
        frames_per_clip: keep this many evenly spaced frames of each clip (0: all).
        max_clips: at most this many clips per root and split, spread over the speakers (0: all).
        references_from: ``"speaker"``: references from any clip of the target's speaker;
            ``"clip"``: from the target's own clip.
        temporal: also return frame t-1 (temporal regularisation of the attention variant, eq. 12).
        balance_speakers: draw the speaker uniformly first, then one of its frames (otherwise frames
            are drawn uniformly, so speakers with many clips dominate); MAML tasks are always per speaker.
        samples_per_epoch: length of one training epoch (samples, or tasks for MAML).
        val_samples: number of (fixed) validation samples.
        support_size: d_trn, target frames per task in the MAML inner loop.
        query_size: d_qry, target frames per task for the MAML outer (query) loss.
        seed: seed of the validation samples and of clip selection.
    """

    roots: tuple[str, ...] = ()
    train_split: str = "train"
    val_split: str | None = "val"
    num_references: int = 1
    frames_per_clip: int = 0
    max_clips: int = 0
    references_from: str = "speaker"
    temporal: bool = False
    balance_speakers: bool = True
    samples_per_epoch: int = 4000
    val_samples: int = 32
    support_size: int = 4
    query_size: int = 4
    seed: int = 0


@dataclass
class ClipFrames:
    """Decoded frames of one clip.

    Attributes:
        clip_id: ``"<speaker>/<utterance>"``.
        speaker: speaker key (prefixed by the dataset index when several roots are pooled).
        frames: (F, S, S, 3) uint8 RGB crops.
        points: (F, 68, 2) float32 landmarks, crop pixels.
        targets: (M, 2) int64 rows ``(frame, previous frame or -1)`` indexing ``frames``.
        neutral: index in ``frames`` of the clip's neutral frame (or 0).
    """

    clip_id: str
    speaker: str
    frames: np.ndarray
    points: np.ndarray
    targets: np.ndarray
    neutral: int = 0


def _resize(frames: np.ndarray, points: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize (F, S, S, 3) crops and their points to ``size``."""
    s = frames.shape[1]
    if s == size:
        return frames, points
    out = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])
    k = size / s
    return out, ((points + 0.5) * k - 0.5).astype(np.float32)  # pixel centres at integers


def select_frames(num_frames: int, frames_per_clip: int, temporal: bool) -> tuple[np.ndarray, np.ndarray]:
    """Frames to keep of a clip and the target rows (frame, previous) into the kept list.

    Args:
        num_frames: T of the clip.
        frames_per_clip: targets to keep (0: all).
        temporal: also keep each target's previous frame.

    Returns:
        (kept frame indices into the clip (K,), (M, 2) rows ``(target, previous or -1)`` into ``kept``).
    """
    first = 1 if temporal and num_frames > 1 else 0
    if frames_per_clip and frames_per_clip < num_frames - first:
        targets = np.unique(np.linspace(first, num_frames - 1, frames_per_clip).round().astype(np.int64))
    else:
        targets = np.arange(first, num_frames, dtype=np.int64)
    wanted = np.union1d(targets, targets - 1) if temporal else targets
    wanted = wanted[wanted >= 0]
    pos = {int(f): i for i, f in enumerate(wanted)}
    rows = np.array([(pos[int(t)], pos.get(int(t) - 1, -1) if temporal else -1) for t in targets], dtype=np.int64)
    return wanted, rows.reshape(-1, 2)


class FrameStore:
    """In-memory frames of prepared clips, indexed by speaker.

    Args:
        clips: decoded clips.
    """

    def __init__(self, clips: Sequence[ClipFrames]) -> None:
        self.clips = list(clips)
        self.by_speaker: dict[str, list[int]] = {}
        for i, clip in enumerate(self.clips):
            self.by_speaker.setdefault(clip.speaker, []).append(i)
        self.targets = np.array(
            [(c, int(r[0]), int(r[1])) for c, clip in enumerate(self.clips) for r in clip.targets], dtype=np.int64
        ).reshape(-1, 3)
        self.image_size = int(self.clips[0].frames.shape[1]) if self.clips else 0

    @property
    def speakers(self) -> list[str]:
        """Speaker keys, sorted."""
        return sorted(self.by_speaker)

    def __len__(self) -> int:
        return len(self.targets)

    @classmethod
    def from_datasets(
        cls,
        roots: Sequence[str | os.PathLike[str]],
        split: str,
        image_size: int,
        frames_per_clip: int = 0,
        max_clips: int = 0,
        temporal: bool = False,
        seed: int = 0,
    ) -> FrameStore:
        """Decode the crops of a split of one or more prepared datasets.

        Args:
            roots: prepared dataset folders.
            split: ``"train"``, ``"val"`` or ``"test"``; a root without that split contributes nothing.
            image_size: side S to resize crops to (normally the datasets' ``crop_size``).
            frames_per_clip: keep this many evenly spaced target frames per clip (0: all).
            max_clips: at most this many clips per root (round-robin over speakers; 0: all).
            temporal: keep each target's previous frame too.
            seed: seed of the clip choice.

        Returns:
            The store (possibly empty).
        """
        clips: list[ClipFrames] = []
        for r, root in enumerate(roots):
            ds = PreparedDataset(root)
            if split not in ds.splits:
                continue
            ids = choose_clips(ds.ids(split), max_clips, seed)
            for clip_id in ids:
                clip = load_clip(ds.clip_path(clip_id))
                if clip.crop_path is None:
                    continue
                crops = clip.crops()
                t = min(len(crops), clip.num_frames)
                kept, rows = select_frames(t, frames_per_clip, temporal)
                if len(rows) == 0:
                    continue
                frames, points = _resize(crops[kept], clip.crop_landmarks[kept].astype(np.float32), image_size)
                neutral = int(np.argmin(np.abs(kept - clip.neutral_index)))
                speaker = clip.speaker if len(roots) == 1 else f"{r}:{clip.speaker}"
                clips.append(ClipFrames(clip.clip_id, speaker, frames, points, rows, neutral))
        return cls(clips)


def choose_clips(ids: Sequence[str], max_clips: int, seed: int) -> list[str]:
    """Up to ``max_clips`` clip ids, taken round-robin over speakers in a seeded order (all if 0)."""
    if not max_clips or max_clips >= len(ids):
        return list(ids)
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[str]] = {}
    for cid in ids:
        by_speaker.setdefault(cid.split("/")[0], []).append(cid)
    queues = {s: list(rng.permutation(v)) for s, v in sorted(by_speaker.items())}
    out: list[str] = []
    while len(out) < max_clips:
        for s in sorted(queues):
            if queues[s] and len(out) < max_clips:
                out.append(str(queues[s].pop()))
    return sorted(out)


def landmark_image(points: np.ndarray, size: int) -> np.ndarray:
    """(68, 2) crop-pixel landmarks -> (size, size, 3) uint8 landmark image (line width grows with size)."""
    return draw_landmarks(points, size, thickness=max(1, size // 128))


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """(..., S, S, 3) uint8 -> (..., 3, S, S) float32 in [-1, 1]."""
    return (torch.from_numpy(np.ascontiguousarray(images)).float() / 127.5 - 1.0).movedim(-1, -3).contiguous()


def make_sample(
    target_frame: np.ndarray,
    target_points: np.ndarray,
    reference_frames: np.ndarray,
    reference_points: np.ndarray,
    previous: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, torch.Tensor]:
    """One training sample from arrays.

    Args:
        target_frame: (S, S, 3) uint8 target crop.
        target_points: (68, 2) float32 its landmarks, crop pixels.
        reference_frames: (N, S, S, 3) uint8 reference crops.
        reference_points: (N, 68, 2) float32 their landmarks.
        previous: optional (frame, points) of frame t-1.

    Returns:
        The sample dict described in the module docstring.
    """
    size = target_frame.shape[0]
    sample = {
        "reference_images": _to_tensor(reference_frames),
        "reference_landmark_images": _to_tensor(np.stack([landmark_image(p, size) for p in reference_points])),
        "landmark_image": _to_tensor(landmark_image(target_points, size)),
        "image": _to_tensor(target_frame),
        "points": torch.from_numpy(np.asarray(target_points, dtype=np.float32).copy()),
        "reference_points": torch.from_numpy(np.asarray(reference_points, dtype=np.float32).copy()),
    }
    if previous is not None:
        sample["prev_landmark_image"] = _to_tensor(landmark_image(previous[1], size))
        sample["prev_image"] = _to_tensor(previous[0])
        sample["prev_points"] = torch.from_numpy(np.asarray(previous[1], dtype=np.float32).copy())
    return sample


def _rng(fixed_seed: int | None, index: int) -> np.random.Generator:
    """Fixed per-index generator (validation) or one drawn from torch's seeded RNG (training)."""
    if fixed_seed is not None:
        return np.random.default_rng([fixed_seed, index])
    return np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))


class _StoreSampler:
    """Shared sampling logic over a :class:`FrameStore`."""

    def __init__(self, store: FrameStore, config: TextureDataConfig) -> None:
        if len(store) == 0:
            raise ValueError("no frames to sample from (empty split?)")
        self.store = store
        self.config = config

    def references(self, rng: np.random.Generator, clip_index: int, exclude: int | None) -> list[tuple[int, int]]:
        """(clip, frame) pairs of N references for a target in ``clip_index``."""
        clip = self.store.clips[clip_index]
        same_clip = self.config.references_from == "clip"
        pool = [clip_index] if same_clip else self.store.by_speaker[clip.speaker]
        refs = []
        for _ in range(self.config.num_references):
            c = int(pool[rng.integers(len(pool))])
            n = len(self.store.clips[c].frames)
            f = int(rng.integers(n))
            if c == clip_index and f == exclude and n > 1:
                f = (f + 1 + int(rng.integers(n - 1))) % n
            refs.append((c, f))
        return refs

    def sample(
        self, clip_index: int, frame: int, prev: int, refs: Sequence[tuple[int, int]]
    ) -> dict[str, torch.Tensor]:
        """Build the sample of a target and references."""
        clip = self.store.clips[clip_index]
        ref_frames = np.stack([self.store.clips[c].frames[f] for c, f in refs])
        ref_points = np.stack([self.store.clips[c].points[f] for c, f in refs])
        previous = None
        if self.config.temporal:
            p = prev if prev >= 0 else frame
            previous = (clip.frames[p], clip.points[p])
        return make_sample(clip.frames[frame], clip.points[frame], ref_frames, ref_points, previous)


class TextureFrameDataset(Dataset[dict[str, torch.Tensor]]):
    """Random (references, target) samples from a :class:`FrameStore`.

    Args:
        store: the frames.
        config: sampling settings.
        length: number of samples per epoch.
        fixed_seed: if given, sample ``i`` is always the same (validation); else random per call.
    """

    def __init__(
        self, store: FrameStore, config: TextureDataConfig, length: int, fixed_seed: int | None = None
    ) -> None:
        self.sampler = _StoreSampler(store, config)
        self.length = length
        self.fixed_seed = fixed_seed
        self.speaker_rows = [np.flatnonzero(np.isin(store.targets[:, 0], store.by_speaker[s])) for s in store.speakers]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = _rng(self.fixed_seed, index)
        store = self.sampler.store
        if self.sampler.config.balance_speakers:
            rows = self.speaker_rows[int(rng.integers(len(self.speaker_rows)))]
            row = int(rows[rng.integers(len(rows))])
        else:
            row = int(rng.integers(len(store)))
        c, f, p = (int(x) for x in store.targets[row])
        return self.sampler.sample(c, f, p, self.sampler.references(rng, c, f))


class SpeakerTaskDataset(Dataset[dict[str, dict[str, torch.Tensor]]]):
    """MAML tasks: one speaker's references, d_trn support and d_qry query samples.

    Args:
        store: the frames (two or more speakers make the task distribution).
        config: sampling settings (``support_size``, ``query_size``, ``num_references``).
        length: number of tasks per epoch.
        fixed_seed: fixed tasks per index (validation) if given.
    """

    def __init__(
        self, store: FrameStore, config: TextureDataConfig, length: int, fixed_seed: int | None = None
    ) -> None:
        self.sampler = _StoreSampler(store, config)
        self.length = length
        self.fixed_seed = fixed_seed
        self.speaker_targets: dict[str, np.ndarray] = {}
        for speaker, clip_ids in store.by_speaker.items():
            mask = np.isin(store.targets[:, 0], clip_ids)
            self.speaker_targets[speaker] = store.targets[mask]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, dict[str, torch.Tensor]]:
        rng = _rng(self.fixed_seed, index)
        speakers = self.sampler.store.speakers
        speaker = speakers[int(rng.integers(len(speakers)))]
        targets = self.speaker_targets[speaker]
        d_trn, d_qry = self.sampler.config.support_size, self.sampler.config.query_size
        rows = targets[rng.choice(len(targets), d_trn + d_qry, replace=len(targets) < d_trn + d_qry)]
        first = self.sampler.store.by_speaker[speaker][0]
        refs = self.sampler.references(rng, first, None)  # one reference set for the whole task
        samples = [self.sampler.sample(int(c), int(f), int(p), refs) for c, f, p in rows]
        return {"support": collate(samples[:d_trn]), "query": collate(samples[d_trn:])}


def collate(samples: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack a list of sample dicts into a batch dict."""
    return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}


class TextureDataModule(L.LightningDataModule):
    """Frames of prepared datasets for :class:`talkface.texture.tgan.TextureGAN` (or MAML tasks).

    Args:
        config: data settings (``config.roots`` must be non-empty unless stores are given).
        image_size: crop side the model works at (crops are resized if the datasets differ).
        meta: yield :class:`SpeakerTaskDataset` tasks (batch = tasks) instead of samples.
        batch_size: samples (or tasks) per batch; :func:`talkface.train.core.fit` sets it.
        num_workers: data-loader workers; set by ``fit``.
        train_store, val_store: already built stores (tests, experiments) instead of ``roots``.
    """

    def __init__(
        self,
        config: TextureDataConfig,
        image_size: int = 128,
        meta: bool = False,
        batch_size: int = 8,
        num_workers: int = 0,
        train_store: FrameStore | None = None,
        val_store: FrameStore | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.image_size = image_size
        self.meta = meta
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.train_store = train_store
        self.val_store = val_store

    def _store(self, split: str) -> FrameStore:
        c = self.config
        return FrameStore.from_datasets(
            c.roots, split, self.image_size, c.frames_per_clip, c.max_clips, c.temporal, c.seed
        )

    def setup(self, stage: str | None = None) -> None:
        """Decode the frames of the train (and val) split once."""
        if self.train_store is None:
            self.train_store = self._store(self.config.train_split)
        if self.val_store is None and self.config.val_split:
            store = self._store(self.config.val_split)
            self.val_store = store if len(store) else None

    def _dataset(self, store: FrameStore, length: int, fixed_seed: int | None) -> Dataset[Any]:
        if self.meta:
            return SpeakerTaskDataset(store, self.config, length, fixed_seed)
        return TextureFrameDataset(store, self.config, length, fixed_seed)

    def train_dataloader(self) -> DataLoader[Any]:
        """Random samples (tasks), ``samples_per_epoch`` per epoch."""
        assert self.train_store is not None, "call setup() first"
        ds = self._dataset(self.train_store, self.config.samples_per_epoch, None)
        return DataLoader(
            ds, batch_size=self.batch_size, num_workers=self.num_workers, persistent_workers=self.num_workers > 0
        )

    def val_dataloader(self) -> DataLoader[Any]:
        """Fixed validation samples (empty list of batches if there is no validation split)."""
        if self.val_store is None:
            return DataLoader(_Empty(), batch_size=1)
        ds = self._dataset(self.val_store, self.config.val_samples, self.config.seed)
        return DataLoader(ds, batch_size=self.batch_size, num_workers=0)


class _Empty(Dataset[Any]):
    def __len__(self) -> int:
        return 0

    def __getitem__(self, index: int) -> Any:
        raise IndexError(index)


def synthetic_store(
    num_speakers: int = 2,
    clips_per_speaker: int = 1,
    frames: int = 6,
    size: int = 32,
    seed: int = 0,
    temporal: bool = False,
) -> FrameStore:
    """A tiny store of synthetic faces (tests, smoke runs): each speaker a colour, the mouth opening over time.

    Args:
        num_speakers: number of speakers.
        clips_per_speaker: clips per speaker.
        frames: frames per clip.
        size: crop side, pixels.
        seed: random seed.
        temporal: keep previous frames for temporal pairs.

    Returns:
        A :class:`FrameStore` whose frames are filled ellipses with a darker mouth that opens and closes.
    """
    rng = np.random.default_rng(seed)
    ref = canonical_face().astype(np.float64)
    ref = (ref - ref.mean(axis=0)) / (ref.max(axis=0) - ref.min(axis=0)).max()
    clips: list[ClipFrames] = []
    for s in range(num_speakers):
        colour = rng.integers(60, 230, size=3)
        for c in range(clips_per_speaker):
            imgs, pts = [], []
            for t in range(frames):
                lm = ref * size * 0.6 + size / 2
                open_ = 0.5 * (1 - np.cos(2 * np.pi * t / max(frames, 2))) * size * 0.06
                lm[57:60, 1] += open_
                lm[65:68, 1] += open_
                lm[6:11, 1] += open_ * 0.5
                img = np.full((size, size, 3), 20, np.uint8)
                hull = cv2.convexHull(lm[:27].astype(np.float32)).astype(np.int32)
                cv2.fillConvexPoly(img, hull, tuple(int(v) for v in colour))
                mouth = cv2.convexHull(lm[48:60].astype(np.float32)).astype(np.int32)
                cv2.fillConvexPoly(img, mouth, tuple(int(v) // 3 for v in colour))
                imgs.append(img)
                pts.append(lm.astype(np.float32))
            kept, rows = select_frames(frames, 0, temporal)
            clips.append(ClipFrames(f"s{s}/c{c}", f"s{s}", np.stack(imgs)[kept], np.stack(pts)[kept], rows, 0))
    return FrameStore(clips)
