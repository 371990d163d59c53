"""``scipy.signal.find_peaks(x, prominence=p, distance=d)`` in numpy, without importing ``scipy.signal``.

The head prior measures the speaking rate with it once per recording (:func:`talkface.motion.head.speech_style`);
importing ``scipy.signal`` costs ~0.7 CPU-s before ``talkface animate``'s first frame. Same steps as
scipy (local maxima with plateaus reduced to their middle, then the distance rule keeping higher peaks
first, then the prominence rule); tests compare the two.
"""

from __future__ import annotations

import numpy as np

__all__ = ["find_peaks"]


def _local_maxima(x: np.ndarray) -> np.ndarray:
    peaks = []
    i, last = 1, len(x) - 1
    while i < last:
        if x[i - 1] < x[i]:
            ahead = i + 1
            while ahead < last and x[ahead] == x[i]:
                ahead += 1
            if x[ahead] < x[i]:
                peaks.append((i + ahead - 1) // 2)
                i = ahead
        i += 1
    return np.asarray(peaks, dtype=np.intp)


def _by_distance(peaks: np.ndarray, heights: np.ndarray, distance: float) -> np.ndarray:
    keep = np.ones(len(peaks), dtype=bool)
    order = np.argsort(heights)
    for i in range(len(peaks) - 1, -1, -1):
        j = order[i]
        if not keep[j]:
            continue
        k = j - 1
        while k >= 0 and peaks[j] - peaks[k] < distance:
            keep[k] = False
            k -= 1
        k = j + 1
        while k < len(peaks) and peaks[k] - peaks[j] < distance:
            keep[k] = False
            k += 1
    return keep


def _prominences(x: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    out = np.empty(len(peaks), dtype=np.float64)
    for n, p in enumerate(peaks):
        left_min = x[p]
        i = p
        while i >= 0 and x[i] <= x[p]:
            left_min = min(left_min, x[i])
            i -= 1
        right_min = x[p]
        i = p
        while i < len(x) and x[i] <= x[p]:
            right_min = min(right_min, x[i])
            i += 1
        out[n] = x[p] - max(left_min, right_min)
    return out


def find_peaks(x: np.ndarray, prominence: float, distance: float) -> np.ndarray:
    """Indices of the peaks of a 1-D signal at least ``distance`` samples apart (higher peaks win) with
    at least ``prominence``, as ``scipy.signal.find_peaks(x, prominence=prominence, distance=distance)[0]``."""
    x = np.asarray(x, dtype=np.float64)
    peaks = _local_maxima(x)
    if len(peaks) and distance > 1:
        peaks = peaks[_by_distance(peaks, x[peaks], distance)]
    if len(peaks):
        peaks = peaks[_prominences(x, peaks) >= prominence]
    return peaks
