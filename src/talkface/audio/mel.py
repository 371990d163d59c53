"""Mel filter banks and the short-time Fourier transform in plain numpy (no librosa at run time).

librosa takes ~1 s to import (numba, scipy.signal), which `talkface animate` paid before its
first frame only to compute Whisper's log-mel spectrogram. These functions compute the same
numbers as ``librosa.filters.mel`` (Slaney mel scale and area normalisation) and
``librosa.stft(center=True, pad_mode="reflect", window="hann")`` — the same operations in the same
precision (tests compare them with librosa).
"""

from __future__ import annotations

import numpy as np

__all__ = ["hann_window", "mel_filters", "stft", "stft_frames"]

_F_SP = 200.0 / 3  # Slaney: linear below 1 kHz, 66.7 Hz per mel
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / _F_SP
    high = hz >= _MIN_LOG_HZ
    mel[high] = _MIN_LOG_MEL + np.log(hz[high] / _MIN_LOG_HZ) / _LOGSTEP
    return mel


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = _F_SP * mel
    high = mel >= _MIN_LOG_MEL
    hz[high] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel[high] - _MIN_LOG_MEL))
    return hz


def mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 triangular filters on the Slaney mel scale, each scaled to
    unit area (``librosa.filters.mel`` with its defaults ``htk=False, norm="slaney"``)."""
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array([fmin]))[0], _hz_to_mel(np.array([fmax]))[0], n_mels + 2))
    width = np.diff(edges)
    ramps = np.subtract.outer(edges, freqs)
    weights = np.zeros((n_mels, len(freqs)), dtype=np.float32)
    for i in range(n_mels):
        lower = -ramps[i] / width[i]
        upper = ramps[i + 2] / width[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[:, None]
    return weights


def hann_window(length: int) -> np.ndarray:
    """(length,) float64 periodic Hann window, computed as ``scipy.signal.get_window("hann", length)``."""
    fac = np.linspace(-np.pi, np.pi, length + 1)
    window = np.zeros(length + 1)
    for k, a in enumerate((0.5, 0.5)):
        window += a * np.cos(k * fac)
    return window[:length]


def stft(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """(n_fft // 2 + 1, 1 + N // hop) complex64 STFT of a float32 signal: frames centred on multiples
    of ``hop`` (reflect padding by ``n_fft // 2``), periodic Hann window of ``n_fft`` samples."""
    x = np.asarray(audio, dtype=np.float32)
    return stft_frames(np.pad(x, n_fft // 2, mode="reflect"), n_fft, hop)


def stft_frames(padded: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """:func:`stft` of an already padded float32 signal: frames start at multiples of ``hop``
    (a slice of a padded signal gives those columns alone, bit-identical)."""
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    return np.fft.rfft(hann_window(n_fft) * frames, axis=-1).astype(np.complex64).T
