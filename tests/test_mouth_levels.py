"""The painted mouth interior's levels adapt to the photo's contrast (render/mouth.py, ``interior_levels``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from face_edits import example_face, open_mouth
from talkface.face.landmarks import landmarks_for_image
from talkface.render import mouth_light
from talkface.render.mouth import MouthPalette, eye_contrast, interior_levels, paint_mouth

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    return example_face()


def _tone(photo: np.ndarray, gamma: float) -> np.ndarray:
    """The photo through a power-law tone curve (gamma > 1: more contrast in log luminance)."""
    return np.clip(255.0 * (photo.astype(np.float64) / 255.0) ** gamma + 0.5, 0, 255).astype(np.uint8)


def test_eye_contrast_scales_with_a_tone_curve(face: tuple[np.ndarray, np.ndarray]) -> None:
    """A power-law tone curve multiplies log luminance ratios by its exponent; so does the eye contrast."""
    photo, lm = face
    base = eye_contrast(photo, lm)
    assert base is not None and 0.3 < base < 3.0
    for gamma in (0.7, 1.5):
        toned = eye_contrast(_tone(photo, gamma), lm)
        assert toned is not None and toned / base == pytest.approx(gamma, rel=0.12), (gamma, toned, base)
    washed = eye_contrast((128 + 0.5 * (photo.astype(np.float64) - 128)).astype(np.uint8), lm)  # lifted blacks
    assert washed is not None and washed < 0.8 * base
    squeezed = lm.copy()
    squeezed[36:48, 1] = squeezed[36:48, 1].mean()  # no eye area (closed): no measurement
    assert eye_contrast(photo, squeezed) is None


def test_interior_levels_follow_the_contrast_exponent() -> None:
    """At the corpus's contrast: the reference levels; more contrast: darker cavity, brighter teeth; bounded."""
    ref = mouth_light.REF_EYE_CONTRAST
    assert interior_levels(ref, 1.6) == pytest.approx((mouth_light.REF_CAVITY_LEVEL, mouth_light.REF_TEETH_GAIN))
    assert interior_levels(None, 1.6) == interior_levels(ref, 1.6)
    low_c, low_t = interior_levels(0.8 * ref, 1.6)
    high_c, high_t = interior_levels(1.5 * ref, 1.6)
    assert high_c < mouth_light.REF_CAVITY_LEVEL < low_c and low_t < mouth_light.REF_TEETH_GAIN < high_t
    # exactly the reference ratios raised to k = 1.5: cavity C ** k, teeth over lip (T * 1.6) ** ... = T * 1.6 ** k
    assert high_c == pytest.approx(mouth_light.REF_CAVITY_LEVEL**1.5)
    assert high_t * 1.6 == pytest.approx(mouth_light.REF_TEETH_GAIN * 1.6**1.5)
    hi, lo = mouth_light.CONTRAST_RANGE
    assert interior_levels(100 * ref, 1.6) == interior_levels(lo * ref, 1.6)
    assert interior_levels(0.01 * ref, 1.6) == interior_levels(hi * ref, 1.6)


def test_grid_s1_photo_is_at_the_reference_contrast() -> None:
    """GRID s1's own clip (the training corpus's speaker and studio): k close to 1, levels close to the reference."""
    cap = cv2.VideoCapture(str(FIXTURES / "bbaf2n.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    photo = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    lm = landmarks_for_image(photo, "bbaf2n.mp4").astype(np.float64)
    contrast = eye_contrast(photo, lm)
    assert contrast is not None and contrast / mouth_light.REF_EYE_CONTRAST == pytest.approx(1.0, abs=0.15)
    pal = MouthPalette.from_photo(photo, lm, adaptive=True)
    assert pal.cavity_level == pytest.approx(mouth_light.REF_CAVITY_LEVEL, rel=0.25)
    assert pal.teeth_gain == pytest.approx(mouth_light.REF_TEETH_GAIN, rel=0.15)
    assert MouthPalette.from_photo(photo, lm, adaptive=False).cavity_level is None  # fixed: module constants


def test_adaptive_interior_follows_the_photo(face: tuple[np.ndarray, np.ndarray]) -> None:
    """Painted into a washed-out and a high-contrast version of one photo: the high-contrast one gets a
    darker cavity and brighter teeth relative to its lips; with adaptation off both get the same ratios."""
    photo, lm = face
    target = open_mouth(lm, 14.0)
    inner = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(inner, [np.round(target[60:68]).astype(np.int32)], 1)
    inner = cv2.erode(inner, np.ones((3, 3), np.uint8)) > 0
    luma = np.array([0.299, 0.587, 0.114])

    def spread(img: np.ndarray, adaptive: bool) -> tuple[float, float]:
        pal = MouthPalette.from_photo(img, lm, adaptive=adaptive)
        out = paint_mouth(img.copy(), target, pal)
        grey = out[inner].astype(np.float64) @ luma / float(pal.lip @ luma)
        return float(np.percentile(grey, 10)), float(np.percentile(grey, 90))

    flat, crisp = _tone(photo, 0.75), _tone(photo, 1.4)
    (f10, f90), (c10, c90) = spread(flat, True), spread(crisp, True)
    assert c10 < f10 - 0.03 and c90 > f90 + 0.03, (f10, f90, c10, c90)
    (g10, g90), (h10, h90) = spread(flat, False), spread(crisp, False)
    assert abs((c90 - c10) - (f90 - f10)) > abs((h90 - h10) - (g90 - g10)) + 0.05
