"""Blink timing (talkface.motion.blink_shape): generated blinks re-timed to a real profile, depth and rate kept."""

from __future__ import annotations

import numpy as np
import pytest

from talkface.eval.motion_metrics import blink_statistics
from talkface.face.eyes import bool_runs, detect_blinks, eye_aspect_ratio
from talkface.face.geometry import EYE_POINTS
from talkface.motion.blink_shape import PROFILE, PROFILE_FPS, PROFILE_START, profile_at, shape_eyes
from talkface.motion.lids import blink_closure, open_eye_level
from talkface.pipeline import load_bundle

FPS = 25.0
_UPPER, _LOWER = (37, 38, 43, 44), (41, 40, 47, 46)


@pytest.fixture(scope="module")
def blink():  # type: ignore[no-untyped-def]
    return load_bundle().blink


def _slow_blinks(neutral: np.ndarray, apexes: list[int], num_frames: int = 200, depth: float = 0.6) -> np.ndarray:
    """(T, 22, 2) eye displacements: slow blinks like G_B's (under half depth 7 frames, shut 5) at ``apexes``."""
    idx = list(EYE_POINTS)
    shape = np.array([0.0, 0.15, 0.35, 0.6, 0.85, 0.97, 1.0, 0.97, 0.9, 0.75, 0.55, 0.4, 0.25, 0.12, 0.0])
    closing = np.zeros(num_frames)
    for m in apexes:
        closing[m - 6:m + 9] = np.maximum(closing[m - 6:m + 9], shape)
    eyes = np.zeros((num_frames, len(idx), 2), np.float32)
    for up, lo in zip(_UPPER, _LOWER, strict=True):
        gap = neutral[lo] - neutral[up]  # upper lid -> lower lid
        eyes[:, idx.index(up)] = (depth * closing)[:, None] * gap
    return eyes


def _ear(neutral: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    faces = np.broadcast_to(neutral, (len(eyes), 68, 2)).copy()
    faces[:, list(EYE_POINTS)] += eyes
    return eye_aspect_ratio(faces)


def test_a_slow_blink_gets_the_real_timing_and_keeps_its_depth(blink) -> None:  # type: ignore[no-untyped-def]
    neutral = blink.canonical_neutral.numpy()
    open_ear = eye_aspect_ratio(neutral, per_eye=True)
    raw = _slow_blinks(neutral, [50, 130])
    shaped = shape_eyes(raw, neutral, open_ear, FPS)
    before, after = _ear(neutral, raw), _ear(neutral, shaped)
    half = [(e - s) for s, e in detect_blinks(before, FPS)]
    half_after = [(e - s) for s, e in detect_blinks(after, FPS)]
    # the profile's own frames under half depth (linear in the eye aspect ratio: the lids move linearly)
    expected = int((profile_at(np.arange(-10, 11), FPS) >= 0.5).sum())
    assert half == [8, 8] and len(half_after) == 2
    assert all(abs(h - expected) <= 1 for h in half_after), (half_after, expected)
    for m in (50, 130):  # the apex: the generated frame itself; its neighbours follow the profile
        np.testing.assert_array_equal(shaped[m], raw[m])
        depth = open_ear.mean() - before[m]
        for k in (-2, -1, 1, 2, 3):
            # the profile runs from the window's edges, whose lids are within 0.1 of open (lids.OPEN_AT)
            frac, p = (open_ear.mean() - after[m + k]) / depth, profile_at(np.array([k]), FPS)[0]
            assert p - 0.03 <= frac <= p + (1 - p) * 0.1 * open_ear.mean() / depth + 0.03, (k, frac, p)
    # far from the blinks nothing moved
    np.testing.assert_array_equal(shaped[:30], raw[:30])
    np.testing.assert_array_equal(shaped[160:], raw[160:])


def test_no_blink_no_change(blink) -> None:  # type: ignore[no-untyped-def]
    neutral = blink.canonical_neutral.numpy()
    open_ear = eye_aspect_ratio(neutral, per_eye=True)
    eyes = _slow_blinks(neutral, [60], depth=0.12)  # a lid dip to 0.9 of open: no blink core
    eyes += np.random.default_rng(0).normal(0.0, 1e-4, eyes.shape).astype(np.float32)
    np.testing.assert_array_equal(shape_eyes(eyes, neutral, open_ear, FPS), eyes)
    long_closure = _slow_blinks(neutral, list(range(40, 90, 3)))  # eyes shut for 2 s: a closure, not a blink
    np.testing.assert_array_equal(shape_eyes(long_closure, neutral, open_ear, FPS), long_closure)


def test_profile_is_a_blink() -> None:
    assert PROFILE[-PROFILE_START] == 1.0 and PROFILE[0] == 0.0 and PROFILE[-1] == 0.0
    assert PROFILE.max() == 1.0 and (PROFILE >= 0).all()
    assert profile_at(np.array([0]), PROFILE_FPS)[0] == 1.0
    under_half = (PROFILE >= 0.5).sum() / PROFILE_FPS
    assert 0.1 <= under_half <= 0.2  # real blinks: 0.17-0.20 s under half depth (docs/motion.md)


def test_generated_blinks_are_shorter_at_the_same_rate(blink) -> None:  # type: ignore[no-untyped-def]
    raw = blink.generate(500, 30, seed=1, blink_rate=0.35, shaped=False)
    shaped = blink.generate(500, 30, seed=1, blink_rate=0.35)
    a, b = blink_statistics(raw, FPS), blink_statistics(shaped, FPS)
    assert b.rate == pytest.approx(a.rate, abs=0.02)
    assert b.rate == pytest.approx(0.35, abs=0.06)  # the shipped calibration still gives the requested rate
    assert b.duration < 0.8 * a.duration and 0.15 < b.duration < 0.24
    level = open_eye_level(blink)

    def shut(faces: np.ndarray) -> float:
        closure = [blink_closure(f, level).mean(1) for f in faces]
        return float(np.mean([(c[s:e] >= 0.999).sum() for c in closure for s, e in bool_runs(c > 0)
                              if c[s:e].max() >= 0.999]))

    assert shut(shaped) < 0.75 * shut(raw)
    # every generated apex is kept: the deepest frame of each sequence is the same
    ear_raw, ear_shaped = eye_aspect_ratio(raw), eye_aspect_ratio(shaped)
    np.testing.assert_allclose(ear_shaped.min(1), ear_raw.min(1), rtol=1e-5)


def test_bool_runs() -> None:
    assert bool_runs(np.array([0, 1, 1, 0, 1], bool)) == [(1, 3), (4, 5)]
    assert bool_runs(np.ones(3, bool)) == [(0, 3)] and bool_runs(np.zeros(4, bool)) == []
    assert bool_runs(np.zeros(0, bool)) == []
