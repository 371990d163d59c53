"""Blink depth on the person's eyes (talkface.motion.lids): closed lids at an apex, the photo's eyes between."""

from __future__ import annotations

import numpy as np
import pytest

from talkface.face.eyes import detect_blinks, eye_aspect_ratio
from talkface.motion.lids import apply_closure, blink_closure, open_eye_level
from talkface.motion.render import predict_canonical_landmarks, predict_landmarks
from talkface.pipeline import load_bundle

FPS = 25.0


@pytest.fixture(scope="module")
def bundle():  # type: ignore[no-untyped-def]
    return load_bundle()


def _photo(bundle, wide: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A photo's landmarks: the canonical neutral face at 120 px scale, eyes opened ``wide`` times."""
    p = bundle.lgan.canonical_neutral.numpy().astype(np.float64) * 120.0 + 200.0
    for up, lo in ((37, 41), (38, 40), (43, 47), (44, 46)):
        mid, half = (p[up] + p[lo]) / 2, (p[up] - p[lo]) / 2
        p[up], p[lo] = mid + wide * half, mid - wide * half
    return p.astype(np.float32)


@pytest.mark.parametrize("wide", [1.0, 1.6])
def test_requested_blinks_close_and_open_eyes_are_the_photos(bundle, wide: float) -> None:  # type: ignore[no-untyped-def]
    audio = np.zeros(16000 * 12, np.float32)
    photo = _photo(bundle, wide)
    image = np.zeros((400, 400, 3), np.uint8)
    lm = predict_landmarks(image, audio, bundle.lgan, bundle.blink, seed=3, blink_rate=0.35, person_landmarks=photo)
    ear, open_ear = eye_aspect_ratio(lm), float(eye_aspect_ratio(photo))
    blinks = detect_blinks(eye_aspect_ratio(predict_canonical_landmarks(audio, bundle.lgan, bundle.blink, seed=3,
                                                                         blink_rate=0.35)), FPS)
    assert len(blinks) >= 2  # timing as generated: the generator's own blinks
    for s, e in blinks:  # each generated blink's apex closes the lids
        assert ear[s:e].min() <= 0.3 * open_ear
    between = np.ones(len(ear), bool)
    for s, e in blinks:
        between[max(0, s - 4) : e + 4] = False
    # between blinks: the photo's own opening (not the canonical's narrower one)
    assert np.median(ear[between]) == pytest.approx(open_ear, rel=0.03)
    assert np.percentile(ear[between], 25) >= 0.9 * open_ear


def test_no_blink_model_leaves_eyes_and_other_points_alone(bundle) -> None:  # type: ignore[no-untyped-def]
    audio = np.zeros(16000 * 2, np.float32)
    photo = _photo(bundle, 1.3)
    image = np.zeros((400, 400, 3), np.uint8)
    still = predict_landmarks(image, audio, bundle.lgan, None, person_landmarks=photo)
    np.testing.assert_allclose(still[:, 36:48], np.broadcast_to(photo[36:48], still[:, 36:48].shape), atol=1e-4)
    blinking = predict_landmarks(image, audio, bundle.lgan, bundle.blink, seed=3, person_landmarks=photo)
    other = [i for i in range(68) if not 36 <= i < 48 and not 17 <= i < 27]
    np.testing.assert_array_equal(blinking[:, other], still[:, other])  # only the eye region moves


def test_closure_mapping() -> None:
    open_ear = np.array([0.3, 0.3])
    canon = np.zeros((3, 68, 2))
    photo = np.zeros((68, 2))
    for i, (x, y) in zip(range(36, 42), [(0, 0), (1, -0.3), (2, -0.3), (3, 0), (2, 0.3), (1, 0.3)], strict=True):
        photo[i] = photo[i + 6] = (x, y)
    canon[:] = photo
    closure = blink_closure(canon, open_ear)  # the photo's eye has EAR 0.2 = 0.67 of 0.3: nearly closed
    assert closure.shape == (3, 2) and (closure > 0.5).all() and (closure <= 1.0).all()
    closed = apply_closure(np.repeat(photo[None], 2, 0), photo, np.array([[0.0, 0.0], [1.0, 1.0]]))
    np.testing.assert_allclose(closed[0], photo, atol=1e-6)
    assert eye_aspect_ratio(closed[1]) == pytest.approx(0.1 * eye_aspect_ratio(photo), rel=1e-4)


def test_open_eye_level_is_cached(bundle) -> None:  # type: ignore[no-untyped-def]
    a = open_eye_level(bundle.blink)
    assert a.shape == (2,) and (a > 0.2).all() and (a < 0.4).all()
    assert open_eye_level(bundle.blink) is not None and np.array_equal(open_eye_level(bundle.blink), a)
