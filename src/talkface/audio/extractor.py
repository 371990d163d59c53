"""What every speech feature extractor shares: the 16 kHz input, the protocol, the frame count.

:mod:`talkface.audio.features` (the registry and the signal-processing extractors),
:mod:`talkface.audio.whisper` and :mod:`talkface.audio.phonemes` build on it.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["SAMPLE_RATE", "FeatureExtractor", "check_input", "cover_frames", "num_video_frames"]

SAMPLE_RATE = 16000
"""Sampling rate (Hz) every extractor expects."""

@runtime_checkable
class FeatureExtractor(Protocol):
    """Maps speech to one feature vector per video frame."""

    @property
    def name(self) -> str:
        """Registry name, e.g. ``"whisper-tiny.en"``."""
        ...

    @property
    def dim(self) -> int:
        """Per-frame feature size ``D``."""
        ...

    def __call__(self, audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
        """Features of ``audio`` for ``num_frames`` video frames at ``fps``.

        Args:
            audio: ``(N,)`` float32 mono waveform at 16 kHz, nominally in [-1, 1].
            num_frames: number of video frames ``T``; frame ``t`` is centred at ``t / fps`` s.
            fps: video frame rate (frames per second).

        Returns:
            ``(T, D)`` float32, finite.
        """
        ...


def num_video_frames(num_samples: int, sample_rate: int, fps: float) -> int:
    """Number of video frames covering ``num_samples`` of audio: ``round(duration * fps)``.

    Halves round up (not to even), so the count never depends on float parity.

    Args:
        num_samples: audio length in samples.
        sample_rate: audio sampling rate in Hz.
        fps: video frame rate (frames per second).

    Returns:
        ``floor(num_samples / sample_rate * fps + 0.5)``.
    """
    if num_samples < 0 or sample_rate <= 0 or not fps > 0:
        raise ValueError(f"bad arguments num_samples={num_samples} sample_rate={sample_rate} fps={fps}")
    return int(math.floor(num_samples * float(fps) / sample_rate + 0.5))


def check_input(audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
    """Validate the common arguments; return ``audio`` as ``(N,)`` float32."""
    arr = np.asarray(audio)
    if arr.ndim != 1:
        raise ValueError(f"audio must be mono 1-D (N,) at {SAMPLE_RATE} Hz, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"audio must be float samples in [-1, 1], got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError("audio contains NaN or infinite samples")
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    return arr


def cover_frames(audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
    """Zero-pad ``audio`` so it reaches the end of the last frame's span."""
    need = int(math.ceil((num_frames + 0.5) / fps * SAMPLE_RATE))
    if audio.shape[0] >= need:
        return audio
    return np.pad(audio, (0, need - audio.shape[0]))
