"""Bad-input corpus for ``talkface serve``, end to end through the real pipeline.

Every case is uploaded to one server (real :class:`talkface.pipeline.Animator`, one worker); each
must get either a clear JSON error (HTTP 4xx naming the field, or a ``failed`` job with a
one-line error) or a correct result (a playable mp4 with audio of the speech's length). After
all of them the server must still be healthy and its work folder must hold nothing but the
finished videos: no uploads of failed jobs, no staging folders, no partial files.
"""

from __future__ import annotations

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

#: Submitted at the same moment, from threads (the rest one after another).
CONCURRENT = ("rgba_png_mp3_dotdot_names", "grayscale_jpeg_webm_opus_unicode_names", "cmyk_jpeg_ogg_opus")
CASES = HTTP_CASES + FAILED_CASES + DONE_CASES


@dataclass
class Outcome:
    status_code: int
    response: dict[str, Any]
    job: dict[str, Any] | None = None
    video: Path | None = None


@dataclass
class Run:
    outcomes: dict[str, Outcome]
    work: Path
    client: httpx.Client
    manager: Any
    seconds: float


def _submit(client: httpx.Client, case: Case) -> Outcome:
    files: dict[str, Any] = {"face": (case.face_name, case.face(), "application/octet-stream"),
                             "speech": (case.speech_name, case.speech(), "application/octet-stream")}
    r = client.post("/v1/animate", files=files, data=case.form)
    return Outcome(r.status_code, r.json())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Every case uploaded to the shared live server (real pipeline); waits for all jobs to end."""
    root = tmp_path_factory.mktemp("serve-corpus")
    t0 = time.monotonic()
    server = shared_server()
    with httpx.Client(base_url=server.url, timeout=60) as client:
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
        yield Run(outcomes, server.work, client, server.app.state.manager, time.monotonic() - t0)


def test_corpus_size() -> None:
    assert len(CASES) >= 30


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
        assert out.response["code"] == case.code and out.response["field"] == case.field
        message = out.response["error"]
        assert message.startswith(f"{case.field}: ") and "\n" not in message and str(run.work) not in message
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
    print(f"corpus: {len(CASES)} uploads, {len(ours)} videos, {run.seconds:.1f} s")


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
    for check in (_check_rotated_photo_is_turned_upright, _check_concurrent_jobs_all_complete,
                  _check_server_survives_and_leaves_no_partial_files):
        try:
            check(run)
        except AssertionError as err:
            problems.append(f"{check.__name__.removeprefix('_check_')}: {' '.join(str(err).split())[:300]}")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
