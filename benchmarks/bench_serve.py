"""Load test of ``talkface serve`` on loopback: N concurrent jobs, latency percentiles, server memory.

    python3 benchmarks/bench_serve.py [--jobs 20] [--workers 2] [--speech-seconds 1.5] [--model DIR]

Starts ``talkface serve`` as a child process on 127.0.0.1 (a free port, a temporary work folder),
waits until its workers have loaded the models, then submits ``--jobs`` animations at the same
moment from as many client threads (a GRID still + the clip's own speech) and follows each one to
its downloaded mp4. Reports per-job latency (submit -> video downloaded: p50, p95, max), throughput,
and the server's resident memory (after loading, peak, and after each quarter of the jobs, to
show it does not grow with the number of jobs served). Every request goes to the loopback address;
the run is bounded by ``--timeout`` and stops the server at the end. Not a test: timings depend
on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
GRID = REPO / "tests" / "fixtures" / "bbaf2n.mpg"


def _inputs(speech_seconds: float) -> tuple[bytes, bytes]:
    """A GRID still (PNG) and ``speech_seconds`` of the clip's own speech (WAV)."""
    import io

    import soundfile as sf
    from PIL import Image

    from talkface.io.media import read_audio, read_video

    frames, _ = read_video(GRID, max_frames=1)
    buf = io.BytesIO()
    Image.fromarray(frames[0]).save(buf, format="PNG")
    face = buf.getvalue()
    audio = read_audio(GRID)[int(0.9 * 16000): int((0.9 + speech_seconds) * 16000)]
    buf = io.BytesIO()
    sf.write(buf, audio, 16000, format="WAV", subtype="PCM_16")
    return face, buf.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mib(pid: int, key: str = "VmRSS") -> float:
    """Resident memory of a process (``VmRSS``; ``VmHWM`` = its peak), MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20, help="jobs submitted at once")
    parser.add_argument("--workers", type=int, default=2, help="server workers")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--speech-seconds", type=float, default=1.5, help="length of each job's speech")
    parser.add_argument("--size", type=int, default=0, help="output size (0 = whole photo)")
    parser.add_argument("--model", default=None, help="model bundle folder (default: the bundled model)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    face, speech = _inputs(args.speech_seconds)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    cmd = [sys.executable, "-m", "talkface.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(args.workers), "--threads", str(args.threads), "--max-queued", str(args.jobs + 8),
           "--work-dir", str(work / "work")]
    if args.model:
        cmd += ["--model", args.model]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    log = open(work / "server.log", "w")  # noqa: SIM115 - closed at the end
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + args.timeout
    samples: list[float] = []
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.wait(0.1):
            samples.append(_rss_mib(server.pid))

    report: dict[str, Any] = {"jobs": args.jobs, "workers": args.workers, "threads_per_worker": args.threads,
                              "speech_seconds": args.speech_seconds, "size": args.size,
                              "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            t_start = time.monotonic()
            while True:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"server did not start; see {work / 'server.log'}")
                try:
                    health = client.get("/v1/health").json()
                    if health["status"] == "error":
                        raise SystemExit(f"server cannot load its models: {health['load_error']}")
                    if health["ready_workers"] == args.workers:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            report["startup_s"] = round(time.monotonic() - t_start, 2)
            report["rss_after_load_mib"] = round(_rss_mib(server.pid), 1)
            threading.Thread(target=sample, daemon=True).start()

            latencies: list[float] = []
            failures: list[str] = []
            rss_by_completed: list[tuple[int, float]] = []
            lock = threading.Lock()
            barrier = threading.Barrier(args.jobs)

            def one_job() -> None:
                barrier.wait()
                t0 = time.monotonic()
                try:
                    r = client.post("/v1/animate", files={"face": ("face.png", face), "speech": ("speech.wav", speech)},
                                    data={"size": str(args.size)})
                    if r.status_code != 202:
                        raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
                    job = r.json()["job"]
                    while time.monotonic() < deadline:
                        status = client.get(f"/v1/jobs/{job}").json()
                        if status["status"] in ("done", "failed"):
                            break
                        time.sleep(0.2)
                    if status["status"] != "done":
                        raise RuntimeError(f"job {status['status']}: {status.get('error')}")
                    video = client.get(f"/v1/jobs/{job}/video")
                    if video.status_code != 200 or len(video.content) < 1000:
                        raise RuntimeError(f"video HTTP {video.status_code}, {len(video.content)} bytes")
                    with lock:
                        latencies.append(time.monotonic() - t0)
                        rss_by_completed.append((len(latencies), _rss_mib(server.pid)))
                except Exception as err:  # reported, not raised: the other jobs go on
                    with lock:
                        failures.append(f"{type(err).__name__}: {err}")

            threads = [threading.Thread(target=one_job, daemon=True) for _ in range(args.jobs)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
            wall = time.monotonic() - t0
            stop_sampling.set()
            quarters = {q: round(rss, 1) for q, rss in rss_by_completed
                        if q in {max(1, args.jobs // 4), args.jobs // 2, 3 * args.jobs // 4, args.jobs}}
            report.update({
                "completed": len(latencies), "failed": len(failures), "failures": failures[:5],
                "wall_s": round(wall, 2), "jobs_per_minute": round(60 * len(latencies) / wall, 2),
                "latency_p50_s": round(_percentile(latencies, 50), 2),
                "latency_p95_s": round(_percentile(latencies, 95), 2),
                "latency_max_s": round(max(latencies, default=float("nan")), 2),
                "latency_mean_s": round(statistics.fmean(latencies), 2) if latencies else None,
                "rss_peak_mib": round(max(_rss_mib(server.pid, "VmHWM"), max(samples, default=0.0)), 1),
                "rss_after_jobs_completed_mib": quarters,
            })
            health = client.get("/v1/health").json()
            report["server_health_after"] = health["status"]
    finally:
        stop_sampling.set()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report.get("failed") == 0 and report.get("completed") == args.jobs else 1


if __name__ == "__main__":
    sys.exit(main())
