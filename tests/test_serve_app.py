"""Unit tests of the ``talkface serve`` server logic (routes, job store, worker pool, cleanup).

The animator here is a small fake that writes a few bytes: these tests are about the server,
not the pipeline (tests/test_serve_corpus.py and tests/test_serve_browser.py run the real one).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serve_media import grid_speech, grid_still, image_bytes, wav_bytes
from talkface.errors import InputError
from talkface.io.atomic import atomic_path
from talkface.serve import ServeConfig, create_app
from talkface.serve.jobs import STAGE_WEIGHTS, JobManager, overall_progress
from talkface.serve.validate import IMAGE_FORMATS, human_bytes

FAKE_VIDEO = b"\x00\x00\x00\x18ftypisom fake video bytes"


class Fake:
    """Shared control of the fake animators: what they do, what they were asked."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.built: list[str] = []  # names of the threads that built an animator
        self.gate: threading.Event | None = None  # when set, animate() waits for it at "texture" 0.5
        self.at_gate = threading.Event()
        self.fail: BaseException | None = None
        self.factory_error: BaseException | None = None
        self.running = 0
        self.max_running = 0
        self.lock = threading.Lock()

    def factory(self) -> FakeAnimator:
        if self.factory_error is not None:
            raise self.factory_error
        self.built.append(threading.current_thread().name)
        return FakeAnimator(self)


class FakeAnimator:
    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    def animate(self, face: Any, speech: Any, output: Any, *, blink_rate: float | None = 0.35,
                seed: int | None = None, size: int | None = None, progress: Any = None,
                motion_scale: float | None = None, head_motion: float | None = None) -> Any:
        fake = self.fake
        with fake.lock:
            fake.running += 1
            fake.max_running = max(fake.max_running, fake.running)
            fake.calls.append({"face": Path(face), "speech": Path(speech), "output": Path(output),
                               "blink_rate": blink_rate, "seed": seed, "size": size, "motion_scale": motion_scale,
                               "head_motion": head_motion,
                               "face_bytes": Path(face).read_bytes()[:8]})
        try:
            for stage in STAGE_WEIGHTS:
                progress(stage, 0.0)
                if stage == "texture":
                    progress(stage, 0.5)
                    if fake.gate is not None:
                        fake.at_gate.set()
                        assert fake.gate.wait(10)
                progress(stage, 1.0)
            if fake.fail is not None:
                raise fake.fail if not callable(fake.fail) else fake.fail(face, speech)
            with atomic_path(output) as tmp:
                tmp.write_bytes(FAKE_VIDEO)
            return SimpleNamespace(output=Path(output), frames=38, fps=25.0, duration_s=1.5)
        finally:
            with fake.lock:
                fake.running -= 1


@pytest.fixture(scope="module")
def face_png() -> bytes:
    return image_bytes(grid_still(), "PNG")


@pytest.fixture(scope="module")
def speech_wav() -> bytes:
    return wav_bytes(grid_speech())


@pytest.fixture()
def fake() -> Fake:
    return Fake()


def make_client(tmp_path: Path, fake: Fake, **overrides: Any) -> TestClient:
    config = ServeConfig(work_dir=tmp_path / "work", cleanup_interval_s=3600, **overrides)
    return TestClient(create_app(config, animator_factory=fake.factory), base_url="http://127.0.0.1")


@pytest.fixture()
def client(tmp_path: Path, fake: Fake) -> Iterator[TestClient]:
    with make_client(tmp_path, fake) as c:
        yield c


def post(client: TestClient, face: bytes, speech: bytes, face_name: str = "face.png",
         speech_name: str = "speech.wav", **form: Any) -> Any:
    files = {"face": (face_name, face, "image/png"), "speech": (speech_name, speech, "audio/wav")}
    return client.post("/v1/animate", files=files, data={k: str(v) for k, v in form.items()})


def wait(client: TestClient, job: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/v1/jobs/{job}").json()
        if body["status"] in ("done", "failed", "cancelled") or time.monotonic() > deadline:
            return body
        time.sleep(0.01)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ------------------------------------------------------------------------------------------ page, schema


def test_page_and_openapi(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for element in ('id="face"', 'id="speech"', 'id="record"', 'id="blink"', 'id="size"', "MediaRecorder",
                    'id="video"', 'id="download"', 'id="progress"'):
        assert element in page.text
    assert "http://" not in page.text and "https://" not in page.text  # works offline: nothing fetched elsewhere
    assert client.get("/docs").status_code == 404  # Swagger UI would load scripts from a CDN
    schema = client.get("/openapi.json").json()
    assert {"/v1/animate", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/video", "/v1/health"} <= set(schema["paths"])
    animate = schema["paths"]["/v1/animate"]["post"]
    assert "multipart/form-data" in animate["requestBody"]["content"]
    assert {"202", "413", "415", "422", "503"} <= set(animate["responses"])
    limits = client.get("/v1/limits").json()
    assert limits["sizes"] == [0, 128, 256] and limits["max_audio_seconds"] == 120.0
    assert limits["max_side"] == 1280  # a JPEG larger than this counts at its 1/2-1/8 decode size


# ------------------------------------------------------------------------------------------ jobs


def test_job_runs_and_video_downloads(client: TestClient, fake: Fake, face_png: bytes, speech_wav: bytes,
                                      tmp_path: Path) -> None:
    r = post(client, face_png, speech_wav, blink_rate="0.5", size=128, seed=7, motion_scale="1.3", head_motion="0")
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    assert r.headers["location"] == f"/v1/jobs/{job}"
    body = wait(client, job)
    assert body["status"] == "done" and body["progress"] == 1.0 and body["error"] is None
    assert body["result"]["frames"] == 38 and body["result"]["bytes"] == len(FAKE_VIDEO)
    assert body["options"] == {"blink_rate": 0.5, "size": 128, "seed": 7, "motion_scale": 1.3, "head_motion": 0.0}
    assert body["expires_at"] == pytest.approx(body["finished_at"] + 3600)
    call = fake.calls[0]
    assert call["face"].name == "face.png" and call["speech"].name == "speech.wav"
    assert call["face_bytes"] == face_png[:8] and call["blink_rate"] == 0.5 and call["seed"] == 7
    assert call["size"] == 128 and call["motion_scale"] == 1.3 and call["head_motion"] == 0.0
    video = client.get(body["video_url"])
    assert video.status_code == 200 and video.content == FAKE_VIDEO
    assert video.headers["content-type"] == "video/mp4" and video.headers["content-disposition"].startswith("inline")
    dl = client.get(f"/v1/jobs/{job}/video?download=true")
    assert dl.headers["content-disposition"].startswith("attachment")
    ranged = client.get(f"/v1/jobs/{job}/video", headers={"Range": "bytes=0-3"})
    assert ranged.status_code == 206 and ranged.content == FAKE_VIDEO[:4]
    # only the video is kept: the uploads are gone once it is made
    assert files_under(tmp_path / "work") == [job, f"{job}/video.mp4"]


def test_defaults_and_natural_blinks(client: TestClient, fake: Fake, face_png: bytes, speech_wav: bytes) -> None:
    a = post(client, face_png, speech_wav).json()["job"]
    b = post(client, face_png, speech_wav, blink_rate="natural").json()["job"]
    assert wait(client, a)["status"] == wait(client, b)["status"] == "done"
    assert [c["blink_rate"] for c in fake.calls] == [0.35, None]
    assert [c["size"] for c in fake.calls] == [0, 0]
    assert [c["motion_scale"] for c in fake.calls] == [1.0, 1.0]
    assert [c["head_motion"] for c in fake.calls] == [1.0, 1.0]


def test_progress_is_reported_while_running(client: TestClient, fake: Fake, face_png: bytes,
                                            speech_wav: bytes) -> None:
    fake.gate = threading.Event()
    job = post(client, face_png, speech_wav).json()["job"]
    assert fake.at_gate.wait(10)
    body = client.get(f"/v1/jobs/{job}").json()
    assert body["status"] == "running" and body["stage"] == "texture" and body["stage_progress"] == 0.5
    assert body["progress"] == pytest.approx(0.05 + 0.05 + 0.10 + 0.75 / 2)
    assert client.get(f"/v1/jobs/{job}/video").status_code == 409
    assert client.delete(f"/v1/jobs/{job}").status_code == 409  # running jobs cannot be deleted
    fake.gate.set()
    assert wait(client, job)["status"] == "done"


def test_overall_progress_is_monotonic_over_stages() -> None:
    values = [overall_progress(s, f) for s in (*STAGE_WEIGHTS, "done") for f in (0.0, 0.5, 1.0)]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == pytest.approx(1.0)
    assert overall_progress("unknown-stage", 0.5) is None


def test_input_error_fails_the_job_with_one_line_naming_the_field(client: TestClient, fake: Fake,
                                                                  face_png: bytes, speech_wav: bytes,
                                                                  tmp_path: Path) -> None:
    fake.fail = lambda face, speech: InputError(face, "no face found")  # type: ignore[assignment]
    job = post(client, face_png, speech_wav).json()["job"]
    body = wait(client, job)
    assert body["status"] == "failed" and body["error"] == "face: no face found"
    assert body["video_url"] is None
    assert client.get(f"/v1/jobs/{job}/video").status_code == 409
    assert files_under(tmp_path / "work") == []  # nothing of a failed job is left
    fake.fail = lambda face, speech: InputError(speech, "audio is silent")  # type: ignore[assignment]
    body = wait(client, post(client, face_png, speech_wav).json()["job"])
    assert body["error"] == "speech: audio is silent"


def test_unexpected_error_is_reported_and_the_worker_goes_on(client: TestClient, fake: Fake, face_png: bytes,
                                                             speech_wav: bytes, tmp_path: Path) -> None:
    fake.fail = RuntimeError(f"boom in {tmp_path}/secret/path")
    body = wait(client, post(client, face_png, speech_wav).json()["job"])
    assert body["status"] == "failed"
    assert body["error"].startswith("internal error while animating (RuntimeError)")
    assert str(tmp_path) not in body["error"]
    fake.fail = None
    assert wait(client, post(client, face_png, speech_wav).json()["job"])["status"] == "done"
    assert client.get("/v1/health").json()["status"] == "ok"


def test_model_load_failure_fails_jobs_clearly(tmp_path: Path, fake: Fake, face_png: bytes,
                                               speech_wav: bytes) -> None:
    fake.factory_error = FileNotFoundError("model bundle /x/y not found")
    with make_client(tmp_path, fake) as client:
        job = post(client, face_png, speech_wav).json()["job"]
        body = wait(client, job)
        assert body["status"] == "failed"
        assert body["error"] == "the server could not load its models (model bundle /x/y not found)"
        health = client.get("/v1/health").json()
        assert health["status"] == "error" and health["ready_workers"] == 0


def test_one_animator_per_worker_loaded_once(tmp_path: Path, fake: Fake, face_png: bytes,
                                             speech_wav: bytes) -> None:
    with make_client(tmp_path, fake, workers=2) as client:
        deadline = time.monotonic() + 5
        while client.get("/v1/health").json()["ready_workers"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(fake.built) == 2 and len(set(fake.built)) == 2  # loaded at start-up, one per worker
        jobs = [post(client, face_png, speech_wav, size=s).json()["job"] for s in (0, 0, 0, 256, 256, 256)]
        assert all(wait(client, j)["status"] == "done" for j in jobs)
        assert len(fake.built) == 2  # and reused
        assert sorted(c["size"] for c in fake.calls) == [0, 0, 0, 256, 256, 256]


def test_concurrent_submissions_bounded_pool(tmp_path: Path, fake: Fake, face_png: bytes,
                                             speech_wav: bytes) -> None:
    with make_client(tmp_path, fake, workers=2, max_queued=64) as client:
        ids: list[str] = []
        errors: list[BaseException] = []

        def submit() -> None:
            try:
                r = post(client, face_png, speech_wav)
                assert r.status_code == 202, r.text
                ids.append(r.json()["job"])
            except BaseException as err:  # collected for the main thread
                errors.append(err)

        threads = [threading.Thread(target=submit) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and len(set(ids)) == 12
        assert all(wait(client, j)["status"] == "done" for j in ids)
        assert fake.max_running <= 2
        assert len(fake.calls) == 12
        assert sorted(p.name for p in (tmp_path / "work").iterdir()) == sorted(ids)


def test_queue_full_answers_503_and_leaves_nothing(tmp_path: Path, fake: Fake, face_png: bytes,
                                                   speech_wav: bytes) -> None:
    fake.gate = threading.Event()
    with make_client(tmp_path, fake, workers=1, max_queued=2) as client:
        running = post(client, face_png, speech_wav).json()["job"]
        assert fake.at_gate.wait(10)
        queued = [post(client, face_png, speech_wav) for _ in range(2)]
        assert [r.status_code for r in queued] == [202, 202]
        assert client.get(f"/v1/jobs/{queued[1].json()['job']}").json()["queue_position"] == 1
        busy = post(client, face_png, speech_wav)
        assert busy.status_code == 503 and busy.json()["code"] == "busy" and busy.headers["retry-after"]
        assert len(list((tmp_path / "work").iterdir())) == 3  # no folder for the refused job
        # cancelling a queued job frees its place
        assert client.delete(f"/v1/jobs/{queued[0].json()['job']}").status_code == 204
        assert client.get(f"/v1/jobs/{queued[0].json()['job']}").status_code == 404
        late = post(client, face_png, speech_wav)
        assert late.status_code == 202
        fake.gate.set()
        for job in (running, queued[1].json()["job"], late.json()["job"]):
            assert wait(client, job)["status"] == "done"
        assert len(fake.calls) == 3  # the cancelled job never ran


def test_delete_and_unknown_jobs(client: TestClient, face_png: bytes, speech_wav: bytes, tmp_path: Path) -> None:
    job = post(client, face_png, speech_wav).json()["job"]
    assert wait(client, job)["status"] == "done"
    assert client.delete(f"/v1/jobs/{job}").status_code == 204
    assert not (tmp_path / "work" / job).exists()
    for bad in (job, "0" * 32, "..%2F..%2Fetc%2Fpasswd", "x" * 200, "%00"):
        r = client.get(f"/v1/jobs/{bad}")
        assert r.status_code == 404 and r.json()["code"] in ("not_found", "http_error")
        assert client.get(f"/v1/jobs/{bad}/video").status_code == 404
    assert client.delete(f"/v1/jobs/{'f' * 32}").status_code == 404


def test_ttl_cleanup_removes_jobs_and_stale_folders(tmp_path: Path, fake: Fake) -> None:
    now = [1_000_000.0]
    work = tmp_path / "work"
    stale = work / ("a" * 32)
    stale.mkdir(parents=True)
    (stale / "video.mp4").write_bytes(b"old")
    os.utime(stale, (now[0] - 7200, now[0] - 7200))
    staging = work / f".{'b' * 32}.incoming"
    staging.mkdir()
    os.utime(staging, (now[0] - 7200, now[0] - 7200))
    fresh = work / ("d" * 32)  # an earlier server's job, killed mid-write: unreachable, removed however new
    fresh.mkdir()
    (fresh / ".video.x.part.mp4").write_bytes(b"half")
    unrelated = work / "keep-me"
    unrelated.mkdir()
    os.utime(unrelated, (now[0] - 7200, now[0] - 7200))
    manager = JobManager(work, fake.factory, ttl_s=3600, cleanup_interval_s=3600, clock=lambda: now[0])
    manager.start()
    try:
        assert sorted(p.name for p in work.iterdir()) == ["keep-me"]  # leftovers of an earlier server
        job_id = "c" * 32
        folder = manager.staging_dir(job_id)
        (folder / "face.png").write_bytes(b"x")
        (folder / "speech.wav").write_bytes(b"y")
        manager.submit(job_id, folder, "face.png", "speech.wav", manager_options())
        deadline = time.monotonic() + 5
        while manager.get(job_id).status != "done" and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.01)
        assert (work / job_id / "video.mp4").is_file()
        assert manager.cleanup(now[0] + 3000) == 0
        assert manager.cleanup(now[0] + 3700) == 1
        assert manager.get(job_id) is None and not (work / job_id).exists()
    finally:
        manager.stop()


def manager_options() -> Any:
    from talkface.serve.jobs import JobOptions

    return JobOptions()


def test_temporary_work_dir_is_removed_at_shutdown(fake: Fake, face_png: bytes, speech_wav: bytes) -> None:
    app = create_app(ServeConfig(), animator_factory=fake.factory)
    work = app.state.manager.work_dir
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert wait(client, post(client, face_png, speech_wav).json()["job"])["status"] == "done"
        assert any(work.iterdir())
    assert not work.exists()


# ------------------------------------------------------------------------------------------ uploads


def test_client_file_names_never_reach_the_filesystem(client: TestClient, fake: Fake, face_png: bytes,
                                                      speech_wav: bytes, tmp_path: Path) -> None:
    names = ["../../../../etc/passwd", "..\\..\\evil.png", "/abs/path.png", "лицо 😀.png", "a" * 500 + ".png",
             "nul\x00byte.png", "."]
    jobs = [post(client, face_png, speech_wav, face_name=n, speech_name=n[::-1]) for n in names]
    assert all(r.status_code == 202 for r in jobs), [r.text for r in jobs]
    assert all(wait(client, r.json()["job"])["status"] == "done" for r in jobs)
    assert {(c["face"].name, c["speech"].name) for c in fake.calls} == {("face.png", "speech.wav")}
    assert {c["face"].parent.parent for c in fake.calls} == {tmp_path / "work"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    nameless = post(client, face_png, speech_wav, face_name="")  # a part with no file name is text
    assert nameless.status_code == 422 and nameless.json()["code"] == "not_a_file"


def test_type_is_sniffed_not_taken_from_the_name(client: TestClient, fake: Fake, face_png: bytes,
                                                 speech_wav: bytes) -> None:
    ok = post(client, face_png, speech_wav, face_name="face.mp3", speech_name="speech.jpg")
    assert ok.status_code == 202
    wait(client, ok.json()["job"])
    assert (fake.calls[0]["face"].name, fake.calls[0]["speech"].name) == ("face.png", "speech.wav")
    swapped = post(client, speech_wav, face_png, face_name="face.png", speech_name="speech.wav")
    assert swapped.status_code == 415
    assert swapped.json() == {
        "error": "face: not a supported image (looks like a WAV audio file; send "
                 f"{', '.join(k.upper() for k in IMAGE_FORMATS)})",  # JPEG, PNG, GIF, WEBP, BMP, TIFF (, AVIF)
        "code": "unsupported_type", "field": "face"}


def test_upload_limits(tmp_path: Path, fake: Fake, face_png: bytes, speech_wav: bytes) -> None:
    with make_client(tmp_path, fake, max_upload_bytes=200_000, max_audio_seconds=1.0,
                     max_image_pixels=50_000) as client:
        big = post(client, face_png, speech_wav + b"\0" * 300_000)
        assert big.status_code == 413 and big.json()["field"] == "speech"
        assert big.json()["error"] == "speech: file too large (limit 195.3 KiB)"  # not "0.190735 MiB"
        too_long = post(client, image_bytes(grid_still()[:200, :200]), speech_wav)
        assert too_long.status_code == 413 and too_long.json()["code"] == "audio_too_long"
        assert "1.5 s; the limit is 1 s" in too_long.json()["error"]
        too_many_pixels = post(client, face_png, wav_bytes(grid_speech()[:8000]))
        assert too_many_pixels.status_code == 413 and too_many_pixels.json()["code"] == "image_too_large"
        # a body far over the limit is refused from its Content-Length, before it is read
        huge = client.post("/v1/animate", content=b"x" * 600_000,
                           headers={"content-type": "multipart/form-data; boundary=zz"})
        assert huge.status_code == 413 and huge.json()["code"] == "too_large"
        assert huge.json()["error"] == "request too large (limit 454.6 KiB)"  # 2 files + 64 KiB, not "465536 bytes"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(10):
                yield b"--zz\r\n" + b"y" * 60_000

        chunked = client.post("/v1/animate", content=chunks(),
                              headers={"content-type": "multipart/form-data; boundary=zz"})
        assert chunked.status_code == 413
        assert not fake.calls
        assert list((tmp_path / "work").iterdir()) == []


def test_large_jpeg_is_judged_at_its_reduced_decode_size(tmp_path: Path, fake: Fake, speech_wav: bytes) -> None:
    """A JPEG over the pixel limit passes when its 1/2-1/8 scale decode within max_side fits (a phone
    photo, as the CLI reads it); a PNG of the same size cannot be decoded small and is refused."""
    from talkface.io.images import read_image

    big = np.repeat(np.repeat(grid_still(), 4, axis=0), 4, axis=1)  # 1440x1152 px = 1.66 megapixels
    jpeg, png = image_bytes(big, "JPEG", quality=90), image_bytes(big, "PNG")
    with make_client(tmp_path, fake, max_image_pixels=200_000, max_side=360) as client:
        accepted = post(client, jpeg, speech_wav, face_name="phone.jpg")
        assert accepted.status_code == 202, accepted.json()
        assert wait(client, accepted.json()["job"])["status"] == "done"
        assert fake.calls[0]["face"].name == "face.jpg"
        (tmp_path / "phone.jpg").write_bytes(jpeg)
        assert read_image(tmp_path / "phone.jpg", max_side=360).shape == (288, 360, 3)  # what the worker decodes
        refused = post(client, png, speech_wav)
        assert refused.status_code == 413 and refused.json()["code"] == "image_too_large"
        assert refused.json()["error"] == ("face: image too large (1440x1152 px; limit 8192 px a side and 0.2 "
                                           "megapixels; only a JPEG is decoded at reduced scale)")
    with make_client(tmp_path, fake, max_image_pixels=200_000, max_side=720) as client:
        too_big = post(client, jpeg, speech_wav, face_name="phone.jpg")  # 1/2 scale: 720x576 = 0.41 megapixels
        assert too_big.status_code == 413
        assert "(1440x1152 px, decoded at 720x576; limit" in too_big.json()["error"]
    assert len(fake.calls) == 1


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1024, 200_000, 32 * 2**20, 2 * 8 * 2**20 + 64 * 2**10, 3 * 2**30)] == [
        "0 bytes", "1023 bytes", "1 KiB", "195.3 KiB", "32 MiB", "16.1 MiB", "3 GiB"]


@pytest.mark.parametrize(
    ("form", "field", "code"),
    [
        ({"blink_rate": "fast"}, "blink_rate", "bad_option"),
        ({"blink_rate": "-1"}, "blink_rate", "bad_option"),
        ({"blink_rate": "nan"}, "blink_rate", "bad_option"),
        ({"motion_scale": "wide"}, "motion_scale", "bad_option"),
        ({"motion_scale": "4"}, "motion_scale", "bad_option"),
        ({"motion_scale": "inf"}, "motion_scale", "bad_option"),
        ({"head_motion": "-0.5"}, "head_motion", "bad_option"),
        ({"head_motion": "lots"}, "head_motion", "bad_option"),
        ({"size": "999"}, "size", "bad_option"),
        ({"size": "big"}, "size", "bad_request"),
        ({"seed": "1.5"}, "seed", "bad_request"),
    ],
)
def test_bad_options(client: TestClient, face_png: bytes, speech_wav: bytes, form: dict[str, str], field: str,
                     code: str) -> None:
    r = post(client, face_png, speech_wav, **form)
    assert r.status_code == 422 and r.json()["field"] == field and r.json()["code"] == code
    assert r.json()["error"].startswith(f"{field}: ")


def test_missing_fields(client: TestClient, face_png: bytes) -> None:
    r = client.post("/v1/animate", files={"face": ("f.png", face_png, "image/png")})
    assert r.status_code == 422 and r.json() == {"error": "speech: missing", "code": "missing_field",
                                                 "field": "speech"}
    r = client.post("/v1/animate", data={"size": "0"})
    assert r.status_code == 422 and r.json()["code"] == "missing_field"
    r = client.post("/v1/animate", content=b"not multipart", headers={"content-type": "text/plain"})
    assert r.status_code == 422


def test_http_errors_are_json(client: TestClient) -> None:
    r = client.put("/v1/animate")
    assert r.status_code == 405 and set(r.json()) == {"error", "code", "field"}
    r = client.get("/nothing-here")
    assert r.status_code == 404 and r.json()["code"] == "http_error"
