"""Live mode at parity with ``animate``: online head/brow motion and mouth-amplitude normalisation."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from talkface.face.geometry import SPEECH_POINTS
from talkface.io.media import read_audio
from talkface.live.online_motion import OnlineHeadMotion, OnlineMouthGain
from talkface.live.stream import FaceStream, MotionStream, OnlineBlinks, load_stream_model
from talkface.motion.retarget import retarget
from talkface.pipeline import AnimateConfig, Animator

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FPS = 25


@pytest.fixture(scope="module")
def animator() -> Animator:
    torch.set_num_threads(1)
    return Animator(AnimateConfig(threads=1))


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    audio = read_audio(EXAMPLES / "speech.wav")
    return np.concatenate([np.zeros(8000, np.float32), audio, np.zeros(12000, np.float32)])


def _landmarks(animator: Animator, audio: np.ndarray, chunk: int, **options: object) -> np.ndarray:
    face = FaceStream(animator, EXAMPLES / "face.png", renderer=lambda *a: lambda lm: list(np.asarray(lm)),
                      **options)  # type: ignore[arg-type]
    frames = []
    for i in range(0, len(audio), chunk):
        frames += face.push(audio[i:i + chunk])
    frames += face.finish()
    return np.stack([f for _, f in frames])


@pytest.mark.parametrize("options", [{"head_motion": 1.0}, {"head_motion": 2.0, "seed": 7}])
def test_head_motion_and_gain_do_not_depend_on_chunking(animator: Animator, speech: np.ndarray,
                                                        options: dict[str, float]) -> None:
    a = _landmarks(animator, speech, 160, **options)
    b = _landmarks(animator, speech, 1234, **options)
    np.testing.assert_allclose(a, b, atol=1e-3)
    still = _landmarks(animator, speech, 1234, head_motion=0.0, seed=options.get("seed", 0))
    # the head really moves (rigid points shift by more than a pixel somewhere)
    assert np.abs(a[:, 27:36] - still[:, 27:36]).max() > 1.0


def test_head_motion_0_gives_the_stream_output_without_head_motion(animator: Animator, speech: np.ndarray) -> None:
    from talkface.motion.blink import EYE_POINTS
    from talkface.motion.lgan import SPEECH_POINTS

    out = _landmarks(animator, speech, 999, head_motion=0.0, normalise_mouth=False, seed=3)
    # the stream as it was before head motion: model motion + online blinks, retargeted
    model = load_stream_model(animator)
    face = FaceStream(animator, EXAMPLES / "face.png", renderer=lambda *a: lambda lm: list(lm), seed=3)
    motion = MotionStream(model)
    disp = motion.push(speech)
    total = len(out)
    pad = model.config.samples_needed(total - 1) - motion.samples
    tail = motion.push(np.zeros(max(0, pad), np.float32), limit=total)
    # the frames made at the end (their look-ahead reads the padding) ramp down to the rest posture
    tail = tail * (np.arange(len(tail) - 1, -1, -1, dtype=np.float32) / max(len(tail), 1))[:, None, None]
    disp = np.concatenate([disp, tail])
    neutral = model.canonical_neutral.numpy()
    canonical = np.broadcast_to(neutral, (total, 68, 2)).copy()
    canonical[:, list(SPEECH_POINTS)] += disp
    blink = animator.bundle.blink
    scale = blink.noise_scale_for_rate(float(animator.config.blink_rate)) if animator.config.blink_rate else 1.0
    canonical[:, list(EYE_POINTS)] += OnlineBlinks(blink, 3, scale).step(total)
    from talkface.motion.lids import apply_closure, blink_closure, open_eye_level

    expected = apply_closure(retarget(canonical, neutral, face.neutral), face.neutral,
                             blink_closure(canonical, open_eye_level(blink)))  # blink depth on the photo's eyes
    np.testing.assert_allclose(out, expected, atol=1e-3)


def test_online_head_motion_state_is_bounded_and_does_not_drift() -> None:
    rng = np.random.default_rng(0)
    head = OnlineHeadMotion(FPS, seed=1)
    sizes, poses = [], []
    t = np.arange(16000) / 16000
    for k in range(600):  # 10 minutes of bursts of noisy "speech" and pauses, 1-s chunks
        loud = 0.2 if k % 3 else 0.0
        head.push_audio((rng.standard_normal(16000) * loud * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(
            np.float32))
        poses.append(head.step(FPS - 1 if k == 0 else FPS).pose)
        sizes.append(head.state_size)
    pose = np.concatenate(poses)
    assert max(sizes) < 5000
    # once the running speaking rate has frozen (and dropped its loudness track) the state is constant
    assert head.rate is not None and head.rate.frozen
    assert max(sizes[30:]) <= min(sizes[30:]) + 2 * 640 + 25 * 7
    first, last = pose[: len(pose) // 2], pose[len(pose) // 2:]
    limit = 2.5 * np.array([6.5, 2.7, 5.4, 0.155, 0.063, 0.012]) * 1.001
    assert (np.abs(pose) <= limit + np.array([0, 1.5, 0, 0, 0, 0])).all()
    # stationary: the spread is similar in both halves and the mean stays near 0
    np.testing.assert_array_less(np.abs(last.std(0) / first.std(0) - 1), 0.35)
    np.testing.assert_array_less(np.abs(pose.mean(0)), 0.3 * pose.std(0) + 1e-9)


def test_mouth_gain_starts_at_1_follows_the_offline_law_and_ignores_silence() -> None:
    from talkface.motion.amplitude import MAX_GAIN, TARGET_OPENING_STD

    gain = OnlineMouthGain(fps=FPS)
    assert (gain.step(np.full(20, 0.3), np.zeros(20, bool)) == 1).all()  # silence first: never amplified
    rng = np.random.default_rng(0)
    small = 0.1 + rng.standard_normal(400) * TARGET_OPENING_STD / 2  # half the wanted variability
    g = gain.step(small, np.ones(400, bool))
    assert 1.0 <= g[0] < 1.25 and abs(g[-1] - 2.0) < 0.25
    tiny = gain.step(0.1 + rng.standard_normal(400) * 1e-4, np.ones(400, bool))
    assert tiny[-1] == pytest.approx(MAX_GAIN)
    large = gain.step(0.1 + rng.standard_normal(400) * TARGET_OPENING_STD * 2, np.ones(400, bool))
    assert large[-1] == 1.0


def test_live_page_and_cli_check_head_motion_like_animate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from fastapi.testclient import TestClient

    from talkface.cli import main
    from talkface.serve.app import ServeConfig, create_app

    app = create_app(ServeConfig(threads=1, max_live_sessions=1), animator_factory=lambda: None)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert 'id="head_motion"' in client.get("/live").text
        for bad in (-1, 3.5, "x", None):
            with client.websocket_connect("ws://127.0.0.1/v1/live") as ws:
                ws.send_text(json.dumps({"type": "start", "photo": "", "head_motion": bad}))
                reply = json.loads(ws.receive_text())
                assert reply["type"] == "error" and reply["message"].startswith("head_motion: "), reply
    # checked by AnimateConfig, as for animate: one line, exit status 2, before any model loads
    assert main(["live", str(EXAMPLES / "face.png"), "--audio-from", str(EXAMPLES / "speech.wav"),
                 "-o", str(tmp_path / "x.mp4"), "--head-motion", "-2"]) == 2
    assert "--head-motion: must be between 0 and 3" in capsys.readouterr().err


def test_stream_renders_with_the_animators_renderer_covering_the_head_motion(animator: Animator,
                                                                             speech: np.ndarray) -> None:
    from talkface.live.online_motion import head_motion_envelope
    from talkface.live.stream import frame_renderer

    face = FaceStream(animator, EXAMPLES / "face.png", renderer=lambda *a: lambda lm: list(np.asarray(lm)))
    env = head_motion_envelope(face.person_landmarks, 1.0, face.canonical_neutral)
    lm = _landmarks(animator, speech, 1234, head_motion=1.0)
    lo, hi = env.reshape(-1, 2).min(0), env.reshape(-1, 2).max(0)
    rigid = lm[:, 27:48]  # nose and eyes: where the head goes, inside the envelope
    assert (rigid.reshape(-1, 2) >= lo - 1).all() and (rigid.reshape(-1, 2) <= hi + 1).all()
    assert animator.config.renderer == "native"
    render = frame_renderer(animator, face.image, face.person_landmarks, 0, 1.0)
    frames = render(lm[10:13])
    assert len(frames) == 3 and frames[0].shape == face.image.shape and frames[0].dtype == np.uint8
    assert np.abs(frames[0].astype(int) - face.image.astype(int)).max() > 10  # the face moved


def test_online_speech_presence_is_the_offline_one_causally() -> None:
    from talkface.live.online_motion import OnlineSpeechPresence
    from talkface.motion.amplitude import speech_presence

    rng = np.random.default_rng(1)
    loud = np.zeros(200, bool)
    for a, b in ((10, 60), (75, 78), (90, 150), (170, 185)):  # words and pauses (one 3-frame word)
        loud[a:b] = True
    rms = np.where(loud, 0.1, 0.0005) * np.exp(rng.normal(0, 0.2, 200))  # pauses 46 dB down, under -50 dBFS
    offline = speech_presence(rms)
    whole = OnlineSpeechPresence(FPS).step(np.concatenate([rms, np.zeros(2)]))
    chunked_presence = OnlineSpeechPresence(FPS)
    parts, t = [], 0
    for n in (1, 7, 3, 50, 139):  # any chunking: the same values
        parts.append(chunked_presence.step(np.concatenate([rms, np.zeros(2)])[t:t + n + 2]))
        t += n
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert len(chunked_presence._raw) <= 2 + 2 * chunked_presence.hold + 1  # the state stays a few flags
    # the same as offline but at each onset's first ramp frame (its look-ahead frame would need 140 ms)
    onset_first = [a - 3 for a in (10, 75, 90, 170)]
    differs = np.flatnonzero(np.abs(whole - offline) > 1e-6)
    assert set(differs) <= set(onset_first), differs
    np.testing.assert_allclose(offline[differs], 1 / 3, atol=1e-6)
    assert (whole[differs] == 0).all()


def test_online_centred_mouth_follows_the_offline_centred_request() -> None:
    """Fed a damped utterance (no decay, no prior), the running gain reaches the offline bisection's; pauses
    and frames before speech are the model's own; the mean posture is kept, not amplified."""
    from talkface.face.align import canonical_face
    from talkface.face.geometry import mouth_opening
    from talkface.live.online_motion import OnlineCentredMouth
    from talkface.motion.amplitude import centred_motion

    face = canonical_face().astype(np.float64)
    n = 300
    t = np.arange(n)
    speech = (((t >= 20) & (t < 140)) | (t >= 170)).astype(np.float64)
    track = np.repeat(face[None], n, 0)
    track[:, [56, 57, 58, 65, 66, 67], 1] += (speech * (0.06 + 0.02 * np.sin(t / 2.0)))[:, None]
    target = 1.3 * float(mouth_opening(track).std())
    # the online moments start at the first speech frame (a live session may start with minutes of silence)
    offline, g_off = centred_motion(track[20:], face, speech[20:], target_std=target)
    offline = np.concatenate([track[:20], offline])
    points = list(SPEECH_POINTS)
    online = OnlineCentredMouth(target_std=target, seconds=1e9, prior_seconds=0.0)
    parts, gains = [], []
    for a, b in ((0, 5), (5, 111), (111, 250), (250, n)):
        d, g = online.step(track[a:b, points] - face[points], mouth_opening(track[a:b]), speech[a:b],
                           np.ones(b - a, bool))
        parts.append(d)
        gains.append(g)
    out = np.repeat(face[None], n, 0)
    out[:, points] += np.concatenate(parts)
    gain = np.concatenate(gains)
    assert 1.1 < g_off < 2.5 and abs(gain[-1] - g_off) < 0.02 * g_off
    assert (gain[speech == 0] == 1).all()
    np.testing.assert_allclose(out[speech == 0], track[speech == 0], atol=1e-5)
    settled, late = (t >= 100) & (t < 200), t >= 200  # the running mean and gain have settled
    np.testing.assert_allclose(mouth_opening(out)[settled], mouth_opening(offline)[settled], atol=0.2 * target)
    np.testing.assert_allclose(mouth_opening(out)[late], mouth_opening(offline)[late], atol=0.15 * target)
    on = speech > 0
    assert float(mouth_opening(out)[on].mean()) == pytest.approx(float(mouth_opening(track)[on].mean()), rel=0.03)
    # warm-up: with the default prior the first speech frames get the streaming model's typical gain
    first = OnlineCentredMouth()
    _, g = first.step(track[:30, points] - face[points], mouth_opening(track[:30]), speech[:30], np.ones(30, bool))
    assert (g[:20] == 1).all() and 1.1 < g[20] < 1.4


def test_online_centred_mouth_moves_the_corners_mean_posture_as_offline() -> None:
    """With ``corners`` the stream removes the same share of the corners' running mean posture in speech as
    :func:`talkface.motion.amplitude.photo_corners` does offline with the whole utterance's mean."""
    from talkface.face.align import canonical_face
    from talkface.face.geometry import mouth_opening
    from talkface.live.online_motion import OnlineCentredMouth, corner_share
    from talkface.motion.amplitude import photo_corners

    face = canonical_face().astype(np.float64)
    n = 200
    t = np.arange(n)
    speech = (t >= 20).astype(np.float64)
    track = np.repeat(face[None], n, 0)
    corners = [48, 54, 60, 64]
    track[:, corners, 1] += (speech * (0.02 + 0.01 * np.sin(t / 3.0)))[:, None]
    offline = photo_corners(track, face, speech, keep=0.25)
    assert corner_share(face, 1.0) is None
    points = list(SPEECH_POINTS)
    online = OnlineCentredMouth(fixed=1.0, seconds=1e9, prior_seconds=0.0, corners=corner_share(face, 0.25))
    d, _ = online.step(track[:, points] - face[points], mouth_opening(track), speech, np.ones(n, bool))
    out = np.repeat(face[None], n, 0)
    out[:, points] += d
    np.testing.assert_allclose(out[:20], track[:20], atol=1e-6)  # before speech: the model's own
    late = t >= 100  # the running mean has settled near the utterance's
    np.testing.assert_allclose(out[late][:, corners], offline[late][:, corners], atol=2e-3)
    assert float(np.abs(out[late][:, corners] - track[late][:, corners]).max()) > 0.01  # it did move them


def test_stream_follows_animate_configs_mouth_request(animator: Animator, speech: np.ndarray) -> None:
    """An open photo mouth rests at the model's gap (centred, default; a wide-open one closed by at most
    MAX_CLOSING while speaking, further in a pause) or pressed shut (neutral), as offline."""
    import dataclasses

    from talkface.face.geometry import mouth_opening
    from talkface.live.online_motion import OnlineCentredMouth

    face = FaceStream(animator, EXAMPLES / "face.png", renderer=lambda *a: lambda lm: list(lm))
    gaping = np.asarray(face.person_landmarks, np.float32).copy()
    gaping[[55, 56, 57, 58, 59, 65, 66, 67], 1] += 0.25 * float(np.ptp(gaping[:, 0]))
    model_gap = float(mouth_opening(face.canonical_neutral))
    config = animator.config
    openings = {}
    try:
        animator._face = lambda image, where: gaping  # type: ignore[method-assign]
        for name in ("centred", "neutral"):
            animator.config = dataclasses.replace(config, mouth_request=name)
            lm = _landmarks(animator, speech[:16000], 4000, head_motion=0.0, motion_scale=0.0)
            openings[name] = mouth_opening(lm)
            stream = FaceStream(animator, EXAMPLES / "face.png", renderer=lambda *a: lambda x: list(x))
            assert isinstance(stream.mouth_gain, OnlineCentredMouth) == (name == "centred")
    finally:
        animator.config = config
        del animator._face
    assert float(mouth_opening(gaping)) > 0.2
    # a wide-open photo is closed by at most MAX_CLOSING (offline: MouthRequest.closed_opening)
    from talkface.motion.amplitude import MAX_CLOSING

    rest = max(model_gap, float(mouth_opening(gaping)) - MAX_CLOSING)
    # ... while speaking; in the clip's pause it closes towards the model's gap (PauseClosure), as offline
    got = openings["centred"]
    assert np.all(got <= rest + 0.003) and np.all(got >= model_gap - 0.003), got
    assert np.mean(np.abs(got - rest) < 0.003) > 0.5 and got.min() < rest - 0.1, got
    assert float(openings["neutral"].max()) < 0.005


def test_stream_renders_with_the_animators_shading_and_interior(animator: Animator, speech: np.ndarray) -> None:
    from talkface.live.stream import frame_renderer

    face = FaceStream(animator, EXAMPLES / "face.png", renderer=lambda *a: lambda lm: list(np.asarray(lm)))
    lm = _landmarks(animator, speech, 1234, head_motion=0.0)
    wide = int(np.argmax(lm[:, 66, 1] - lm[:, 62, 1]))  # the widest-open frame: shading and interior act there
    frames = {}
    for shading, adaptive in ((0.0, False), (1.0, False), (0.0, True)):
        other = copy.copy(animator)  # the same loaded models, another config
        other.config = dataclasses.replace(animator.config, shading=shading, adaptive_mouth=adaptive)
        frames[shading, adaptive] = frame_renderer(other, face.image, face.person_landmarks, 0, 0.0)(
            lm[wide:wide + 1])[0].astype(int)
    plain = frames[0.0, False]
    assert np.abs(frames[1.0, False] - plain).max() > 2  # the learned lower-face shading reached the stream
    assert np.abs(frames[0.0, True] - plain).max() > 2  # so did the photo-adaptive interior


def test_live_cli_checks_shading_like_animate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from talkface.cli import main

    for bad in ("-1", "3.5", "x"):
        argv = ["live", str(EXAMPLES / "face.png"), "--audio-from", str(EXAMPLES / "speech.wav"),
                "-o", str(tmp_path / "x.mp4"), "--shading", bad]
        if bad == "x":  # not a number: argparse's usage error
            with pytest.raises(SystemExit):
                main(argv)
        else:  # out of range: AnimateConfig's one line, as for animate
            assert main(argv) == 2
        assert "--shading" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()
