"""Per-video-frame alignment of audio and audio features.

Conventions shared by every function here (and by :mod:`talkface.audio.features`):

* video frame ``t`` (0-based) is centred at ``t / fps`` seconds and covers
  ``[(t - 0.5) / fps, (t + 0.5) / fps)``;
* audio sample ``n`` is at ``n / sample_rate`` seconds, so the stride between frames is
  ``sample_rate / fps`` samples (temporal-GAN appendix A.1, eq. 4);
* a feature sequence at ``rate`` Hz has element ``i`` centred at ``offset_s + i / rate``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np

__all__ = ["audio_rms_per_frame", "frame_centres", "frame_window_blocks", "frame_windows", "raw_windows",
           "resample_to_frames"]


def frame_centres(num_frames: int, fps: float) -> np.ndarray:
    """Times of the video frame centres.

    Args:
        num_frames: number of video frames ``T`` (>= 0).
        fps: video frame rate, frames per second (> 0).

    Returns:
        ``(T,)`` float64, seconds: ``t / fps``.
    """
    _check_frames(num_frames, fps)
    return np.arange(num_frames, dtype=np.float64) / float(fps)


def raw_windows(audio: np.ndarray, num_frames: int, fps: float, window: int, sample_rate: int) -> np.ndarray:
    """Cut one raw-waveform window per video frame, centred on the frame (temporal-GAN A.1).

    Window ``t`` holds samples ``s_t .. s_t + window - 1`` with
    ``s_t = round(t * sample_rate / fps - window / 2)``, i.e. the sample at the frame centre
    sits at index ``window // 2``. Consecutive windows overlap when ``window`` exceeds the
    stride ``sample_rate / fps``. Samples before the start or after the end of ``audio`` are 0.

    Args:
        audio: ``(N,)`` float32 mono waveform.
        num_frames: number of video frames ``T``.
        fps: video frame rate (frames per second).
        window: window length ``W`` in samples (>= 1).
        sample_rate: sampling rate of ``audio`` in Hz.

    Returns:
        ``(T, W)`` float32 windows.
    """
    padded, starts = _padded_starts(audio, num_frames, fps, window, sample_rate)
    if num_frames == 0:
        return np.zeros((0, window), dtype=np.float32)
    index = starts[:, None] + np.arange(window, dtype=np.int64)[None, :]
    return padded[index]


def _padded_starts(audio: np.ndarray, num_frames: int, fps: float, window: int,
                   sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`raw_windows`' zero-padded signal and each window's first sample in it."""
    _check_frames(num_frames, fps)
    if window < 1:
        raise ValueError(f"window must be >= 1 sample, got {window}")
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be 1-D (N,), got shape {audio.shape}")
    starts = np.round(frame_centres(num_frames, fps) * sample_rate - window / 2).astype(np.int64)
    if num_frames == 0:
        return audio, starts
    # Pad so that every window lies inside the padded signal.
    pad_left = max(0, int(-starts.min()))
    pad_right = max(0, int(starts.max()) + window - audio.shape[0])
    return np.pad(audio, (pad_left, pad_right)), starts + pad_left


def audio_rms_per_frame(audio: np.ndarray, num_frames: int, fps: float, sample_rate: int = 16000) -> np.ndarray:
    """RMS energy of the audio around each video frame (one frame period, centred).

    Args:
        audio: ``(N,)`` float32 mono.
        num_frames: number of video frames ``T``.
        fps: video frame rate, frames per second.
        sample_rate: audio rate, Hz.

    Returns:
        ``(T,)`` float32 RMS (same unit as the samples, full scale 1).
    """
    win = max(1, int(round(sample_rate / fps)))
    padded, starts = _padded_starts(audio, num_frames, fps, win, sample_rate)
    rms = np.empty(num_frames, dtype=np.float32)
    offsets = np.arange(win, dtype=np.int64)[None, :]
    for first in range(0, num_frames, 1024):  # in blocks: all windows of 10 min of speech at once took ~270 MB
        w = padded[starts[first : first + 1024, None] + offsets]
        rms[first : first + 1024] = np.sqrt(np.mean(np.square(w.astype(np.float64)), axis=1))
    return rms


def resample_to_frames(
    features: np.ndarray, rate: float, num_frames: int, fps: float, offset_s: float = 0.0
) -> np.ndarray:
    """Average a feature sequence over each video frame's time span.

    The features are taken as a piecewise-linear function of time (element ``i`` at
    ``offset_s + i / rate`` s, held constant beyond the first and last element) and
    averaged exactly over ``[(t - 0.5) / fps, (t + 0.5) / fps)``. This is mean pooling when
    ``rate > fps`` (e.g. 50 Hz Whisper steps -> 25 fps) and linear interpolation with a
    little smoothing when ``rate < fps``; the result does not alias and every frame gets a
    value whatever the two rates are (29.97 fps included).

    Args:
        features: ``(S, D)`` feature sequence (any float dtype), ``S >= 1``.
        rate: feature rate in Hz (> 0).
        num_frames: number of video frames ``T`` wanted.
        fps: video frame rate (frames per second).
        offset_s: time of ``features[0]`` in seconds.

    Returns:
        ``(T, D)`` float32.
    """
    _check_frames(num_frames, fps)
    feats = np.asarray(features)
    if feats.ndim != 2:
        raise ValueError(f"features must be 2-D (S, D), got shape {feats.shape}")
    if rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    if num_frames == 0:
        return np.zeros((0, feats.shape[1]), dtype=np.float32)
    if feats.shape[0] == 0:
        raise ValueError("features are empty (S == 0) but frames were requested")
    # Frame spans in units of feature index.
    centres = (frame_centres(num_frames, fps) - offset_s) * rate
    half = 0.5 * rate / fps
    lo, hi = centres - half, centres + half
    # a few feature columns at a time (each column is pooled alone, so the result is the same): the
    # float64 temporaries of all 384 Whisper columns of 10 min of speech took ~500 MB at once
    pooled = np.empty((num_frames, feats.shape[1]), dtype=np.float32)
    step = max(1, _POOL_BLOCK_VALUES // feats.shape[0])
    for first in range(0, feats.shape[1], step):
        block = np.asarray(feats[:, first : first + step], dtype=np.float64)
        prefix = _prefix_integral(block)
        pooled[:, first : first + step] = (
            (_integral_to(block, prefix, hi) - _integral_to(block, prefix, lo)) / (hi - lo)[:, None])
    return pooled


def frame_windows(features: np.ndarray, dt: int = 6, align: Literal["centre", "end"] = "centre") -> np.ndarray:
    """Stack ``dt`` consecutive per-frame features as the context of each frame.

    The cascade paper (sec. 4, Fig. 6) feeds the motion generator a sliding window of
    ``Δt`` speech-feature frames per video frame; ``Δt = 6`` (~200 ms at 30 fps) gave the
    lowest landmark distance.

    * ``align="centre"`` (default; the generator may look ahead, as the mouth anticipates
      sounds): window ``t`` holds frames ``t - dt // 2 .. t - dt // 2 + dt - 1``, so frame
      ``t`` is at index ``dt // 2`` (for ``dt = 6``: frames ``t-3 .. t+2``).
    * ``align="end"`` (causal, for streaming): frames ``t - dt + 1 .. t``; frame ``t`` is the
      last entry.

    Frames outside ``0 .. T-1`` repeat the first / last frame (edge padding), so the output
    has exactly ``T`` windows.

    Args:
        features: ``(T, D)`` per-video-frame features.
        dt: window length ``Δt`` in video frames (>= 1).
        align: ``"centre"`` or ``"end"``, see above.

    Returns:
        ``(T, dt, D)``, same dtype as ``features``, C-contiguous (a copy).
    """
    feats = np.asarray(features)
    if feats.ndim != 2:
        raise ValueError(f"features must be 2-D (T, D), got shape {feats.shape}")
    if dt < 1:
        raise ValueError(f"dt must be >= 1, got {dt}")
    if align == "centre":
        before = dt // 2
    elif align == "end":
        before = dt - 1
    else:
        raise ValueError(f"align must be 'centre' or 'end', got {align!r}")
    num, dim = feats.shape
    if num == 0:
        return np.zeros((0, dt, dim), dtype=feats.dtype)
    padded = np.pad(feats, ((before, dt - 1 - before), (0, 0)), mode="edge")
    # sliding_window_view puts the window axis last: (T, D, dt) -> (T, dt, D)
    views = np.lib.stride_tricks.sliding_window_view(padded, dt, axis=0)
    return np.ascontiguousarray(views.transpose(0, 2, 1))


def frame_window_blocks(features: np.ndarray, dt: int = 6, align: Literal["centre", "end"] = "centre",
                        block: int = 1024) -> Iterator[np.ndarray]:
    """:func:`frame_windows` ``block`` frames at a time (the blocks concatenated are equal to it).

    All windows of 10 min of speech at once take ``T * dt * D`` values (200 MB for 575-d
    features); a block of 1024 frames takes 14 MB.
    """
    feats = np.asarray(features)
    if feats.ndim != 2:
        raise ValueError(f"features must be 2-D (T, D), got shape {feats.shape}")
    if align not in ("centre", "end"):
        raise ValueError(f"align must be 'centre' or 'end', got {align!r}")
    before = dt // 2 if align == "centre" else dt - 1
    num = feats.shape[0]
    for first in range(0, num, block):
        last = min(first + block, num)
        rows = np.clip(np.arange(first - before, last - before + dt - 1), 0, num - 1)
        yield frame_windows(feats[rows], dt, "end")[dt - 1 :]


#: Feature values pooled at once by :func:`resample_to_frames` (8 MB of float64 per temporary).
_POOL_BLOCK_VALUES = 1_000_000


def _check_frames(num_frames: int, fps: float) -> None:
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")


def _prefix_integral(feats: np.ndarray) -> np.ndarray:
    """``(S, D)``: integral of the linear interpolant from index 0 to index ``i``."""
    prefix = np.zeros_like(feats)
    if feats.shape[0] > 1:
        np.cumsum(0.5 * (feats[1:] + feats[:-1]), axis=0, out=prefix[1:])
    return prefix


def _integral_to(feats: np.ndarray, prefix: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``(M, D)``: integral from index 0 to (real) index ``x`` of the interpolant, held
    constant outside ``[0, S-1]``."""
    last = feats.shape[0] - 1
    below = np.minimum(x, 0.0)[:, None] * feats[0]
    above = np.maximum(x - last, 0.0)[:, None] * feats[last]
    if last == 0:
        return below + above
    xc = np.clip(x, 0.0, float(last))
    i = np.minimum(np.floor(xc).astype(np.int64), last - 1)
    u = (xc - i)[:, None]
    inside = prefix[i] + u * feats[i] + 0.5 * u * u * (feats[i + 1] - feats[i])
    return inside + below + above
