"""Bad-input corpus for ``talkface serve``, end to end through the real pipeline.

Every case is uploaded to one server (real :class:`talkface.pipeline.Animator`, one worker); each
must get either a clear JSON error (HTTP 4xx naming the field, or a ``failed`` job with a
one-line error) or a correct result (a playable mp4 with audio of the speech's length). After
all of them the server must still be healthy and its work folder must hold nothing but the
finished videos: no uploads of failed jobs, no staging folders, no partial files.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from serve_media import (
    GRID,
    MAX_UPLOAD,
    encode_audio,
    exif_rotated_face,
    grid_speech,
    grid_still,
    image_bytes,
    long_flac,
    no_face,
    png_header_only,
    real_pipeline_missing,
    rgba_face,
    shared_server,
    two_faces,
    video_without_audio,
    wav_bytes,
    wav_claiming,
)
from talkface.io.media import probe

if real_pipeline_missing():
    pytest.skip(str(real_pipeline_missing()), allow_module_level=True)

SPEECH_S = 0.8


@dataclass
class Case:
    """One upload and what must come of it.

    ``expect`` is ``"http"`` (refused with ``status``/``code`` on ``field``), ``"failed"`` (job
    fails, its error starts with ``field + ": "`` and contains ``text``), ``"done"`` (a video of
    ``seconds`` +- 0.25 s with audio; any length if ``seconds < 0``), or ``"any"`` (one of these).
    """

    name: str
    face: Callable[[], bytes]
    speech: Callable[[], bytes]
    expect: str
    status: int = 0
    code: str = ""
    field: str = ""
    text: str = ""
    seconds: float = SPEECH_S
    face_name: str = "face.png"
    speech_name: str = "speech.wav"
    form: dict[str, str] = dc_field(default_factory=lambda: {"size": "128"})
    headers: dict[str, str] = dc_field(default_factory=dict)


def face_png() -> bytes:
    return image_bytes(grid_still(), "PNG")


def speech_wav() -> bytes:
    return wav_bytes(speech())


def speech() -> np.ndarray:
    return grid_speech(SPEECH_S, 0.95)


def mp3() -> bytes:
    return encode_audio(speech(), "mp3", "libmp3lame", out_rate=22050)


def nan_wav() -> bytes:
    x = speech().copy()
    x[::50] = np.nan
    return wav_bytes(x, subtype="FLOAT")


HTTP_CASES = [
    Case("face_0_bytes", lambda: b"", speech_wav, "http", 422, "empty", "face"),
    Case("speech_0_bytes", face_png, lambda: b"", "http", 422, "empty", "speech"),
    Case("image_renamed_wav", face_png, face_png, "http", 415, "unsupported_type", "speech",
         speech_name="speech.wav"),
    Case("wav_renamed_jpg", speech_wav, speech_wav, "http", 415, "unsupported_type", "face", face_name="me.jpg"),
    Case("pdf_as_face", lambda: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", speech_wav, "http", 415,
         "unsupported_type", "face", face_name="face.png"),
    Case("svg_as_face", lambda: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', speech_wav,
         "http", 415, "unsupported_type", "face", face_name="face.svg"),
    Case("text_as_speech", face_png, lambda: "привет, this is text\n".encode() * 20, "http", 415,
         "unsupported_type", "speech", speech_name="speech.mp3"),
    Case("gzip_as_speech", face_png, lambda: b"\x1f\x8b\x08\x00" + bytes(200), "http", 415, "unsupported_type",
         "speech", speech_name="speech.wav.gz"),
    Case("random_bytes_face", lambda: np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
         speech_wav, "http", 415, "unsupported_type", "face"),
    Case("huge_dimensions", lambda: png_header_only(60000, 60000), speech_wav, "http", 413, "image_too_large",
         "face"),
    Case("too_many_megapixels", lambda: png_header_only(7000, 7000), speech_wav, "http", 413, "image_too_large",
         "face"),
    Case("zero_width_png", lambda: png_header_only(0, 10), speech_wav, "http", 422, "corrupt", "face"),
    Case("png_cut_in_header", lambda: face_png()[:30], speech_wav, "http", 422, "corrupt", "face"),
    Case("one_hour_audio", face_png, lambda: long_flac(3600), "http", 413, "audio_too_long", "speech",
         speech_name="hour.flac"),
    Case("video_without_audio", face_png, video_without_audio, "http", 422, "no_audio", "speech",
         speech_name="clip.mp4"),
    Case("file_over_upload_limit", face_png, lambda: speech_wav()[:44] + bytes(MAX_UPLOAD + 1), "http", 413,
         "too_large", "speech"),
    Case("bad_blink_rate", face_png, speech_wav, "http", 422, "bad_option", "blink_rate",
         form={"blink_rate": "lots"}),
    Case("bad_size", face_png, speech_wav, "http", 422, "bad_option", "size", form={"size": "77"}),
]

FAILED_CASES = [
    Case("no_face", no_face, speech_wav, "failed", field="face", text="no face found", face_name="landscape.jpg"),
    Case("several_faces", two_faces, speech_wav, "failed", field="face", text="faces found"),
    Case("silent_audio", face_png, lambda: wav_bytes(np.zeros(16000, np.float32)), "failed", field="speech",
         text="silent"),
    Case("too_short_audio", face_png, lambda: wav_bytes(speech()[:1600]), "failed", field="speech",
         text="too short"),
    Case("truncated_jpeg", lambda: image_bytes(grid_still(), "JPEG", quality=95)[:6000], speech_wav, "failed",
         field="face", text="truncated", face_name="face.jpg"),
    Case("nan_samples", face_png, nan_wav, "failed", field="speech", text="invalid"),
    Case("mp3_cut_after_header", face_png, lambda: mp3()[:300], "any", field="speech", text="",
         speech_name="cut.mp3", seconds=-1),
]

DONE_CASES = [
    Case("png_wav", face_png, speech_wav, "done"),
    Case("rgba_png_mp3_dotdot_names", rgba_face, mp3, "done", face_name="../../../etc/passwd",
         speech_name="../../x.mp3"),
    Case("grayscale_jpeg_webm_opus_unicode_names", lambda: image_bytes(grid_still(), "JPEG", "L"),
         lambda: encode_audio(speech(), "webm", "libopus", out_rate=48000), "done", face_name="лицо 😀.jpg",
         speech_name="запись 🎤.webm", form={"size": "128", "blink_rate": "natural"}),
    Case("cmyk_jpeg_ogg_opus", lambda: image_bytes(grid_still(), "JPEG", "CMYK"),
         lambda: encode_audio(speech(), "ogg", "libopus", out_rate=48000), "done", face_name="f.jpg",
         speech_name="s.ogg"),
    Case("png_16_bit_m4a_stereo_44k", lambda: image_bytes(grid_still(), "PNG", "I;16"),
         lambda: encode_audio(speech(), "mp4", "aac", out_rate=44100, layout="stereo"), "done", speech_name="s.m4a"),
    Case("exif_rotated_whole_photo_wav_claiming_one_hour", exif_rotated_face, lambda: wav_claiming(3600, 1.0),
         "done", face_name="phone.jpg", speech_name="liar.wav", form={"size": "0"}),
    Case("grid_mpg_cut_as_speech", face_png, lambda: GRID.read_bytes()[: GRID.stat().st_size // 3], "done",
         speech_name="clip.mpg", seconds=-1),
    Case("mp3_cut_in_half", face_png, lambda: mp3()[: len(mp3()) // 2], "done", speech_name="half.mp3",
         seconds=SPEECH_S / 2),
]

def _form_cases(field: str, values: list[str]) -> list[Case]:
    """A bad value of one form field (the rest valid): 422 bad_option naming it (the CLI's ranges)."""
    return [Case(f"form_{field}_{v[:12]}", face_png, speech_wav, "http", 422, "bad_option", field,
                 form={"size": "128", field: v}) for v in values]


def _parse_cases(field: str, values: list[str]) -> list[Case]:
    """A value FastAPI cannot parse as the field's type: 422 bad_request naming it."""
    return [Case(f"parse_{field}_{v[:12]}", face_png, speech_wav, "http", 422, "bad_request", field,
                 form={"size": "128", field: v}) for v in values]


def _guarded(name: str, headers: dict[str, str], status: int, code: str) -> Case:
    """A request refused by the Host / Origin guard (valid files: only the headers are at fault)."""
    return Case(name, face_png, speech_wav, "http", status, code, "", headers=headers)


def _passes_guard(name: str, headers: dict[str, str]) -> Case:
    """Headers the guard accepts; a bad size then proves the request reached the route (and queues nothing)."""
    return Case(name, face_png, speech_wav, "http", 422, "bad_option", "size", form={"size": "77"}, headers=headers)


def _magic(head: bytes) -> Callable[[], bytes]:
    return lambda: head


FORM_CASES = [
    *_form_cases("blink_rate", ["nan", "inf", "-inf", "-1", "3.01", "1e400", "lots", "0x10"]),
    *_form_cases("motion_scale", ["nan", "inf", "-0.5", "3.5", "x", "1e309"]),
    *_form_cases("seed", [str(2**70), "-1", str(2**32)]),
    *_form_cases("size", ["-5", "4096", "64", "1024"]),
    *_parse_cases("seed", ["abc", "1.5", "9" * 5000]),
    *_parse_cases("size", ["abc", "1.5"]),
    Case("face_missing", lambda: b"", speech_wav, "http", 422, "missing_field", "face"),
    Case("speech_missing", face_png, lambda: b"", "http", 422, "missing_field", "speech"),
]

SNIFF_CASES = [
    Case("elf_binary_as_face", _magic(b"\x7fELF\x02\x01\x01" + bytes(200)), speech_wav, "http", 415,
         "unsupported_type", "face"),
    Case("zip_as_face", _magic(b"PK\x03\x04" + bytes(200)), speech_wav, "http", 415, "unsupported_type", "face"),
    Case("json_as_face", _magic(b'{"face": "me"}'), speech_wav, "http", 415, "unsupported_type", "face"),
    Case("html_as_speech", face_png, _magic(b"<!DOCTYPE html><html></html>"), "http", 415, "unsupported_type",
         "speech"),
    Case("one_byte_face", _magic(b"\x89"), speech_wav, "http", 415, "unsupported_type", "face"),
    Case("png_magic_only", _magic(b"\x89PNG\r\n\x1a\n"), speech_wav, "http", 422, "corrupt", "face"),
    Case("jpeg_soi_only", _magic(b"\xff\xd8\xff"), speech_wav, "http", 422, "corrupt", "face"),
    Case("gif_header_only", _magic(b"GIF89a"), speech_wav, "http", 422, "corrupt", "face"),
    Case("webp_riff_only", _magic(b"RIFF\x10\x00\x00\x00WEBPVP8 "), speech_wav, "http", 422, "corrupt", "face"),
    Case("tiff_header_only", _magic(b"II*\x00\x08\x00\x00\x00"), speech_wav, "http", 422, "corrupt", "face"),
    Case("wav_magic_only", face_png, _magic(b"RIFF\x24\x00\x00\x00WAVE"), "http", 422, "corrupt", "speech"),
    Case("flac_magic_only", face_png, _magic(b"fLaC"), "http", 422, "corrupt", "speech"),
    Case("ogg_magic_only", face_png, _magic(b"OggS" + bytes(60)), "http", 422, "corrupt", "speech"),
    Case("mp4_ftyp_only", face_png, _magic(b"\x00\x00\x00\x18ftypisom" + bytes(12)), "http", 422, "corrupt",
         "speech"),
    Case("image_as_speech_jpeg", face_png, lambda: image_bytes(grid_still(), "JPEG"), "http", 415,
         "unsupported_type", "speech"),
]

GUARD_CASES = [
    _guarded("host_evil", {"Host": "evil.example"}, 400, "bad_host"),
    _guarded("host_evil_with_port", {"Host": "evil.example:8000"}, 400, "bad_host"),
    _guarded("host_rebinding_name", {"Host": "127.0.0.1.nip.io"}, 400, "bad_host"),
    _guarded("host_localhost_prefix", {"Host": "localhost.evil.example"}, 400, "bad_host"),
    _guarded("host_other_ip", {"Host": "10.0.0.1"}, 400, "bad_host"),
    _guarded("host_other_ipv6", {"Host": "[fe80::1]:8000"}, 400, "bad_host"),
    _guarded("host_empty", {"Host": ""}, 400, "bad_host"),
    _guarded("origin_evil", {"Origin": "https://evil.example"}, 403, "cross_origin"),
    _guarded("origin_null", {"Origin": "null"}, 403, "cross_origin"),
    _guarded("origin_other_port", {"Origin": "http://127.0.0.1:1"}, 403, "cross_origin"),
    _guarded("origin_localhost_name", {"Origin": "http://localhost:1"}, 403, "cross_origin"),
    _guarded("origin_file", {"Origin": "file://"}, 403, "cross_origin"),
    _guarded("fetch_site_cross_site", {"Sec-Fetch-Site": "cross-site"}, 403, "cross_origin"),
    _guarded("fetch_site_same_site", {"Sec-Fetch-Site": "same-site"}, 403, "cross_origin"),
    _passes_guard("host_localhost", {"Host": "localhost"}),
    _passes_guard("host_localhost_upper_port", {"Host": "LOCALHOST:1234"}),
    _passes_guard("host_ipv6_loopback", {"Host": "[::1]:80"}),
    _passes_guard("fetch_site_same_origin", {"Sec-Fetch-Site": "same-origin"}),
    _passes_guard("fetch_site_none", {"Sec-Fetch-Site": "none"}),
]


@dataclass
class Request:
    """A request other than an upload, and the answer it must get (``code`` None: no JSON error body)."""

    name: str
    method: str
    path: str
    status: int
    code: str | None = None
    headers: dict[str, str] = dc_field(default_factory=dict)
    content: bytes | None = None
    raw: bool = False  # sent over a socket as is (e.g. a body shorter than its Content-Length)


def _send(client: httpx.Client, url: str, req: Request) -> httpx.Response:
    if not req.raw:
        return client.request(req.method, req.path, headers=req.headers, content=req.content)
    host, port = url.removeprefix("http://").split(":")
    head = f"{req.method} {req.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in req.headers.items()) + "\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + (req.content or b""))
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    body = rest.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in rest else b""
    return httpx.Response(int(status_line.split()[1]), content=body)


def _content_length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


UNKNOWN = "0" * 32
REQUESTS = [
    Request("health_evil_host", "GET", "/v1/health", 400, "bad_host", {"Host": "evil.example"}),
    Request("page_evil_host", "GET", "/", 400, "bad_host", {"Host": "attacker.example"}),
    Request("limits_rebinding_host", "GET", "/v1/limits", 400, "bad_host", {"Host": "a.rebind.example:8000"}),
    Request("delete_cross_origin", "DELETE", f"/v1/jobs/{UNKNOWN}", 403, "cross_origin",
            {"Origin": "https://evil.example"}),
    Request("delete_cross_site", "DELETE", f"/v1/jobs/{UNKNOWN}", 403, "cross_origin",
            {"Sec-Fetch-Site": "cross-site"}),
    Request("get_with_foreign_origin_is_fine", "GET", "/v1/health", 200, None, {"Origin": "https://evil.example"}),
    Request("unknown_job", "GET", f"/v1/jobs/{UNKNOWN}", 404, "not_found"),
    Request("job_id_too_long", "GET", f"/v1/jobs/{UNKNOWN}0", 404, "not_found"),
    Request("job_id_upper_case", "GET", "/v1/jobs/" + "A" * 32, 404, "not_found"),
    Request("job_id_traversal", "GET", "/v1/jobs/..%2F..%2Fetc%2Fpasswd", 404, "http_error"),
    Request("job_id_nul", "GET", "/v1/jobs/%00", 404, "not_found"),
    Request("video_unknown", "GET", f"/v1/jobs/{UNKNOWN}/video", 404, "not_found"),
    Request("video_head_unknown", "HEAD", f"/v1/jobs/{UNKNOWN}/video", 404),
    Request("delete_unknown", "DELETE", f"/v1/jobs/{UNKNOWN}", 404, "not_found"),
    Request("post_to_job", "POST", f"/v1/jobs/{UNKNOWN}", 405, "http_error"),
    Request("put_animate", "PUT", "/v1/animate", 405, "http_error"),
    Request("get_animate", "GET", "/v1/animate", 405, "http_error"),
    Request("no_such_route", "GET", "/v2/animate", 404, "http_error"),
    Request("no_swagger_page", "GET", "/docs", 404, "http_error"),
    Request("declared_terabyte", "POST", "/v1/animate", 413, "too_large",
            {"Content-Length": str(10**12), "Content-Type": "multipart/form-data; boundary=x"}, b"--x\r\n",
            raw=True),
    Request("json_instead_of_form", "POST", "/v1/animate", 422, "missing_field",
            {"Content-Type": "application/json"}, b'{"face": "x"}'),
    Request("multipart_without_boundary", "POST", "/v1/animate", 400, None,
            {"Content-Type": "multipart/form-data"}, b"--x\r\n"),
]

#: Submitted at the same moment, from threads (the rest one after another).
CONCURRENT = ("rgba_png_mp3_dotdot_names", "grayscale_jpeg_webm_opus_unicode_names", "cmyk_jpeg_ogg_opus")
CASES = HTTP_CASES + FORM_CASES + SNIFF_CASES + GUARD_CASES + FAILED_CASES + DONE_CASES


@dataclass
class Outcome:
    status_code: int
    response: dict[str, Any]
    job: dict[str, Any] | None = None
    video: Path | None = None


@dataclass
class Run:
    outcomes: dict[str, Outcome]
    answers: dict[str, httpx.Response]
    work: Path
    client: httpx.Client
    manager: Any
    seconds: float


def _submit(client: httpx.Client, case: Case) -> Outcome:
    files: dict[str, Any] = {}
    for field, data, name in (("face", case.face(), case.face_name), ("speech", case.speech(), case.speech_name)):
        if case.code != "missing_field" or case.field != field:
            files[field] = (name, data, "application/octet-stream")
    r = client.post("/v1/animate", files=files, data=case.form, headers=case.headers)
    return Outcome(r.status_code, r.json())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Every case uploaded to the shared live server (real pipeline); waits for all jobs to end."""
    root = tmp_path_factory.mktemp("serve-corpus")
    t0 = time.monotonic()
    server = shared_server()
    # a fresh connection per request: making a case's upload can take longer than the server's 5-s keep-alive under
    # load, and a reused connection the server is closing at that moment fails with "connection reset by peer"
    with httpx.Client(base_url=server.url, timeout=60, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        by_name = {case.name: case for case in CASES}
        outcomes: dict[str, Outcome] = {}
        barrier = threading.Barrier(len(CONCURRENT))

        def together(name: str) -> None:
            barrier.wait()
            outcomes[name] = _submit(client, by_name[name])

        threads = [threading.Thread(target=together, args=(name,)) for name in CONCURRENT]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        outcomes.update({case.name: _submit(client, case) for case in CASES if case.name not in CONCURRENT})
        answers = {req.name: _send(client, server.url, req) for req in REQUESTS}
        deadline = time.monotonic() + 240
        for name, out in outcomes.items():
            if out.status_code != 202:
                continue
            job_id = out.response["job"]
            while True:
                job = client.get(f"/v1/jobs/{job_id}").json()
                if job["status"] in ("done", "failed") or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            out.job = job
            if job["status"] == "done":
                video = client.get(f"/v1/jobs/{job_id}/video")
                out.video = root / f"{name}.mp4"
                out.video.write_bytes(video.content)
        yield Run(outcomes, answers, server.work, client, server.app.state.manager, time.monotonic() - t0)


def test_corpus_size() -> None:
    assert len(CASES) + len(REQUESTS) >= 100, len(CASES) + len(REQUESTS)
    names = [c.name for c in CASES] + [r.name for r in REQUESTS]
    assert len(set(names)) == len(names), "case names must be unique"


def _check_video(out: Outcome, case: Case) -> None:
    assert out.video is not None
    info = probe(out.video)
    assert info.has_video and info.has_audio and info.num_frames and info.num_frames > 0
    if case.seconds > 0:
        assert abs(info.duration_s - case.seconds) < 0.25, info
    size = int(case.form.get("size", "0"))
    if size:
        assert (info.width, info.height) == (size, size)


def _check_case(run: Run, case: Case) -> None:
    out = run.outcomes[case.name]
    if case.expect == "http":
        assert out.status_code == case.status, out.response
        assert out.response["code"] == case.code and out.response["field"] == (case.field or None), out.response
        message = out.response["error"]
        assert message.startswith(f"{case.field}: " if case.field else "") and "\n" not in message
        assert str(run.work) not in message
        return
    if case.expect == "any" and out.status_code != 202:  # refused at upload is a clear answer too
        assert 400 <= out.status_code < 500 and out.response["field"] == case.field, out.response
        assert out.response["error"].startswith(f"{case.field}: ") and str(run.work) not in out.response["error"]
        return
    assert out.status_code == 202, out.response
    assert out.job is not None
    status, error = out.job["status"], out.job["error"]
    if case.expect == "done" or (case.expect == "any" and status == "done"):
        assert status == "done", error
        _check_video(out, case)
    else:
        assert status == "failed", out.job
        assert error.startswith(f"{case.field}: ") and case.text in error, error
        assert "\n" not in error and str(run.work) not in error and "/tmp" not in error


def _check_rotated_photo_is_turned_upright(run: Run) -> None:
    out = run.outcomes["exif_rotated_whole_photo_wav_claiming_one_hour"]
    assert out.video is not None
    info = probe(out.video)
    assert (info.width, info.height) == (360, 288)  # stored 288 x 360 on its side, shown (and animated) upright


def _check_concurrent_jobs_all_complete(run: Run) -> None:
    outs = [run.outcomes[name] for name in CONCURRENT]
    assert [o.status_code for o in outs] == [202] * len(CONCURRENT)
    assert len({o.response["job"] for o in outs}) == len(CONCURRENT)
    assert all(o.job is not None and o.job["status"] == "done" for o in outs)


def _check_request(run: Run, req: Request) -> None:
    r = run.answers[req.name]
    assert r.status_code == req.status, (r.status_code, r.text[:200])
    if req.method == "HEAD":
        assert r.content == b""
    elif req.code is not None:
        body = r.json()
        assert body["code"] == req.code and "\n" not in body["error"] and str(run.work) not in body["error"], body


def _check_head_of_a_video(run: Run) -> None:
    out = run.outcomes["png_wav"]
    assert out.video is not None
    job = out.response["job"]
    r = run.client.head(f"/v1/jobs/{job}/video")
    assert r.status_code == 200 and r.content == b"" and r.headers["content-type"] == "video/mp4"
    assert int(r.headers["content-length"]) == out.video.stat().st_size


def _check_server_survives_and_leaves_no_partial_files(run: Run) -> None:
    health = run.client.get("/v1/health").json()
    assert health["status"] == "ok" and health["ready_workers"] == 1
    ours = {o.response["job"] for o in run.outcomes.values() if o.job is not None and o.job["status"] == "done"}
    for o in run.outcomes.values():
        if o.job is not None and o.job["status"] == "failed":
            assert not (run.work / o.job["id"]).exists()  # nothing of a failed job is kept
    # the shared server may hold other modules' jobs: every folder must be a finished job's, with its video only
    left = sorted(p for p in run.work.iterdir())
    for folder in left:
        job = run.manager.get(folder.name)
        assert job is not None and job.status in ("done", "running", "queued"), folder
        if job.status == "done":
            assert sorted(p.name for p in folder.iterdir()) == ["video.mp4"]
    assert ours <= {p.name for p in left}
    assert not [p for p in run.work.rglob("*") if p.name.startswith(".") or ".part" in p.name]
    print(f"corpus: {len(CASES)} uploads + {len(REQUESTS)} other requests, {len(ours)} videos, {run.seconds:.1f} s")


def test_bad_input_corpus(run: Run) -> None:
    """Every case answered clearly or animated correctly; then the server is healthy and clean.

    One test (not one per case) so that a parallel run (pytest -n) cannot split the corpus over
    processes and run the whole upload-and-wait fixture in each; every failing case is listed.
    """
    problems: list[str] = []
    for case in CASES:
        try:
            _check_case(run, case)
        except AssertionError as err:
            out = run.outcomes[case.name]
            problems.append(f"{case.name}: {' '.join(str(err).split())[:300]} | got HTTP {out.status_code} "
                            f"{out.response} job {out.job and {k: out.job[k] for k in ('status', 'error')}}")
    for req in REQUESTS:
        try:
            _check_request(run, req)
        except AssertionError as err:
            problems.append(f"{req.name}: {' '.join(str(err).split())[:300]}")
    for check in (_check_rotated_photo_is_turned_upright, _check_concurrent_jobs_all_complete,
                  _check_head_of_a_video, _check_server_survives_and_leaves_no_partial_files):
        try:
            check(run)
        except AssertionError as err:
            problems.append(f"{check.__name__.removeprefix('_check_')}: {' '.join(str(err).split())[:300]}")
    total = len(CASES) + len(REQUESTS)
    print(f"API corpus: {total} cases, {total - len(problems)} handled")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
