"""Retrieved real mouth interiors (talkface.render.mouth_bank, ``mouth="retrieved"``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from face_edits import example_face, open_mouth
from talkface.render.compose import NativeRenderer, RenderConfig
from talkface.render.mouth import MouthPalette, inner_mask
from talkface.render.mouth_bank import (
    BANK_PATH,
    PATCH,
    WIDTH,
    RetrievedMouth,
    load_bank,
    normalise_mouth,
    shape_descriptor,
    shape_features,
)


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    return example_face()


def test_the_shipped_bank_loads_small_and_spread_over_openings() -> None:
    assert BANK_PATH.stat().st_size <= 3_000_000
    bank = load_bank()
    n = len(bank)
    assert 200 <= n <= 1000
    assert bank.patches.shape == (n, *PATCH, 3) and bank.patches.dtype == np.uint8
    assert bank.points.shape == (n, 20, 2) and bank.descriptors.shape == (n, 16)
    gaps = shape_features(bank.descriptors)[:, :3].mean(axis=1) / 2.0  # inner gap over mouth width
    assert gaps.min() > 0.03 and gaps.max() > 0.25 and np.ptp(np.percentile(gaps, [25, 75])) > 0.04
    # entries are real mouths: the interior is darker than the lips around it
    inner = np.zeros(PATCH, np.uint8)
    lips = np.zeros(PATCH, np.uint8)
    dark = []
    for i in np.argsort(gaps)[-20:]:
        inner[:] = 0
        lips[:] = 0
        cv2.fillPoly(inner, [np.round(bank.points[i, :8]).astype(np.int32)], 1)
        cv2.fillPoly(lips, [np.round(bank.points[i, 8:]).astype(np.int32)], 1)
        lips[inner > 0] = 0
        grey = cv2.cvtColor(bank.patches[i], cv2.COLOR_RGB2GRAY).astype(np.float64)
        dark.append(grey[inner > 0].min() < grey[lips > 0].mean())
    assert np.mean(dark) > 0.9


def test_normalised_entry_has_the_corners_level_and_width_apart(face: tuple[np.ndarray, np.ndarray]) -> None:
    photo, lm = face
    patch, points = normalise_mouth(photo, lm)
    assert patch.shape == (*PATCH, 3)
    corners = points[8 + 0], points[8 + 6]  # outer 48, 54
    assert abs(float(np.linalg.norm(corners[1] - corners[0])) - WIDTH) < 1e-3
    assert abs(float(corners[1][1] - corners[0][1])) < 1e-3
    np.testing.assert_allclose(shape_descriptor(lm), shape_descriptor(lm * 2.0 + 7.0), atol=1e-5)


def test_retrieval_is_deterministic_and_does_not_flicker(face: tuple[np.ndarray, np.ndarray]) -> None:
    photo, lm = face
    width = float(np.linalg.norm(lm[54] - lm[48]))
    rng = np.random.default_rng(0)
    frames = [open_mouth(lm, width * (0.2 + 0.004 * rng.standard_normal())) for _ in range(12)]
    outs = []
    mouths = []
    for _ in range(2):
        mouth = RetrievedMouth(MouthPalette.from_photo(photo, lm))
        outs.append([mouth(photo.copy(), f) for f in frames])
        mouths.append(mouth)
    assert mouths[0].choices == mouths[1].choices
    assert all(np.array_equal(a, b) for a, b in zip(*outs, strict=True))
    # small jitter of the requested shape keeps one entry (hysteresis); nearest alone would switch
    assert len(set(mouths[0].choices)) == 1, mouths[0].choices


def test_only_the_inner_lips_change_and_a_closed_mouth_paints_nothing(face: tuple[np.ndarray, np.ndarray]) -> None:
    photo, lm = face
    width = float(np.linalg.norm(lm[54] - lm[48]))
    target = open_mouth(lm, 0.25 * width)
    retrieved = NativeRenderer(photo, lm, target[None], RenderConfig(mouth="retrieved"))
    warp = NativeRenderer(photo, lm, target[None], RenderConfig(mouth="warp"))
    out, base = retrieved(target), warp(target)
    changed = np.abs(out.astype(np.int16) - base.astype(np.int16)).max(axis=2) > 0
    found = inner_mask(target, photo.shape[:2])  # paint_mouth's soft mask: where anything may change
    assert found is not None
    (y0, y1, x0, x1), soft = found
    support = np.zeros(photo.shape[:2], bool)
    support[y0:y1, x0:x1] = soft > 0
    assert changed.sum() > 50 and not changed[~support].any()
    grown = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(grown, [np.round(target[60:68]).astype(np.int32)], 1)
    grown = cv2.dilate(grown, np.ones((9, 9), np.uint8))
    assert not changed[grown == 0].any()  # and that is the inner lips, a few pixels grown
    # a real interior: part of it (between and around the teeth) much darker than the warp's stretched lips
    inside = cv2.erode(grown, np.ones((9, 9), np.uint8)) > 0
    grey_out = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[inside].astype(np.float64)
    grey_base = cv2.cvtColor(base, cv2.COLOR_RGB2GRAY)[inside].astype(np.float64)
    assert np.percentile(grey_out, 10) < np.percentile(grey_base, 10) - 20, (grey_out.min(), grey_base.min())
    # the photo's own (closed) mouth: nothing painted, the same frame as the warp's
    assert np.array_equal(retrieved(lm), warp(lm))
    mouth = RetrievedMouth(MouthPalette.from_photo(photo, lm))
    assert np.array_equal(mouth(photo.copy(), target, strength=0.0), photo) and not mouth.choices


def test_colour_transfer_keeps_the_cavity_dark_and_caps_the_teeth() -> None:
    from talkface.render.mouth_bank import rgb_to_lab, transfer_colours

    entry = (rgb_to_lab(np.array([170.0, 100.0, 90.0])), rgb_to_lab(np.array([150.0, 120.0, 90.0])),
             rgb_to_lab(np.array([190.0, 180.0, 150.0])))
    bright = (rgb_to_lab(np.array([200.0, 110.0, 120.0])), rgb_to_lab(np.array([235.0, 215.0, 205.0])),
              rgb_to_lab(np.array([210.0, 205.0, 195.0])))
    pixels = rgb_to_lab(np.array([[20.0, 10.0, 10.0], [200.0, 195.0, 170.0], [250.0, 250.0, 250.0]]))
    out = transfer_colours(pixels, entry, bright)
    assert abs(out[0, 0] - pixels[0, 0]) < 2.0  # a shadow stays a shadow under brighter light
    assert out[1, 0] > pixels[1, 0]  # lit teeth follow the brighter photo
    assert out[2, 0] <= bright[2][0] + 4.0 + 1e-4  # never whiter than the photo's teeth
    # the tint follows the photo (entry yellow-lit cheeks -> the photo's pinker light)
    assert out[1, 2] < pixels[1, 2]
