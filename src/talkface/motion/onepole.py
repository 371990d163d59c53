"""One-pole low-pass filters in plain Python/numpy: the numbers of ``scipy.signal.lfilter`` and
``scipy.signal.filtfilt`` for ``b = [1 - a], a = [1, -a]``, without importing ``scipy.signal``.

The head-motion prior (:mod:`talkface.motion.head`) only needs these two filters, and importing
``scipy.signal`` costs ~0.7 CPU-s, paid before ``talkface animate``'s first frame. The recursion
``y[n] = (1 - a) x[n] + a y[n-1]`` is evaluated in the same order as scipy's direct form II
transposed, so results are the same to the last bit (tests compare them).
"""

from __future__ import annotations

import numpy as np

__all__ = ["filtfilt_one_pole", "one_pole"]


def one_pole(x: np.ndarray, a: float, initial: float = 0.0) -> np.ndarray:
    """``lfilter([1 - a], [1, -a], x, zi=[initial])[0]`` of a 1-D signal: ``y[0] = (1 - a) x[0] + initial``,
    then ``y[n] = (1 - a) x[n] + a y[n-1]``; (N,) float64."""
    b0, a = 1.0 - float(a), float(a)
    out = np.empty(len(x), dtype=np.float64)
    state = float(initial)
    for n, value in enumerate(np.asarray(x, dtype=np.float64).tolist()):
        y = b0 * value + state
        out[n] = y
        state = a * y
    return out


def filtfilt_one_pole(x: np.ndarray, a: float, padlen: int) -> np.ndarray:
    """``filtfilt([1 - a], [1, -a], x, padlen=padlen)`` of a 1-D signal (odd extension by ``padlen``
    samples at both ends, initial states from ``lfilter_zi``, forward then backward); (N,) float64."""
    x = np.asarray(x, dtype=np.float64)
    if padlen >= len(x):
        raise ValueError(f"padlen ({padlen}) must be less than the signal's length ({len(x)})")
    ext = np.concatenate([2 * x[0] - x[padlen:0:-1], x, 2 * x[-1] - x[-2 : -(padlen + 2) : -1]]) if padlen else x
    b0 = 1.0 - float(a)
    zi = (float(a) * b0) / b0  # lfilter_zi: solve((1 - a) z = a (1 - a))
    y = one_pole(ext, a, zi * ext[0])
    y = one_pole(y[::-1], a, zi * y[-1])[::-1]
    return y[padlen : len(y) - padlen] if padlen > 0 else y
