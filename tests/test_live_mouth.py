"""The live mouth closes: an over-open running mean posture is capped, and the stream ends with the mouth at rest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from talkface.face.align import canonical_face
from talkface.face.geometry import SPEECH_POINTS, mouth_opening
from talkface.io.media import read_audio
from talkface.live.online_motion import MEAN_OPENING_CAP, OnlineCentredMouth
from talkface.live.stream import FaceStream
from talkface.pipeline import AnimateConfig, Animator

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LOWER_LIP = [56, 57, 58, 65, 66, 67]


def _track(mean_drop: float, n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The canonical face with the lower lip lowered by ``mean_drop`` plus a wobble in speech (frames 20..)."""
    face = canonical_face().astype(np.float64)
    t = np.arange(n)
    speech = (t >= 20).astype(np.float64)
    track = np.repeat(face[None], n, 0)
    track[:, LOWER_LIP, 1] += (speech * (mean_drop + 0.015 * np.sin(t / 2.0)))[:, None]
    return face, track, speech


def _run(mouth: OnlineCentredMouth, face: np.ndarray, track: np.ndarray, speech: np.ndarray) -> np.ndarray:
    points = list(SPEECH_POINTS)
    out = np.repeat(face[None], len(track), 0)
    parts = []
    for a in range(0, len(track), 7):  # in chunks, as a stream
        b = min(len(track), a + 7)
        d, _ = mouth.step(track[a:b, points] - face[points], mouth_opening(track[a:b]), speech[a:b],
                          np.ones(b - a, bool))
        parts.append(d)
    out[:, points] += np.concatenate(parts)
    return out


def test_an_over_open_running_mean_is_moved_down_to_the_cap_keeping_the_motion() -> None:
    face, track, speech = _track(0.09)
    rest = float(mouth_opening(face[None])[0])
    raw = mouth_opening(track)
    late = np.arange(len(track)) >= 200
    assert raw[late].mean() > MEAN_OPENING_CAP + 0.03  # the model's mean is well above the cap
    plain = _run(OnlineCentredMouth(fixed=1.0, seconds=1e9, prior_seconds=0.0), face, track, speech)
    capped = _run(OnlineCentredMouth(fixed=1.0, seconds=1e9, prior_seconds=0.0, rest_opening=rest), face, track,
                  speech)
    np.testing.assert_allclose(plain, track, atol=1e-5)  # without the rest opening: no cap, the model's own
    o = mouth_opening(capped)
    assert o[late].mean() == pytest.approx(MEAN_OPENING_CAP, abs=0.006)
    assert o[late].std() == pytest.approx(raw[late].std(), rel=0.1)  # the motion about the mean is kept
    assert np.corrcoef(o[late], raw[late])[0, 1] > 0.99
    assert o.min() >= rest - 1e-3  # no frame pushed below the rest
    np.testing.assert_allclose(capped[:20], track[:20], atol=1e-6)  # before speech: the model's own


def test_a_mean_below_the_cap_is_left_alone_and_the_floor_keeps_closed_frames_closed() -> None:
    face, track, speech = _track(0.03)
    rest = float(mouth_opening(face[None])[0])
    capped = _run(OnlineCentredMouth(fixed=1.0, seconds=1e9, prior_seconds=0.0, rest_opening=rest), face, track,
                  speech)
    np.testing.assert_allclose(capped, track, atol=1e-5)
    # an over-open utterance with deep closures: those frames stay at the rest instead of the lips crossing
    face, track, speech = _track(0.12)
    closed = (np.arange(len(track)) % 25 < 3) & (speech > 0)
    track[closed] = face
    capped = _run(OnlineCentredMouth(seconds=1e9, prior_seconds=0.0, rest_opening=rest), face, track, speech)
    o = mouth_opening(capped)
    upper, lower = capped[:, [61, 62, 63], 1], capped[:, [67, 66, 65], 1]
    assert (lower - upper >= -1e-3).all()  # the lower lip never above the upper one
    assert o[closed][5:].max() < rest + 0.01
    assert o[~closed & (np.arange(len(track)) >= 200)].mean() < mouth_opening(track)[200:].mean() - 0.02


@pytest.fixture(scope="module")
def animator() -> Animator:
    torch.set_num_threads(1)
    return Animator(AnimateConfig(threads=1))


def test_the_stream_ends_with_the_mouth_at_rest(animator: Animator) -> None:
    """Speech cut off mid-word: the frames whose look-ahead reads the end's padding ramp down to the rest posture
    instead of opening."""
    audio = read_audio(EXAMPLES / "speech.wav")
    for cut in (0.5, 0.75):
        face = FaceStream(animator, EXAMPLES / "face.png", head_motion=0.0,
                          renderer=lambda *a: lambda lm: list(np.asarray(lm)))
        end = int(cut * len(audio))
        pushed = []
        for i in range(0, end, 640):
            pushed += face.push(audio[i:min(end, i + 640)])
        last = face.finish()
        assert 2 <= len(last) <= 4  # the 120-ms look-ahead: 3 frames at 25 fps
        mouth = list(range(48, 68))
        np.testing.assert_allclose(np.asarray(last[-1][1])[mouth], face.neutral[mouth], atol=1e-3)
        assert len(pushed) + len(last) == round(end / 16000 * 25)
