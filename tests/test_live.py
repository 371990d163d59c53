"""Live mode (talkface.live): streaming motion, FaceStream / Animator.stream, the mp4 sink, `talkface live`,
and the /v1/live WebSocket of `talkface serve`, with the bundled model on real speech (examples/)."""

from __future__ import annotations

import base64
import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from talkface.cli import main
from talkface.eval.motion_metrics import mouth_opening
from talkface.io.media import probe, read_audio
from talkface.live.stream import FaceStream, MotionStream, OnlineBlinks, load_stream_model
from talkface.pipeline import AnimateConfig, Animator

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FPS = 25


@pytest.fixture(scope="module")
def animator() -> Animator:
    torch.set_num_threads(1)
    return Animator(AnimateConfig(threads=1))


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return read_audio(EXAMPLES / "speech.wav")


def _chunks(audio: np.ndarray, seed: int, largest: int = 3000) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out, i = [], 0
    while i < len(audio):
        n = int(rng.integers(1, largest))
        out.append(audio[i:i + n])
        i += n
    return out


def _landmark_renderer(animator: object, image: np.ndarray, landmarks: np.ndarray, size: int) -> object:
    """A renderer that returns the landmarks themselves (tests the motion path without the texture cost)."""
    return lambda lm: list(np.asarray(lm))


def test_stream_gives_one_frame_per_40_ms_at_monotonic_timestamps(animator: Animator, speech: np.ndarray) -> None:
    part = speech[: int(1.0 * 16000) + 123]  # 1.008 s -> 25 frames
    out = list(animator.stream(EXAMPLES / "face.png", _chunks(part, 0), size=128))
    expected = round(len(part) / 16000 * FPS)
    assert len(out) == expected
    ts = np.array([t for t, _ in out])
    np.testing.assert_allclose(ts, np.arange(expected) / FPS)
    frame = out[0][1]
    assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8
    # bytes (s16le) are accepted as well as float arrays, and give the same frame count
    pcm = (np.clip(part, -1, 1) * 32767).astype("<i2").tobytes()
    n = sum(1 for _ in animator.stream(EXAMPLES / "face.png", [pcm[i:i + 1000] for i in range(0, len(pcm), 1000)],
                                       renderer=_landmark_renderer))
    assert n == expected


def test_streamed_motion_is_independent_of_chunking_and_equals_the_whole_utterance(
        animator: Animator, speech: np.ndarray) -> None:
    model = load_stream_model(animator)
    whole = model.predict_canonical(speech)
    from talkface.motion.lgan import SPEECH_POINTS

    for seed in (1, 2):
        motion = MotionStream(model)
        parts = [motion.push(c) for c in _chunks(speech, seed)]
        total = len(whole)
        pad = model.config.samples_needed(total - 1) - motion.samples
        parts.append(motion.push(np.zeros(max(0, pad), np.float32), limit=total))
        streamed = np.concatenate(parts)
        assert streamed.shape == (total, 46, 2)
        np.testing.assert_allclose(streamed, whole[:, list(SPEECH_POINTS)] - model.canonical_neutral.numpy()[
            list(SPEECH_POINTS)], atol=1e-5)


def test_look_ahead_is_at_most_120_ms(animator: Animator) -> None:
    cfg = load_stream_model(animator).config
    for t in range(0, 200, 7):
        assert cfg.samples_needed(t) <= round((t / FPS + 0.120) * 16000)


def test_state_stays_bounded_over_a_long_input(animator: Animator) -> None:
    model = load_stream_model(animator)
    motion = MotionStream(model)
    rng = np.random.default_rng(0)
    sizes = []
    for _ in range(120):  # 2 minutes of noise in 1-s chunks
        motion.push((rng.standard_normal(16000) * 0.05).astype(np.float32))
        sizes.append(motion.state_size)
    assert motion.next_frame >= 120 * FPS - 4
    assert max(sizes) == min(sizes[1:])  # constant after the first chunk
    blinks = OnlineBlinks(animator.bundle.blink, seed=0)
    for _ in range(100):
        blinks.step(7)
    assert len(blinks._noise) < blinks.block


def test_plain_stream_model_matches_the_lightning_module(animator: Animator, speech: np.ndarray) -> None:
    """The bundle's streaming model loads as the plain network (inference) and as the LightningModule
    (training): same weights, same motion; a file of another model is refused with one line."""
    from talkface.errors import InputError
    from talkface.live.model import StreamMotionModel, load_stream_motion
    from talkface.live.train import StreamMotion, load_trainable
    from talkface.pipeline import DEFAULT_MODEL

    plain = load_stream_model(animator)
    trained = load_trainable(DEFAULT_MODEL / "stream_motion.pt")
    assert type(plain) is StreamMotionModel and type(trained) is StreamMotion
    sa, sb = plain.state_dict(), trained.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    np.testing.assert_array_equal(plain.predict_canonical(speech[:24000]), trained.predict_canonical(speech[:24000]))
    with pytest.raises(InputError, match="not a streaming-motion checkpoint"):
        load_stream_motion(DEFAULT_MODEL / "blink.pt")


def test_live_path_does_not_import_lightning() -> None:
    """`talkface live` / the /live page: loading the stream and making frames never imports Lightning."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; from talkface.pipeline import Animator, AnimateConfig;"
        "from talkface.live.stream import FaceStream; import talkface.live.command, talkface.serve.live;"
        f"s = FaceStream(Animator(AnimateConfig(threads=1)), {str(EXAMPLES / 'face.png')!r});"
        "n = len(s.push(np.zeros(8000, np.float32))) + len(s.finish());"
        "print(n, sorted(m for m in sys.modules if m.split('.')[0] == 'lightning' or m == 'talkface.train.core')[:3])"
    )
    src = Path(__file__).resolve().parents[1] / "src"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert out.stdout.split() == ["13", "[]"], out.stdout + out.stderr


def test_online_blinks_do_not_depend_on_chunking(animator: Animator) -> None:
    a = OnlineBlinks(animator.bundle.blink, seed=3)
    b = OnlineBlinks(animator.bundle.blink, seed=3)
    whole = a.step(60)
    parts = np.concatenate([b.step(n) for n in (1, 7, 13, 39)])
    np.testing.assert_allclose(whole, parts, atol=1e-5)
    assert np.abs(whole).max() > 0


def test_online_blinks_are_retimed_as_offline(animator: Animator) -> None:
    """Each block re-timed online (with its context either side) equals re-timing the whole raw sequence
    offline, whatever the chunking; the re-timing does change the blinks."""
    from talkface.motion.blink_shape import shape_blinks

    blink = animator.bundle.blink
    scale = blink.noise_scale_for_rate(1.0)  # many blinks, some across block edges
    raw = OnlineBlinks(blink, seed=5, noise_scale=scale, shaped=False).step(700)
    online = OnlineBlinks(blink, seed=5, noise_scale=scale)
    got = np.concatenate([online.step(n) for n in (3, 22, 50, 1, 24, 400)])
    expected = shape_blinks(raw, blink)[: len(got)]  # the last frames of `raw` lack their future context
    np.testing.assert_array_equal(got, expected)
    changed = np.abs(got - raw[: len(got)]).max(axis=(1, 2)) > 1e-4
    assert 0.05 < changed.mean() < 0.6  # the blinks' windows changed, the open eyes between them did not
    assert len(online._raw) <= 2 * online.margin + online.block


def test_mouth_moves_in_speech_and_rests_in_silence(animator: Animator, speech: np.ndarray) -> None:
    silence = np.zeros(int(1.5 * 16000), np.float32)
    audio = np.concatenate([silence, speech, silence])
    face = FaceStream(animator, EXAMPLES / "face.png", renderer=_landmark_renderer)
    frames = []
    for chunk in _chunks(audio, 4):
        frames += face.push(chunk)
    frames += face.finish()
    lm = np.stack([f for _, f in frames])
    opening = mouth_opening(lm)
    t = np.arange(len(lm)) / FPS
    rms = np.array([np.sqrt(np.mean(audio[int(x * 16000): int(x * 16000) + 640] ** 2) + 1e-12) for x in t])
    speaking = rms > 0.1 * rms.max()
    quiet = (t < 1.3) | (t > t[-1] - 1.2)
    assert opening[speaking].mean() > 2.5 * opening[quiet].mean() + 0.02
    assert opening[quiet].std() < 0.02  # at rest: the mouth does not chatter in silence


def test_cli_live_writes_mp4_with_audio(tmp_path: Path, speech: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    import soundfile as sf

    wav = tmp_path / "speech.wav"
    sf.write(wav, speech[: 16000], 16000)
    out = tmp_path / "live.mp4"
    assert main(["live", str(EXAMPLES / "face.png"), "--audio-from", str(wav), "-o", str(out), "--no-realtime",
                 "--size", "128", "--threads", "1"]) == 0
    info = probe(out)
    assert info.has_video and info.has_audio and info.num_frames == FPS
    assert abs(info.duration_s - 1.0) < 0.1
    assert "latency" in capsys.readouterr().err
    assert main(["live", str(tmp_path / "nope.jpg"), "--audio-from", str(wav), "-o", str(tmp_path / "x.mp4"),
                 "--no-realtime"]) == 2
    assert not (tmp_path / "x.mp4").exists()
    assert "nope.jpg" in capsys.readouterr().err


def _photo_b64(rgb: np.ndarray | None = None) -> str:
    if rgb is None:
        return base64.b64encode((EXAMPLES / "face.png").read_bytes()).decode()
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_live_websocket_session_limit_and_bad_input(speech: np.ndarray) -> None:
    from fastapi.testclient import TestClient

    from talkface.serve.app import ServeConfig, create_app

    app = create_app(ServeConfig(threads=1, max_live_sessions=1), animator_factory=lambda: None)
    pcm = (np.clip(speech[:16000], -1, 1) * 32767).astype("<i2").tobytes()
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert "talkface live" in client.get("/live").text
        # another web site's page may not open a live session (cross-site WebSocket hijacking)
        from starlette.websockets import WebSocketDisconnect

        with pytest.raises(WebSocketDisconnect) as refused, \
                client.websocket_connect("ws://127.0.0.1/v1/live", headers={"Origin": "http://evil.example"}):
            pass
        assert refused.value.code == 1008 and "other web sites" in refused.value.reason
        with client.websocket_connect("ws://127.0.0.1/v1/live") as ws:
            ws.send_text(json.dumps({"type": "start", "photo": _photo_b64(), "size": 128}))
            assert json.loads(ws.receive_text())["type"] == "ready"
            with client.websocket_connect("ws://127.0.0.1/v1/live") as other:  # past the limit: a clear "busy"
                reply = json.loads(other.receive_text())
                assert reply["type"] == "busy" and "busy" in reply["message"]
            for i in range(0, len(pcm), 1280):
                ws.send_bytes(pcm[i:i + 1280])
            ws.send_text(json.dumps({"type": "stop"}))
            indices = []
            while True:
                message = ws.receive()
                if message.get("bytes") is not None:
                    index, ts = struct.unpack("<Id", message["bytes"][:12])
                    assert message["bytes"][12:14] == b"\xff\xd8"  # a JPEG
                    indices.append(index)
                elif message.get("text") is not None:
                    end = json.loads(message["text"])
                    break
            assert end["type"] == "end" and end["frames"] == FPS
            assert indices == sorted(indices) and indices[-1] == FPS - 1
        cases = [
            ({"type": "start", "photo": _photo_b64(), "sample_rate": 44100}, "16000 Hz"),
            ({"type": "start", "photo": _photo_b64(np.full((120, 160, 3), 90, np.uint8))}, "no face"),
            ({"type": "start", "photo": base64.b64encode(b"not an image").decode()}, "photo"),
            ({"type": "hello"}, "start"),
        ]
        for start, words in cases:  # each ends its session with a message and frees the slot
            with client.websocket_connect("ws://127.0.0.1/v1/live") as ws:
                ws.send_text(json.dumps(start))
                reply = json.loads(ws.receive_text())
                assert reply["type"] == "error" and words in reply["message"], reply
        with client.websocket_connect("ws://127.0.0.1/v1/live") as ws:
            ws.send_text(json.dumps({"type": "start", "photo": _photo_b64(), "size": 128}))
            assert json.loads(ws.receive_text())["type"] == "ready"
            ws.send_bytes(b"\x00\x01\x02")
            while True:
                message = ws.receive()
                if message.get("text") is not None:
                    reply = json.loads(message["text"])
                    break
            assert reply["type"] == "error" and "odd number of bytes" in reply["message"]
        with client.websocket_connect("ws://127.0.0.1/v1/live") as ws:  # a dropped connection frees the slot too
            ws.send_text(json.dumps({"type": "start", "photo": _photo_b64(), "size": 128}))
            assert json.loads(ws.receive_text())["type"] == "ready"
            ws.send_bytes(pcm[:6400])
        for _ in range(100):
            if client.get("/v1/live/status").json()["active"] == 0:
                break
            import time

            time.sleep(0.05)
        assert client.get("/v1/live/status").json()["active"] == 0
