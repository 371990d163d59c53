"""``talkface serve --queue redis://...`` + ``talkface worker``: jobs in a real Redis, workers anywhere.

Starts its own ``redis-server`` (Debian package redis-server) on a free loopback port; skipped,
saying why, when the binary or the ``redis`` client (extra ``talkface[redis]``) is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import pytest
from fastapi.testclient import TestClient

from serve_media import grid_speech, grid_still, image_bytes, wav_bytes
from talkface.io.atomic import atomic_path
from talkface.serve import ServeConfig, create_app
from talkface.serve.redis_queue import LOST_ERROR, RedisKeys, RedisWorker, reap

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    redis = pytest.importorskip("redis", reason="the Redis client is an optional extra: pip install 'talkface[redis]'")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture()
def redis_client(redis_url: str) -> Any:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    return client


@pytest.fixture(scope="module")
def face_png() -> bytes:
    return image_bytes(grid_still(), "PNG")


@pytest.fixture(scope="module")
def speech_wav() -> bytes:
    return wav_bytes(grid_speech())


class QuickAnimator:
    """Stands in for the models where only the queue is under test: reports progress, writes a small file."""

    def animate(self, face: Any, speech: Any, output: Any, *, progress: Any = None, **options: Any) -> Any:
        assert Path(face).is_file() and Path(speech).is_file()
        for stage in ("audio", "face", "motion", "texture"):
            progress(stage, 1.0)
            time.sleep(0.005)
        with atomic_path(output) as tmp:
            tmp.write_bytes(b"video of " + Path(face).parent.name.encode())
        return SimpleNamespace(frames=38, fps=25.0, duration_s=1.5)


def post(client: TestClient, face: bytes, speech: bytes) -> str:
    r = client.post("/v1/animate", files={"face": ("f.png", face, "image/png"),
                                          "speech": ("s.wav", speech, "audio/wav")})
    assert r.status_code == 202, r.text
    return str(r.json()["job"])


def wait_for(client: TestClient, job: str, statuses: tuple[str, ...], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/v1/jobs/{job}").json()
        if body["status"] in statuses or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_two_workers_drain_40_jobs_submitted_through_the_api(redis_url: str, redis_client: Any, tmp_path: Path,
                                                             face_png: bytes, speech_wav: bytes) -> None:
    work = tmp_path / "shared"
    config = ServeConfig(work_dir=work, queue=redis_url, max_queued=64, cleanup_interval_s=3600, queue_lease_s=2)
    with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
        assert client.get("/v1/health").json()["status"] == "loading"  # no worker yet
        jobs = [post(client, face_png, speech_wav) for _ in range(40)]
        assert client.get(f"/v1/jobs/{jobs[0]}").json()["queue_position"] == 0
        assert client.get(f"/v1/jobs/{jobs[-1]}").json()["queue_position"] == 39
        assert client.get("/v1/health").json()["jobs"] == {"queued": 40}
        workers = [RedisWorker(redis_url, work, QuickAnimator, lease_s=2) for _ in range(2)]
        threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
        for t in threads:
            t.start()
        bodies = [wait_for(client, j, ("done", "failed"), 60) for j in jobs]
        health = client.get("/v1/health").json()
        for w in workers:
            w.stop_event.set()
        for t in threads:
            t.join(10)
        assert [b["status"] for b in bodies] == ["done"] * 40
        assert health["status"] == "ok" and health["ready_workers"] == 2 and health["jobs"] == {"done": 40}
        assert sorted(w.done for w in workers) != [0, 40] and sum(w.done for w in workers) == 40
        assert {b["result"]["worker"] for b in bodies} == {w.name for w in workers}
        for job in jobs[:3]:
            r = client.get(f"/v1/jobs/{job}/video")
            assert r.status_code == 200 and r.content == f"video of {job}".encode()
            assert sorted(p.name for p in (work / job).iterdir()) == ["video.mp4"]  # the uploads are gone
        assert client.delete(f"/v1/jobs/{jobs[0]}").status_code == 204
        assert client.get(f"/v1/jobs/{jobs[0]}").status_code == 404 and not (work / jobs[0]).exists()
    keys = RedisKeys()
    assert redis_client.llen(keys.queue) == 0 and not redis_client.smembers(keys.workers)


def test_a_dead_workers_job_is_queued_again_then_failed_never_lost(redis_url: str, redis_client: Any,
                                                                   tmp_path: Path, face_png: bytes,
                                                                   speech_wav: bytes) -> None:
    keys = RedisKeys()
    config = ServeConfig(work_dir=tmp_path / "shared", queue=redis_url, cleanup_interval_s=3600, queue_lease_s=3600)
    with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
        job = post(client, face_png, speech_wav)
        alive = "alive-worker"
        redis_client.set(keys.heartbeat(alive), "ready", ex=60)
        redis_client.sadd(keys.workers, alive)
        for attempt in (1, 2):
            ghost = f"ghost-{attempt}"  # took the job, then died: no heartbeat
            redis_client.sadd(keys.workers, ghost)
            assert redis_client.lmove(keys.queue, keys.processing(ghost), "RIGHT", "LEFT") == job
            redis_client.hset(keys.job(job), mapping={"status": "running", "worker": ghost})
            assert client.get(f"/v1/jobs/{job}").json()["status"] == "running"
            assert reap(redis_client, keys) == 1  # the ghost only; the live worker stays
            body = client.get(f"/v1/jobs/{job}").json()
            if attempt == 1:
                assert body["status"] == "queued" and body["queue_position"] == 0
                assert redis_client.lrange(keys.queue, 0, -1) == [job]
            else:
                assert body["status"] == "failed" and body["error"] == LOST_ERROR.format(n=2)
                assert redis_client.llen(keys.queue) == 0 and body["expires_at"] is not None
        assert redis_client.smembers(keys.workers) == {alive}


def test_killed_worker_process_its_job_is_retried_by_another(redis_url: str, redis_client: Any, tmp_path: Path,
                                                             face_png: bytes, speech_wav: bytes) -> None:
    """Real ``talkface worker`` processes with the real models: kill one mid-job, a second one finishes it."""
    work = tmp_path / "shared"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "talkface.cli", "worker", "--queue", redis_url, "--work-dir", str(work),
           "--lease-s", "2", "--threads", "1"]
    config = ServeConfig(work_dir=work, queue=redis_url, cleanup_interval_s=3600, queue_lease_s=1)
    with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
        job = post(client, face_png, speech_wav)
        first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            body = wait_for(client, job, ("running", "done", "failed"), 240)
            assert body["status"] == "running", body
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        body = wait_for(client, job, ("queued", "done", "failed"), 30)
        assert body["status"] == "queued" and body["queue_position"] == 0, body
        second = subprocess.run([*cmd, "--max-jobs", "1"], env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr[-2000:]
        body = wait_for(client, job, ("done", "failed"), 10)
        assert body["status"] == "done", body
        assert body["result"]["retries"] == 1 and body["result"]["frames"] == 38
        video = client.get(f"/v1/jobs/{job}/video")
        assert video.status_code == 200
        path = tmp_path / "got.mp4"
        path.write_bytes(video.content)
        with av.open(str(path)) as c:
            assert c.streams.audio and sum(1 for _ in c.decode(video=0)) == 38
