"""The mouth request (docs/motion.md section 6): the amplitude gain about the speech mean posture, and an
open photo mouth closed to the motion model's rest gap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from talkface.eval.motion_metrics import mouth_opening
from talkface.face.align import Similarity, canonical_face
from talkface.motion.amplitude import (
    CORNER_POSTURE,
    MAX_CLOSING,
    MOUTH_REQUESTS,
    MouthRequest,
    centred_motion,
    corner_matrix,
    mouth_request,
    photo_corners,
)
from talkface.motion.retarget import close_mouth

LOWER = [56, 57, 58, 65, 66, 67]


def _speech(n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A damped prediction: in speech the lips part by a mean posture plus a small oscillation; pauses closed."""
    face = canonical_face().astype(np.float64)
    t = np.arange(n)
    speech = ((t >= 20) & (t < 100)).astype(np.float64)
    track = np.repeat(face[None], n, 0)
    track[:, LOWER, 1] += (speech * (0.06 + 0.02 * np.sin(t / 2.0)))[:, None]
    return track.astype(np.float32), face.astype(np.float32), speech


def test_centred_motion_amplifies_about_the_mean_posture_in_speech_only() -> None:
    track, face, speech = _speech()
    before = mouth_opening(track)
    out, gain = centred_motion(track, face, speech, target_std=1.2 * float(before.std()))
    after = mouth_opening(out)
    on = speech > 0
    assert 1.0 < gain < 2.5 and float(after.std()) == pytest.approx(1.2 * float(before.std()), rel=0.01)
    assert float(after[on].mean()) == pytest.approx(float(before[on].mean()), abs=1e-4)  # the mean posture stays
    assert float(after[on].std()) > 1.5 * float(before[on].std())  # the motion about it grows
    np.testing.assert_array_equal(out[~on], track[~on])  # pauses are the model's own
    # scaling about the neutral face instead multiplies the mean posture too (the old request)
    about_neutral = face + gain * (track - face)
    assert float(mouth_opening(about_neutral)[on].mean()) > 1.3 * float(before[on].mean())


def test_centred_motion_limits() -> None:
    track, face, speech = _speech()
    std = float(mouth_opening(track).std())
    out, gain = centred_motion(track, face, speech, target_std=0.5 * std)  # lively enough: untouched
    assert gain == 1.0 and out is not None and np.array_equal(out, track)
    out, gain = centred_motion(track, face, speech, target_std=100 * std, max_gain=2.0)  # capped
    assert gain == 2.0
    out, gain = centred_motion(track, face, np.zeros(len(track)))  # no speech: nothing to scale
    assert gain == 1.0 and np.array_equal(out, track)
    with pytest.raises(ValueError, match="speech"):
        centred_motion(track, face, speech[:-1])


def test_close_mouth_keeps_the_rest_gap() -> None:
    face = Similarity.from_params(60.0, 0.1, (100.0, 100.0)).apply(canonical_face()).astype(np.float64)
    down = np.array([-np.sin(0.1), np.cos(0.1)]) * 10.0
    open_face = face.copy()
    open_face[[65, 66, 67, 55, 56, 57, 58, 59]] += down
    assert mouth_opening(open_face) > 0.15
    assert float(mouth_opening(close_mouth(open_face))) < 0.01
    rest = close_mouth(open_face, keep_gap=0.03)
    assert float(mouth_opening(rest)) == pytest.approx(0.03, abs=0.003)
    np.testing.assert_array_equal(close_mouth(rest, keep_gap=0.05), rest.astype(np.float32))  # closer: unmoved
    with pytest.raises(ValueError, match="keep_gap"):
        close_mouth(open_face, keep_gap=-0.1)


def test_mouth_request_names() -> None:
    assert mouth_request(None) == MouthRequest() == MOUTH_REQUESTS["centred"]
    inf = float("inf")
    assert mouth_request("neutral") == MouthRequest(centre="neutral", rest_gap="zero", corner_posture=1.0,
                                                    max_closing=inf)
    assert mouth_request("model_corners") == MouthRequest(corner_posture=1.0, max_closing=inf)
    assert MouthRequest().max_closing == MAX_CLOSING
    with pytest.raises(ValueError, match="max_closing"):
        MouthRequest(max_closing=0.0)
    assert 0.0 <= MouthRequest().corner_posture == CORNER_POSTURE < 1.0
    with pytest.raises(ValueError, match="corner_posture"):
        MouthRequest(corner_posture=1.5)
    with pytest.raises(ValueError, match="mouth request"):
        mouth_request("loud")
    with pytest.raises(ValueError, match="centre"):
        MouthRequest(centre="middle")
    from talkface.config_checks import OptionError
    from talkface.pipeline import AnimateConfig

    assert AnimateConfig().mouth_request == "centred"
    with pytest.raises(OptionError, match="must be one of centred, model_corners, neutral"):
        AnimateConfig(mouth_request="loud")


def test_predict_landmarks_rests_an_open_photo_at_the_model_gap(fixtures_dir: Path) -> None:
    """With the shipped model: an open photo's rest (``motion_scale`` 0) keeps the model's neutral gap by
    default, the old request pressed the lips together; the normalised speech differs only in amplitude."""
    from talkface.io.media import read_audio
    from talkface.models import load_lgan_net
    from talkface.motion.render import predict_landmarks
    from talkface.pipeline import DEFAULT_MODEL

    lgan = load_lgan_net(DEFAULT_MODEL / "lgan.pt")
    audio = read_audio(fixtures_dir / "espeak_hello.flac")
    person = Similarity.from_params(60.0, 0.0, (100.0, 100.0)).apply(canonical_face()).astype(np.float32)
    gaping = person.copy()
    gaping[[55, 56, 57, 58, 59, 65, 66, 67]] += np.array([0.0, 9.0], np.float32)
    image = np.zeros((200, 200, 3), np.uint8)
    model_gap = float(mouth_opening(lgan.canonical_neutral.numpy()))
    assert 0.01 < model_gap < 0.05
    assert 0.1 < float(mouth_opening(gaping)) < MAX_CLOSING + model_gap  # open, not wide open
    rest = predict_landmarks(image, audio, lgan, person_landmarks=gaping, motion_scale=0.0)
    old_rest = predict_landmarks(image, audio, lgan, person_landmarks=gaping, motion_scale=0.0, mouth="neutral")
    np.testing.assert_allclose(mouth_opening(rest), model_gap, atol=0.003)
    assert float(mouth_opening(old_rest).max()) < 0.005
    new = predict_landmarks(image, audio, lgan, person_landmarks=person)
    old = predict_landmarks(image, audio, lgan, person_landmarks=person, mouth="neutral")
    assert new.shape == old.shape and not np.allclose(new, old)
    o_new, o_old = mouth_opening(new), mouth_opening(old)
    assert float(o_new.std()) == pytest.approx(float(o_old.std()), rel=0.15)  # as lively
    assert float(o_new.mean()) < float(o_old.mean())  # the mean posture is not inflated


def _wide_open_photo() -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """The shipped l-GAN, a canonical face in pixels, the same face with the lower lip dropped 24 px (a wide-open
    mouth, a tongue and both rows of teeth), and a blank image (the landmarks are given)."""
    from talkface.models import load_lgan_net
    from talkface.pipeline import DEFAULT_MODEL

    lgan = load_lgan_net(DEFAULT_MODEL / "lgan.pt")
    person = Similarity.from_params(60.0, 0.0, (100.0, 100.0)).apply(canonical_face()).astype(np.float32)
    wide = person.copy()
    wide[[55, 56, 57, 58, 59, 65, 66, 67]] += np.array([0.0, 24.0], np.float32)
    return lgan, person, wide, np.zeros((200, 200, 3), np.uint8)


def test_a_wide_open_photo_mouth_closes_part_way(fixtures_dir: Path) -> None:
    """A photo mouth opened more than MAX_CLOSING beyond the rest gap (a tongue, both rows of teeth) is closed by
    MAX_CLOSING only: warped all the way shut it turned into a pink blob (docs/render.md); the earlier requests
    close it all the way."""
    from talkface.io.media import read_audio
    from talkface.motion.render import predict_landmarks

    lgan, person, wide, image = _wide_open_photo()
    audio = read_audio(fixtures_dir / "espeak_hello.flac")[:8000]
    model_gap = float(mouth_opening(lgan.canonical_neutral.numpy()))
    opening = float(mouth_opening(wide))
    assert opening > MAX_CLOSING + model_gap + 0.1
    rest = predict_landmarks(image, audio, lgan, person_landmarks=wide, motion_scale=0.0)
    np.testing.assert_allclose(mouth_opening(rest), opening - MAX_CLOSING, atol=0.003)
    assert MouthRequest().closed_opening(lgan.canonical_neutral.numpy(), wide) == pytest.approx(opening - MAX_CLOSING)
    assert MouthRequest().closed_opening(lgan.canonical_neutral.numpy(), person) == pytest.approx(model_gap)
    assert MouthRequest().closes_part_way(lgan.canonical_neutral.numpy(), wide)
    assert not MouthRequest().closes_part_way(lgan.canonical_neutral.numpy(), person)
    shut = predict_landmarks(image, audio, lgan, person_landmarks=wide, motion_scale=0.0, mouth="model_corners")
    np.testing.assert_allclose(mouth_opening(shut), model_gap, atol=0.003)


def test_a_wide_open_photo_mouth_closes_all_the_way_in_pauses(fixtures_dir: Path) -> None:
    """Closed part way in speech, a wide-open photo mouth closes to the rest gap once a pause lasts PAUSE_HOLD_S
    (PauseClosure), and opens again when speech resumes; a photo that closes all the way anyway is unchanged."""
    from talkface.io.media import read_audio
    from talkface.motion.amplitude import PAUSE_HOLD_S, PauseClosure
    from talkface.motion.render import predict_landmarks

    lgan, person, wide, image = _wide_open_photo()
    speech = read_audio(fixtures_dir / "espeak_hello.flac")[:16000]
    audio = np.concatenate([speech, np.zeros(24000, np.float32), speech])  # 1 s, a 1.5 s pause, 1 s
    model_gap = float(mouth_opening(lgan.canonical_neutral.numpy()))
    opening = float(mouth_opening(wide))
    rest = mouth_opening(predict_landmarks(image, audio, lgan, person_landmarks=wide, motion_scale=0.0))
    fps = float(lgan.config.fps)
    pause = slice(int(1.0 * fps + PAUSE_HOLD_S * fps + 0.35 * fps), int(2.5 * fps) - 2)  # well inside the pause
    np.testing.assert_allclose(rest[pause], model_gap, atol=0.003)  # closed in the pause
    np.testing.assert_allclose(rest[5:int(0.8 * fps)], opening - MAX_CLOSING, atol=0.003)  # part way in speech
    np.testing.assert_allclose(rest[-int(0.5 * fps):], opening - MAX_CLOSING, atol=0.003)  # and after the pause
    off = MouthRequest(close_in_pauses=False)
    kept = mouth_opening(predict_landmarks(image, audio, lgan, person_landmarks=wide, motion_scale=0.0, mouth=off))
    np.testing.assert_allclose(kept[pause], opening - MAX_CLOSING, atol=0.003)
    # a photo closed all the way anyway: nothing changes
    a = predict_landmarks(image, audio, lgan, person_landmarks=person, motion_scale=0.0)
    b = predict_landmarks(image, audio, lgan, person_landmarks=person, motion_scale=0.0, mouth=off)
    np.testing.assert_array_equal(a, b)
    # the rule: causal, closes after the hold, opens faster than it closes
    w = PauseClosure(25.0).step(np.r_[np.ones(5), np.zeros(30), np.ones(5)])
    assert w[:5 + int(PAUSE_HOLD_S * 25) - 1].max() == 0.0 and w[34] == 1.0 and w[-1] == 0.0


CORNERS = [48, 54, 60, 64]


def test_corner_matrix_spreads_each_sides_corners_over_the_mouth() -> None:
    face = canonical_face().astype(np.float64)
    w = corner_matrix(face)
    assert w.shape == (68, 68) and not w[:48].any()  # only mouth points move
    for p, side in ((48, (48, 60)), (54, (54, 64))):  # an outer corner follows its side's corners fully
        assert w[p, list(side)] == pytest.approx([0.5, 0.5]) and w[p].sum() == pytest.approx(1.0)
    assert w[[51, 57, 62, 66]].sum() == pytest.approx(0.0, abs=1e-3)  # the middle of the lips does not
    weight = w.sum(axis=1)
    assert 0.0 < weight[49] < 0.6 and weight[49] == pytest.approx(weight[53], abs=0.1)  # fall-off, symmetric
    with pytest.raises(ValueError, match="neutral"):
        corner_matrix(face[:60])


def test_photo_corners_moves_only_the_corners_mean_posture_in_speech() -> None:
    """The model pulls the corners down and in on average in speech, and rounds them about that: the mean drop
    shrinks to ``keep`` of the model's, the rounding and the lips' middle and the pauses are untouched."""
    face = canonical_face().astype(np.float64)
    n = 120
    t = np.arange(n)
    speech = ((t >= 20) & (t < 100)).astype(np.float64)
    track = np.repeat(face[None], n, 0)
    track[:, LOWER, 1] += (speech * (0.06 + 0.02 * np.sin(t / 2.0)))[:, None]
    inward = np.sign(face[CORNERS, 0] - face[[48, 54], 0].mean())  # corners: -1 left ... +1 right
    round_ = 0.01 * np.sin(t / 3.0)
    track[:, CORNERS, 1] += (speech * 0.02)[:, None]  # the mean posture: down
    track[:, CORNERS, 0] -= (speech * (0.015 + round_))[:, None] * inward  # in, and rounding about that
    out = photo_corners(track, face, speech, keep=0.25)
    on = speech > 0
    drop = out[on][:, CORNERS, 1].mean(0) - face[CORNERS, 1]
    narrow = (out[on][:, CORNERS, 0].mean(0) - face[CORNERS, 0]) * -inward
    # the outer corners keep 1/4 of the model's mean posture, the inner ones (nearer the middle) more of it
    np.testing.assert_allclose(drop[:2], 0.25 * 0.02, atol=1e-6)
    np.testing.assert_allclose(narrow[:2], 0.25 * 0.015, atol=1e-3)
    assert (drop[2:] > 0.25 * 0.02).all() and (drop[2:] < 0.7 * 0.02).all()
    np.testing.assert_allclose(np.diff(out[on][:, CORNERS], axis=0), np.diff(track[on][:, CORNERS], axis=0),
                               atol=1e-6)  # the motion about the mean is the model's
    np.testing.assert_allclose(out[:, [51, 57, 62, 66]], track[:, [51, 57, 62, 66]], atol=1e-4)
    np.testing.assert_allclose(mouth_opening(out), mouth_opening(track), atol=1e-3)
    np.testing.assert_array_equal(out[~on], track[~on].astype(np.float32))
    np.testing.assert_array_equal(photo_corners(track, face, speech, keep=1.0), track.astype(np.float32))
    np.testing.assert_array_equal(photo_corners(track, face, np.zeros(n)), track.astype(np.float32))
    with pytest.raises(ValueError, match="keep"):
        photo_corners(track, face, speech, keep=-0.5)


def test_predict_landmarks_keeps_the_photos_corners_in_speech(fixtures_dir: Path) -> None:
    """With the shipped model: the default request's corners stay nearer the photo's on average in speech than
    the model's own posture (``model_corners``), their motion and the opening are the same."""
    from talkface.audio.windows import audio_rms_per_frame
    from talkface.io.media import read_audio
    from talkface.models import load_lgan_net
    from talkface.motion.amplitude import speech_presence
    from talkface.motion.render import predict_landmarks
    from talkface.pipeline import DEFAULT_MODEL

    lgan = load_lgan_net(DEFAULT_MODEL / "lgan.pt")
    audio = read_audio(fixtures_dir / "espeak_hello.flac")
    person = Similarity.from_params(60.0, 0.0, (100.0, 100.0)).apply(canonical_face()).astype(np.float32)
    image = np.zeros((200, 200, 3), np.uint8)
    new = predict_landmarks(image, audio, lgan, person_landmarks=person).astype(np.float64)
    old = predict_landmarks(image, audio, lgan, person_landmarks=person, mouth="model_corners").astype(np.float64)
    on = speech_presence(audio_rms_per_frame(audio, len(new), lgan.config.fps)) > 0.5
    assert on.sum() > 10
    off_new = np.linalg.norm(new[on][:, CORNERS].mean(0) - person[CORNERS], axis=-1)
    off_old = np.linalg.norm(old[on][:, CORNERS].mean(0) - person[CORNERS], axis=-1)
    assert (off_old > 0.05).all()  # the model moves the corners on average (GRID s1's posture)
    assert (off_new < 0.7 * off_old).all()
    np.testing.assert_allclose(mouth_opening(new), mouth_opening(old), atol=2e-3)
    np.testing.assert_allclose(np.diff(new[on][:, CORNERS], axis=0).std(), np.diff(old[on][:, CORNERS], axis=0).std(),
                               rtol=0.05)
