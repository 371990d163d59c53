"""Blink timing: each generated blink re-timed to the profile of a real one, its depth kept.

G_B (:mod:`talkface.motion.blink`) matches the *distribution* of eye-region windows (MMD), and its
blinks come out slow: under half depth for 0.29 s and fully shut (lid closure 1,
:func:`talkface.motion.lids.blink_closure`) for 4.5 frames, with long half-closed tails, where real
blinks measured the same way (dlib EAR of prepared clips) close in 2-3 frames, are mostly open 4
frames after the apex and stay under half depth 0.17 s (wild) to 0.20 s (GRID s1). Rendered, dlib
read 0.32 s blinks against 0.21 s real (20 GRID s1 clips). Re-timed: 0.18 s and 2.3 frames
generated, 0.17 s rendered, the rate unchanged (docs/motion.md section 7).

:func:`shape_blinks` keeps *when* and *how deep* each generated blink is, and replaces *how it
moves* with :data:`PROFILE`, the mean of the median real profiles of GRID s1 and the wild clips
(``benchmarks/blink_timing.py``). Per sequence, with ``r`` the eye aspect ratio over the
generator's open level (:func:`talkface.motion.lids.open_eye_level`, both eyes averaged):

1. a blink's *core* is a run of ``r < CORE_BELOW`` (:func:`talkface.face.eyes.bool_runs`); cores
   less than ``MERGE_GAP_S`` apart are one blink (the generator's double dips: no real eye
   re-opens and closes again within 0.2 s); blinks whose core lasts over ``MAX_CORE_S`` are
   closures, not blinks, and stay as generated;
2. its apex ``m`` is the core's lowest ``r``, its window the frames around the core while
   ``r < lids.OPEN_AT`` (where the lids start to close), at most ``REACH_S`` either side, and not
   past the highest frame between it and a neighbouring blink;
3. in the window the eye region becomes ``base + P(t - m) * (eyes[m] - base[m])``: ``base`` the
   straight line between the two frames bounding the window (kept as generated), ``P`` the real
   profile (1 at the apex, 0 away from it). The apex frame is exactly the generated one, frames
   outside every window are untouched.

Every decision looks at most :func:`shape_margin` frames away, so the live stream
(:class:`talkface.live.stream.OnlineBlinks`) re-times each block of frames from a slice with that
much context either side and gets what :func:`shape_blinks` gives for the whole sequence.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from talkface.face.eyes import bool_runs, detect_blinks, eye_aspect_ratio, open_eye_baseline
from talkface.face.geometry import EYE_POINTS
from talkface.motion.lids import OPEN_AT, open_eye_level

__all__ = ["CORE_BELOW", "MAX_CORE_S", "MERGE_GAP_S", "PROFILE", "PROFILE_FPS", "PROFILE_START", "REACH_S",
           "blink_profiles", "profile_at", "shape_blinks", "shape_eyes", "shape_margin"]

#: frame rate of :data:`PROFILE`'s offsets
PROFILE_FPS = 25.0
#: offset of :data:`PROFILE`'s first value from the apex, frames at :data:`PROFILE_FPS`
PROFILE_START = -3
#: a real blink: fraction of its depth below the open eye at frame offsets -3 .. +10 from the apex.
#: ``python3 benchmarks/blink_timing.py --mode real --data S1 /work/prepared/wild`` (2026-12-01; S1 = the
#: last 60 GRID s1 clips, 139 blinks, 0.201 s under half depth; wild: 33 clips, 144 blinks, 0.171 s):
#: the mean of the two median profiles, -3 .. +9 as measured (-3: 0.039 -> 0), +10 (0.080) set to 0 so
#: the lids end open. Wild is evaluation data; this is a 14-number statistic of it, no frames. s1's own
#: median closes alike (-2, -1: 0.374, 0.758; wild 0.241, 0.707) but opens more slowly (+3 .. +6:
#: 0.441, 0.317, 0.266, 0.225; wild 0.288, 0.159, 0.117, 0.052), so the mean is kept. Under half
#: depth: -1 .. +2, 4 frames (0.16 s).
PROFILE = np.array([0.0, 0.308, 0.733, 1.0, 0.833, 0.558, 0.364, 0.238, 0.191, 0.139, 0.122, 0.111, 0.083, 0.0])
#: a blink's core: the eye aspect ratio under this fraction of the generator's open level (the
#: relative drop of 0.3 that :func:`talkface.face.eyes.detect_blinks` asks of a blink)
CORE_BELOW = 0.7
#: cores closer than this are one blink (G_B's double dips; 5 % of its cores are 2 frames apart)
MERGE_GAP_S = 0.2
#: a core longer than this is a closure, not a blink (``detect_blinks``' longest blink), left as generated
MAX_CORE_S = 1.0
#: a window reaches at most this far from its core (the profile's +10 frames fit in it)
REACH_S = 0.4


def profile_at(offsets: np.ndarray, fps: float) -> np.ndarray:
    """:data:`PROFILE` at frame ``offsets`` from the apex at ``fps`` (linear in time, 0 outside)."""
    times = (PROFILE_START + np.arange(len(PROFILE))) / PROFILE_FPS
    return np.interp(np.asarray(offsets, np.float64) / fps, times, PROFILE, left=0.0, right=0.0)


def _frames(seconds: float, fps: float) -> int:
    return max(1, int(math.ceil(seconds * fps - 1e-9)))


def shape_margin(fps: float) -> int:
    """Frames either side of a frame that :func:`shape_blinks` reads to decide it (the online context)."""
    return _frames(MAX_CORE_S, fps) + 3 * _frames(REACH_S, fps) + _frames(MERGE_GAP_S, fps) + 4


def _events(r: np.ndarray, fps: float) -> list[tuple[int, int]]:
    """Blink cores ``[start, end)`` with short gaps merged (too-long ones included)."""
    merged: list[tuple[int, int]] = []
    gap = _frames(MERGE_GAP_S, fps)
    for s, e in bool_runs(r < CORE_BELOW):
        if merged and s - merged[-1][1] < gap:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _bounds(r: np.ndarray, events: list[tuple[int, int]], fps: float) -> list[tuple[int, int]]:
    """The window ``(left, right)`` of each event: the frames strictly between them are re-timed."""
    t = len(r)
    reach = _frames(REACH_S, fps)
    opened = r >= OPEN_AT
    left = [max(s - 1 - reach, -1) for s, _ in events]
    right = [min(e + reach, t) for _, e in events]
    for i, (s, e) in enumerate(events):
        before = np.flatnonzero(opened[max(0, s - 1 - reach):s])
        if len(before):
            left[i] = max(left[i], max(0, s - 1 - reach) + int(before[-1]))
        after = np.flatnonzero(opened[e:min(t, e + reach + 1)])
        if len(after):
            right[i] = min(right[i], e + int(after[0]))
    for i in range(1, len(events)):  # neighbours without an open frame between them: split at the highest frame
        a, b = events[i - 1][1], events[i][0]
        if b - a <= 2 * reach + 1 and not opened[a:b].any():
            split = a + int(np.argmax(r[a:b]))
            right[i - 1] = min(right[i - 1], split)
            left[i] = max(left[i], split)
    return list(zip(left, right, strict=True))


def shape_eyes(eyes: np.ndarray, neutral: np.ndarray, open_ear: np.ndarray, fps: float) -> np.ndarray:
    """Re-time the blinks of one eye-region sequence (see the module doc).

    Args:
        eyes: (T, 22, 2) eye-region displacements of :data:`EYE_POINTS`, canonical units.
        neutral: (68, 2) the blink model's canonical neutral face.
        open_ear: (2,) the generator's open EAR per eye (:func:`talkface.motion.lids.open_eye_level`).
        fps: frame rate, frames/s.

    Returns:
        (T, 22, 2) float32, equal to ``eyes`` outside the blinks' windows.
    """
    eyes = np.asarray(eyes, np.float32)
    t = len(eyes)
    out = eyes.copy()
    if t < 2:
        return out
    faces = np.broadcast_to(np.asarray(neutral, np.float32), (t, 68, 2)).copy()
    faces[:, list(EYE_POINTS)] += eyes
    r = (eye_aspect_ratio(faces, per_eye=True).astype(np.float64) / np.maximum(np.asarray(open_ear), 1e-9)).mean(1)
    events = _events(r, fps)
    max_core = _frames(MAX_CORE_S, fps)
    for (s, e), (lo, hi) in zip(events, _bounds(r, events, fps), strict=True):
        if e - s > max_core or (lo < 0 and hi >= t):
            continue
        m = s + int(np.argmin(r[s:e]))
        frames = np.arange(lo + 1, hi)
        a = eyes[lo] if lo >= 0 else eyes[hi]
        b = eyes[hi] if hi < t else eyes[lo]
        w = ((frames - lo) / max(hi - lo, 1))[:, None, None]
        base = (1.0 - w) * a + w * b
        apex = eyes[m] - base[m - lo - 1]
        out[lo + 1:hi] = base + profile_at(frames - m, fps)[:, None, None] * apex
        out[m] = eyes[m]
    return out


def shape_blinks(eyes: np.ndarray, blink: Any, fps: float | None = None) -> np.ndarray:
    """Re-time the blinks of generated eye-region sequences to :data:`PROFILE` (depth kept).

    Args:
        eyes: (T, 22, 2) or (N, T, 22, 2) displacements from ``blink`` (its raw output).
        blink: the blink model (:class:`talkface.motion.blink_net.BlinkInference`): its neutral face
            and open-eye level define ``r``.
        fps: frame rate (default: the model's).

    Returns:
        Same shape, float32.
    """
    fps = float(blink.config.fps if fps is None else fps)
    neutral = blink.canonical_neutral.cpu().numpy()
    level = open_eye_level(blink)
    arr = np.asarray(eyes, np.float32)
    if arr.ndim == 3:
        return shape_eyes(arr, neutral, level, fps)
    return np.stack([shape_eyes(x, neutral, level, fps) for x in arr]) if len(arr) else arr.copy()


def blink_profiles(ear: np.ndarray, fps: float, before: int = 4, after: int = 8) -> tuple[np.ndarray, list[int]]:
    """Profiles of the blinks of one EAR curve, as fractions of each blink's depth, around its apex.

    Blinks are :func:`talkface.face.eyes.detect_blinks`'s (half depth under the running open level);
    a profile is ``(open - ear[m + k]) / (open - ear[m])`` for ``k = -before .. after``, NaN past the
    curve's ends.

    Args:
        ear: (T,) EAR per frame.
        fps: frame rate.
        before, after: frames kept before and after the apex.

    Returns:
        ``((B, before + after + 1) float64 profiles, [apex frame of each])``.
    """
    e = np.asarray(ear, np.float64)
    base = open_eye_baseline(e, fps)
    rows, apexes = [], []
    for s, en in detect_blinks(e, fps):
        m = s + int(np.argmin(e[s:en]))
        depth = base[m] - e[m]
        if not depth > 0:
            continue
        k = np.arange(m - before, m + after + 1)
        ok = (k >= 0) & (k < len(e))
        row = np.full(len(k), np.nan)
        row[ok] = (base[m] - e[k[ok]]) / depth
        rows.append(row)
        apexes.append(m)
    return np.asarray(rows, np.float64).reshape(-1, before + after + 1), apexes
