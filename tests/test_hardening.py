"""Hardening (issue 18): torn files of killed runs, weights-only loading, option ranges, messages,
and the server's guard (Host / Origin / token, busy before the body, slow clients, clean Ctrl-C)."""

from __future__ import annotations

import errno
import io
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from talkface.config_checks import LIMITS, OptionError, check_output_file, check_value, environment_error
from talkface.errors import InputError

FIX = Path(__file__).parent / "fixtures"


# ------------------------------------------------------------------------------ option ranges


@pytest.mark.parametrize("field,value", [
    ("blink_rate", math.nan), ("blink_rate", math.inf), ("blink_rate", 1000.0), ("motion_scale", -1.0),
    ("size", -5), ("size", 4096), ("seed", 2**70), ("seed", -1), ("max_duration_s", math.nan),
    ("max_duration_s", -1.0), ("threads", -1), ("crf", 99), ("crf", -1), ("frames", 0), ("steps", -3),
    ("lr", math.inf), ("port", 70000), ("size", True), ("seed", "7"),
])
def test_check_value_refuses_with_one_line_naming_the_option(field: str, value: Any) -> None:
    with pytest.raises(OptionError) as info:
        check_value(field, value)
    message = str(info.value)
    assert message.startswith((LIMITS[field].option or "--" + field.replace("_", "-")) + ": ")
    assert "\n" not in message and info.value.field == field


def test_check_value_accepts_the_range_and_its_special_value() -> None:
    assert check_value("size", 0) == 0 and check_value("size", 256) == 256
    assert check_value("blink_rate", 3) == 3.0 and check_value("seed", 2**32 - 1) == 2**32 - 1
    assert check_value("max_side", 0) == 0 and check_value("crf", 51.0) == 51


def test_configs_check_their_values_when_made() -> None:
    from talkface.data.preprocess import PreprocessConfig
    from talkface.pipeline import AnimateConfig
    from talkface.serve import ServeConfig
    from talkface.serve.jobs import JobOptions

    with pytest.raises(OptionError, match="--blink-rate"):
        AnimateConfig(blink_rate=math.nan)
    with pytest.raises(OptionError, match="--max-duration: must be a number above 0"):
        AnimateConfig(max_duration_s=-1)
    with pytest.raises(OptionError, match="--device: unknown device 'banana'"):
        AnimateConfig(device="banana")
    with pytest.raises(OptionError, match="--preset"):
        AnimateConfig(preset="fastest")
    if not torch.cuda.is_available():
        with pytest.raises(OptionError, match="--device: 'cuda': no CUDA GPU is available"):
            AnimateConfig(device="cuda")
    with pytest.raises(OptionError, match="--val-fraction"):
        PreprocessConfig(val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(OptionError, match="--port"):
        ServeConfig(port=-1)
    with pytest.raises(OptionError) as info:
        JobOptions(seed=2**70)
    assert info.value.field == "seed"
    AnimateConfig(blink_rate=None, size=128, seed=2**32 - 1)  # the edges are fine


def test_output_check_refuses_inputs_and_unwritable_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    speech = tmp_path / "in.mp4"
    speech.write_bytes(b"x")
    with pytest.raises(InputError, match="output is the input file"):
        check_output_file(tmp_path / "." / "in.mp4", suffixes=(".mp4",), inputs=(None, speech))
    import talkface.config_checks as checks

    monkeypatch.setattr(checks.os, "access", lambda path, mode: False)
    with pytest.raises(InputError, match="not writable"):
        check_output_file(tmp_path / "out.mp4", suffixes=(".mp4",))


def test_environment_errors_are_one_line() -> None:
    assert environment_error(OSError(errno.ENOSPC, "No space left on device", "/d/out.mp4")) == \
        "/d/out.mp4: no space left on device (ENOSPC)"
    assert environment_error(ValueError("x")) is None
    assert environment_error(OSError(errno.ECONNRESET, "reset")) is None


def test_full_disk_while_writing_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC in the middle of an atomic write: the error propagates and neither file nor temp file remains."""
    from talkface.io.atomic import atomic_path

    dest = tmp_path / "out.bin"
    with pytest.raises(OSError) as info, atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(dest))
    assert info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_writing_to_dev_full_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A real full device (/dev/full) under the command's error handling: one line, exit 1."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    import talkface.cli as cli

    def write_full(args: Any) -> int:
        with open("/dev/full", "wb") as fh:
            fh.write(b"x" * 65536)
            fh.flush()
        return 0

    monkeypatch.setattr(cli, "_cmd_inspect", write_full)
    rc = cli.main(["inspect", "anything"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err == "talkface: error: no space left on device (ENOSPC)", err


# ------------------------------------------------------------------------------ audio messages


def test_over_long_speech_names_its_real_length(tmp_path: Path) -> None:
    from talkface.io.media import check_speech, read_audio

    path = tmp_path / "long.flac"
    t = np.arange(20 * 8000) / 8000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 8000)
    audio = read_audio(path, max_duration_s=6)
    with pytest.raises(InputError, match=r"speech too long \(20\.0 s; the limit is 5 s\)"):
        check_speech(audio, path, max_duration_s=5)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_samples_are_refused(tmp_path: Path, bad: float) -> None:
    from talkface.io.media import read_audio

    x = (0.3 * np.sin(np.arange(16000) / 5)).astype(np.float32)
    x[4000] = bad
    path = tmp_path / "bad.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(InputError, match="invalid"):
        read_audio(path)


def test_speech_check_decodes_no_video_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checking a video uploaded as speech reads headers only: a huge frame is never decoded."""
    import talkface.io.media as media
    from talkface.serve.validate import check_speech_file

    def no_decoding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a video frame was decoded")

    monkeypatch.setattr(media, "_first_frame_rotation", no_decoding)
    monkeypatch.setattr(media, "_count_video_packets", no_decoding)
    info = check_speech_file(FIX / "bbaf2n.mpg", "speech", max_seconds=60)
    assert info.format == "mpeg-ps" and 2.5 < info.duration_s < 3.5


# ------------------------------------------------------------------------------ weights only


class _Boom:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("touch " + os.environ.get("TALKFACE_TEST_MARKER", "/nonexistent/marker"),))


def test_model_files_never_run_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint, a bundle part or a person model whose pickle would run code is refused, and the code never runs."""
    from talkface.pipeline import DEFAULT_MODEL, load_bundle
    from talkface.texture.adapt import load_person_model
    from talkface.train.core import read_checkpoint

    marker = tmp_path / "ran"
    monkeypatch.setenv("TALKFACE_TEST_MARKER", str(marker))
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "talkface_module_class": "x:y", "payload": _Boom()}, evil)
    with pytest.raises(InputError, match="not a readable checkpoint"):
        read_checkpoint(evil)
    with pytest.raises(InputError, match="not a readable person model"):
        load_person_model(evil)
    bundle = tmp_path / "bundle"
    shutil.copytree(DEFAULT_MODEL, bundle)
    shutil.copy(evil, bundle / "lgan.pt")
    with pytest.raises(InputError, match="lgan.pt: not a readable checkpoint"):
        load_bundle(bundle)
    assert not marker.exists()


def test_checkpoint_may_only_name_a_talkface_class(tmp_path: Path) -> None:
    from talkface.train.core import MODULE_CLASS_KEY, load_module

    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}, MODULE_CLASS_KEY: "antigravity:Thing"}, path)
    with pytest.raises(InputError, match="unknown model class"):
        load_module(path)


def test_shipped_model_loads_weights_only() -> None:
    from talkface.pipeline import DEFAULT_MODEL

    for part in ("lgan.pt", "blink.pt", "texture.pt"):
        torch.load(DEFAULT_MODEL / part, map_location="cpu", weights_only=True)


# ------------------------------------------------------------------------------ preprocess after kills


def _snapshot(root: Path) -> dict[str, Any]:
    from talkface.data.dataset import load_clip

    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and "manifest" not in p.name)
    clips = {}
    for p in sorted((root / "clips").glob("*/*.npz")):
        clip = load_clip(p)
        clips[clip.clip_id] = {k: np.asarray(getattr(clip, k)).tobytes() for k in
                               ("landmarks", "canonical", "features", "audio", "ear", "neutral_index")}
    return {"files": files, "clips": clips, "splits": json.loads((root / "splits.json").read_text()),
            "mean_face": np.load(root / "mean_face.npy").tobytes(),
            "meta": {k: v for k, v in json.loads((root / "dataset.json").read_text()).items()}}


@pytest.mark.slow
def test_torn_files_from_kills_are_ignored_and_cleaned(tmp_path: Path) -> None:
    """Torn temporary files of a killed run (at any write: crops, arrays, descriptions) are ignored and
    cleaned by the next run, whose result equals an uninterrupted run."""
    from talkface.data.dataset import PreparedDataset
    from talkface.data.preprocess import PreprocessConfig, preprocess

    corpus = tmp_path / "corpus"
    for speaker, name in (("s1", "bbaf2n"), ("s4", "lbbc2a")):
        (corpus / speaker).mkdir(parents=True)
        shutil.copy(FIX / f"{name}.mpg", corpus / speaker / f"{name}.mpg")
    config = PreprocessConfig(feature="mfcc")
    out = tmp_path / "ds"
    preprocess([corpus], out, config, progress=False)
    reference = _snapshot(out)

    # a kill while the second clip's arrays were being written: its crops are there, its .npz is not,
    # and torn temporary files lie beside them and beside the dataset's descriptions
    (out / "clips" / "s4" / "lbbc2a.npz").unlink()
    clip_dir = out / "clips" / "s4"
    torn = [clip_dir / ".lbbc2a.k1ll3d_x.part.npz", clip_dir / ".lbbc2a.abcd1234.part.mp4",
            out / "clips" / "s1" / ".bbaf2n.zzzzzzzz.part.npz", out / ".splits.q1w2e3r4.part.json",
            out / ".dataset.a1b2c3d4.part.json", out / ".mean_face.0a9b8c7d.part.npy"]
    whole = (out / "clips" / "s1" / "bbaf2n.npz").read_bytes()
    for i, path in enumerate(torn):
        path.write_bytes(whole[: 100 + 1000 * i])
        os.utime(path, (time.time() - 3600, time.time() - 3600))  # left by a run killed an hour ago
    fresh = clip_dir / ".lbbc2a.l1v3wr1t.part.npz"  # another live process's file: ignored, not removed
    fresh.write_bytes(whole[:500])

    assert PreparedDataset(out).all_ids() == ["s1/bbaf2n"]  # readers never see torn files
    summary = preprocess([corpus], out, config, progress=False)
    assert summary.done == 1 and summary.skipped_existing == 1 and summary.failed == 0
    assert not any(p.exists() for p in torn)
    assert fresh.exists()
    fresh.unlink()
    assert _snapshot(out) == reference


@pytest.mark.slow
def test_output_inside_input_is_not_ingested(tmp_path: Path) -> None:
    from talkface.data.preprocess import PreprocessConfig, discover, preprocess

    corpus = tmp_path / "videos"
    (corpus / "s1").mkdir(parents=True)
    shutil.copy(FIX / "bbaf2n.mpg", corpus / "s1" / "bbaf2n.mpg")
    out = corpus / "prepared"
    first = preprocess([corpus], out, PreprocessConfig(feature="mfcc"), progress=False)
    second = preprocess([corpus], out, PreprocessConfig(feature="mfcc"), progress=False)
    assert first.total == second.total == 1 and second.skipped_existing == 1
    assert [i.clip_id for i in discover([corpus], exclude=out)] == ["s1/bbaf2n"]
    assert len(discover([corpus])) == 2  # without the exclusion its own crops would be taken as sources


def test_nothing_is_written_for_a_missing_or_empty_input(tmp_path: Path) -> None:
    from talkface.data.preprocess import preprocess

    (tmp_path / "empty").mkdir()
    for inputs in ([tmp_path / "missing"], [tmp_path / "empty"]):
        with pytest.raises(InputError):
            preprocess(inputs, tmp_path / "ds", progress=False)
        assert not (tmp_path / "ds").exists()


def test_broken_dataset_json_is_one_line(tmp_path: Path) -> None:
    from talkface.data.dataset import PreparedDataset
    from talkface.data.preprocess import finalize

    (tmp_path / "dataset.json").write_text('{"format": ')
    with pytest.raises(InputError, match="unreadable dataset description"):
        PreparedDataset(tmp_path)
    with pytest.raises(InputError, match="unreadable dataset description"):
        finalize(tmp_path)


# ------------------------------------------------------------------------------ server guard


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 150, 120)).save(buf, "PNG")
    return buf.getvalue()


def _wav() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000, format="WAV")
    return buf.getvalue()


class _SlowAnimator:
    """Works like the pipeline (torch threads busy, progress per chunk) for up to ``seconds``."""

    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds

    def animate(self, face: Any, speech: Any, output: Any, **kwargs: Any) -> Any:
        progress = kwargs.get("progress")
        a = torch.randn(256, 256)
        end = time.monotonic() + self.seconds
        i = 0
        while time.monotonic() < end:
            for _ in range(20):
                a = torch.tanh(a @ a)
            i += 1
            if progress:
                progress("texture", min(1.0, i / 1000))
        Path(output).write_bytes(b"video")
        return None


def _client(tmp_path: Path, **overrides: Any) -> Any:
    from fastapi.testclient import TestClient

    from talkface.serve import ServeConfig, create_app

    config = ServeConfig(work_dir=tmp_path / "work", **overrides)
    return TestClient(create_app(config, animator_factory=lambda: _SlowAnimator(0.0)), base_url="http://127.0.0.1")


def test_token_is_required_when_set(tmp_path: Path) -> None:
    with _client(tmp_path, token="s3cret") as client:
        assert client.get("/").status_code == 200  # the page itself is not secret
        r = client.get("/v1/health")
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"
        assert client.get("/v1/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/v1/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        r = client.post("/v1/animate", files={"face": ("f.png", _png()), "speech": ("s.wav", _wav())})
        assert r.status_code == 401
        assert client.get("/?token=wrong", follow_redirects=False).status_code == 401
        r = client.get("/?token=s3cret", follow_redirects=False)  # the link printed at start-up
        assert r.status_code == 303 and "HttpOnly" in r.headers["set-cookie"] and "SameSite=Strict" in \
            r.headers["set-cookie"]
        assert client.get("/v1/health").status_code == 200  # the cookie now authorises the page's requests


def test_allow_lists_for_deliberate_deployments(tmp_path: Path) -> None:
    with _client(tmp_path, allowed_hosts=("talk.example.org",), allowed_origins=("https://app.example.org",)) as c:
        assert c.get("/v1/health", headers={"Host": "talk.example.org"}).status_code == 200
        assert c.get("/v1/health", headers={"Host": "other.example.org"}).status_code == 400
        ok = c.post("/v1/animate", files={"face": ("f.png", _png()), "speech": ("s.wav", _wav())},
                    data={"size": "77"}, headers={"Origin": "https://app.example.org"})
        assert ok.status_code == 422 and ok.json()["field"] == "size"  # past the guard
        bad = c.post("/v1/animate", files={"face": ("f.png", _png()), "speech": ("s.wav", _wav())},
                     headers={"Origin": "https://evil.example.org"})
        assert bad.status_code == 403


def test_server_on_every_interface_answers_ip_addresses_only(tmp_path: Path) -> None:
    with _client(tmp_path, host="0.0.0.0") as c:
        assert c.get("/v1/health", headers={"Host": "192.168.1.20:8000"}).status_code == 200
        assert c.get("/v1/health", headers={"Host": "evil.example"}).status_code == 400


def test_limits_give_the_cli_ranges(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        ranges = c.get("/v1/limits").json()["ranges"]
    assert ranges["blink_rate"] == [LIMITS["blink_rate"].lo, LIMITS["blink_rate"].hi]
    assert ranges["seed"][1] == 2**32 - 1
    page = (Path(__file__).parents[1] / "src" / "talkface" / "serve" / "page.html").read_text()
    assert "lim.ranges" in page  # the page's sliders take their ranges from here


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Any]:
    sys.path.insert(0, str(Path(__file__).parent))
    from serve_media import start_server
    from talkface.serve import ServeConfig

    config = ServeConfig(work_dir=tmp_path / "work", max_queued=1, client_timeout_s=1.0)
    server = start_server(config, tmp_path, animator_factory=lambda: _SlowAnimator(30.0))
    try:
        yield server
    finally:
        server.server.should_exit = True
        server.thread.join(30)


def _raw(url: str, data: bytes, wait: float) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        time.sleep(wait)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def test_slow_client_is_cut_off(live: Any) -> None:
    head = (b"POST /v1/animate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            b"Content-Length: 100000\r\n\r\n--x\r\n")
    t0 = time.monotonic()
    answer = _raw(live.url, head, 0.0)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - t0 < 10


def test_busy_is_answered_before_the_body_is_read(live: Any) -> None:
    import httpx

    with httpx.Client(base_url=live.url, timeout=30) as client:
        files = {"face": ("f.png", _png()), "speech": ("s.wav", _wav())}
        first = client.post("/v1/animate", files=files).json()["job"]
        while client.get(f"/v1/jobs/{first}").json()["status"] != "running":
            time.sleep(0.05)
        assert client.post("/v1/animate", files=files).status_code == 202  # waits: the queue is full now
    head = (b"POST /v1/animate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            b"Content-Length: 50000000\r\n\r\n--x\r\n")
    t0 = time.monotonic()
    answer = _raw(live.url, head, 0.0)  # 6 of the 50 MB announced: the answer cannot wait for the rest
    assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
    assert b'"code":"busy"' in answer.replace(b" ", b"") and time.monotonic() - t0 < 5


_SERVER_SCRIPT = textwrap.dedent("""
    import sys, time, torch
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from test_hardening import _SlowAnimator
    from talkface.serve import ServeConfig, serve
    torch.set_num_threads(2)
    serve(ServeConfig(port=int(sys.argv[1]), work_dir=Path(sys.argv[2])), animator_factory=lambda: _SlowAnimator(120))
""")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_cleanly_with_a_job_running(tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C (SIGINT) and SIGTERM with a job running: the job is cancelled at once, the process ends
    without aborting, and nothing of the job is left."""
    import httpx

    port = _free_port()
    work = tmp_path / "work"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", _SERVER_SCRIPT, str(port), str(work), str(Path(__file__).parent)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/v1/health").json()["status"] == "ok":
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        r = httpx.post(url + "/v1/animate", files={"face": ("f.png", _png()), "speech": ("s.wav", _wav())})
        job = r.json()["job"]
        while httpx.get(f"{url}/v1/jobs/{job}").json()["status"] != "running":
            time.sleep(0.1)
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        stopped_in = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode in (0, 130, -sig), (proc.returncode, err[-2000:])
    assert "terminate called" not in err and "Traceback" not in err, err[-2000:]
    assert f"job {job} cancelled" in err
    assert stopped_in < 15, stopped_in
    assert not (work / job).exists()


def test_slow_headers_are_cut_off(tmp_path: Path) -> None:
    """A client that opens a connection and never finishes its request headers is disconnected."""
    import threading

    import uvicorn

    from talkface.serve import ServeConfig, create_app
    from talkface.serve.guard import header_timeout_protocol

    app = create_app(ServeConfig(work_dir=tmp_path / "work"), animator_factory=lambda: _SlowAnimator(0.0))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", http=header_timeout_protocol(1.0)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            t0 = time.monotonic()
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ... and never the blank line
            assert s.recv(100) == b""  # closed by the server
            assert 0.5 < time.monotonic() - t0 < 5
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:  # a normal request still works
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        server.should_exit = True
        thread.join(30)


def test_full_disk_on_the_server_is_507_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import talkface.serve.app as app_module

    def full(upload: Any, dest: Path, field: str, limit: int) -> None:
        dest.write_bytes(b"part")
        raise OSError(errno.ENOSPC, "No space left on device", str(dest))

    monkeypatch.setattr(app_module, "_store_upload", full)
    with _client(tmp_path) as client:
        r = client.post("/v1/animate", files={"face": ("f.png", _png()), "speech": ("s.wav", _wav())})
        assert r.status_code == 507 and r.json()["code"] == "server_storage"
        assert str(tmp_path) not in r.json()["error"]
        assert client.get("/v1/health").json()["status"] == "ok"
    assert not [p for p in (tmp_path / "work").rglob("*")]


def test_a_refused_upload_gets_its_answer_not_a_reset(live: Any) -> None:
    """A request refused before its body is read (here: another site's Host) with its whole body sent still gets the
    error, not a connection reset."""
    body = b"x" * (3 * 2**20)
    request = (b"POST /v1/animate HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    for _ in range(3):
        answer = _raw(live.url, request, 0.0)
        assert answer.startswith(b"HTTP/1.1 400") and b"bad_host" in answer, answer[:200]
