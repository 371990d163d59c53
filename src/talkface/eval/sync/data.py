"""Training data of the sync model: clips of a prepared dataset in memory, random training items.

:func:`prepare_sync_arrays` turns a split into :class:`SyncClip` objects (mouth crops, log-mel,
speech at 25 fps); :class:`_SyncItems` draws endless training items from them: K + 4 mouth frames
and the audio of the K windows shifted by up to +-``max_offset`` frames (the hard negatives of the
InfoNCE loss of :class:`talkface.eval.sync.module.SyncNetModule`), with the augmentations of
:class:`SyncNetDataConfig`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from talkface.data.dataset import PreparedDataset, load_clip
from talkface.eval.sync.inputs import (
    AUDIO_SAMPLE_RATE,
    MAX_OFFSET,
    MEL_PER_FRAME,
    log_mel,
    mouth_crops_from_aligned,
    resample_to_sync_fps,
)
from talkface.eval.sync.network import SyncNetConfig


@dataclass
class SyncNetDataConfig:
    """Sampling of training items.

    Attributes:
        windows_per_item: consecutive video windows per item (they share frames).
        max_offset: the same clip's audio is taken this many frames around each item (hard negatives).
        flip: randomly mirror mouth crops left-right.
        shift_px: random translation of the mouth crops, up to this many pixels.
        brightness: random gain/offset of the grey levels (relative).
        mel_noise: std of Gaussian noise added to the normalised log-mel.
        freq_mask: masks up to this many consecutive mel bands (SpecAugment-style); 0 disables.
    """

    windows_per_item: int = 8
    max_offset: int = MAX_OFFSET
    flip: bool = True
    shift_px: int = 3
    brightness: float = 0.2
    mel_noise: float = 0.1
    freq_mask: int = 6


@dataclass
class SyncClip:
    """One clip ready for sync training and validation, at 25 fps.

    Attributes:
        clip_id: ``"<speaker>/<utterance>"``.
        mouths: (T, h, w) uint8 grey mouth crops.
        mel: (M, n_mels) float16 :func:`log_mel` of ``audio``.
        audio: (N,) int16 speech at :data:`AUDIO_SAMPLE_RATE`.
    """

    clip_id: str
    mouths: np.ndarray
    mel: np.ndarray
    audio: np.ndarray

    def audio_float(self) -> np.ndarray:
        """(N,) float32 speech in [-1, 1]."""
        return self.audio.astype(np.float32) / 32767.0


def prepare_sync_arrays(
    dataset_root: str | os.PathLike[str],
    split: str,
    config: SyncNetConfig | None = None,
    limit: int | None = None,
    exclude: Sequence[str] = (),
) -> list[SyncClip]:
    """Mouth crops, log-mel and speech of the clips of one split of a prepared dataset.

    Args:
        dataset_root: A folder written by ``talkface preprocess`` (with the crop videos).
        split: ``"train"``, ``"val"`` or ``"test"``.
        config: Model config (mouth size, mel bands).
        limit: Use at most this many clips (the first of the split).
        exclude: Utterance names (the part of the clip id after the last ``/``) to leave out, e.g. clips
            that tests or benchmarks use.

    Returns:
        One :class:`SyncClip` per clip with crops and at least 36 frames (at 25 fps).
    """
    import librosa

    cfg = config or SyncNetConfig()
    ds = PreparedDataset(dataset_root)
    out: list[SyncClip] = []
    skip = set(exclude)
    ids = [i for i in ds.ids(split) if i.rsplit("/", 1)[-1] not in skip]
    for clip_id in ids[:limit]:
        clip = load_clip(ds.clip_path(clip_id))
        if clip.crop_path is None:
            continue
        crops = clip.crops()
        crops = crops[resample_to_sync_fps(crops.shape[0], clip.fps)]
        if crops.shape[0] < 5 + 2 * MAX_OFFSET + 1:
            continue
        audio = clip.audio.astype(np.float32)
        if clip.sample_rate != AUDIO_SAMPLE_RATE:
            audio = librosa.resample(audio, orig_sr=clip.sample_rate, target_sr=AUDIO_SAMPLE_RATE)
        out.append(
            SyncClip(
                clip_id=clip_id,
                mouths=mouth_crops_from_aligned(crops, cfg.mouth_size),
                mel=log_mel(audio, AUDIO_SAMPLE_RATE, cfg.n_mels).astype(np.float16),
                audio=np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16),
            )
        )
    return out


class _SyncItems(torch.utils.data.IterableDataset):
    """Endless random training items: K + 4 mouth frames and the audio of K + 2 max_offset windows."""

    def __init__(self, clips: Sequence[SyncClip], config: SyncNetDataConfig, seed: int, audio_context: int = 0) -> None:
        super().__init__()
        need = config.windows_per_item + 4 + 2 * config.max_offset + 2 * audio_context
        self.clips = [c for c in clips if min(c.mouths.shape[0], c.mel.shape[0] // MEL_PER_FRAME) >= need]
        if not self.clips:
            raise ValueError(f"no clip has the {need} frames a sync training item needs")
        self.config = config
        self.seed = seed
        self.audio_context = audio_context

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info is not None else 0])
        c = self.config
        k, off, ctx = c.windows_per_item, c.max_offset, self.audio_context
        while True:
            clip = self.clips[int(rng.integers(len(self.clips)))]
            t_len = min(clip.mouths.shape[0], clip.mel.shape[0] // MEL_PER_FRAME)
            v0 = int(rng.integers(off + ctx, t_len - k - 4 - off - ctx + 1))
            mouths = clip.mouths[v0 : v0 + k + 4].astype(np.float32)
            a0 = (v0 - off - ctx) * MEL_PER_FRAME  # the audio context of the outermost windows is real audio
            mel = clip.mel[a0 : a0 + (k + 4 + 2 * off + 2 * ctx) * MEL_PER_FRAME].astype(np.float32)
            if c.flip and rng.random() < 0.5:
                mouths = mouths[:, :, ::-1]
            if c.shift_px > 0:
                dy, dx = rng.integers(-c.shift_px, c.shift_px + 1, size=2)
                mouths = np.roll(mouths, (int(dy), int(dx)), axis=(1, 2))
            if c.brightness > 0:
                gain = 1.0 + rng.uniform(-c.brightness, c.brightness)
                mouths = mouths * gain + rng.uniform(-c.brightness, c.brightness) * 128.0
            if c.mel_noise > 0:
                mel = mel + rng.normal(0.0, c.mel_noise, size=mel.shape).astype(np.float32)
            if c.freq_mask > 0:
                width = int(rng.integers(0, c.freq_mask + 1))
                start = int(rng.integers(0, mel.shape[1] - width + 1))
                mel[:, start : start + width] = 0.0
            yield torch.from_numpy(np.ascontiguousarray(mouths)), torch.from_numpy(np.ascontiguousarray(mel))

