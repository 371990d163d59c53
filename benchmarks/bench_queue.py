"""``talkface serve --queue`` with two ``talkface worker`` processes: drain N jobs, kill a worker mid-job.

    python3 benchmarks/bench_queue.py [--jobs 40] [--speech-seconds 1.5] [--kill-after 10]

Starts a private ``redis-server`` on a free loopback port, ``talkface serve --queue`` (a temporary
shared work folder) and two ``talkface worker`` processes (real models, 1 torch thread each). Submits
``--jobs`` jobs through the HTTP API (a GRID still + the clip's own speech), and once
``--kill-after`` jobs are done, SIGKILLs the worker that is running a job and starts a replacement.
Reports: wall time from the first submission to the last job finished, jobs done / failed / lost
(a job is lost if it never finishes), the killed job's final status and ``result.retries``, and jobs
per worker. Needs redis-server (Debian package) and the extra ``talkface[redis]``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import _free_port, _inputs  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--speech-seconds", type=float, default=1.5)
    parser.add_argument("--kill-after", type=int, default=10, help="kill a busy worker once this many jobs are done")
    parser.add_argument("--lease-s", type=float, default=10.0, help="workers' heartbeat lease")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server not found (apt-get install redis-server)")
    face, speech = _inputs(args.speech_seconds)
    work = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    shared = work / "shared"
    shared.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    rport, port = _free_port(), _free_port()
    url = f"redis://127.0.0.1:{rport}/0"
    procs: list[subprocess.Popen[bytes]] = []

    def start(cmd: list[str], log: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, env=env, stdout=open(work / log, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
        procs.append(proc)
        return proc

    start(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
          "redis.log")
    cli = [sys.executable, "-m", "talkface.cli"]
    start([*cli, "serve", "--port", str(port), "--queue", url, "--work-dir", str(shared), "--max-queued",
           str(args.jobs + 8), "--queue-lease-s", "2"], "server.log")
    worker_cmd = [*cli, "worker", "--queue", url, "--work-dir", str(shared), "--threads", "1", "--lease-s",
                  str(args.lease_s)]
    workers = [start(worker_cmd, f"worker{i}.log") for i in range(2)]
    report: dict[str, Any] = {"jobs": args.jobs, "speech_seconds": args.speech_seconds, "workers": 2,
                              "load_before": os.getloadavg()}
    deadline = time.monotonic() + args.timeout
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            while True:
                try:
                    if client.get("/v1/health").json()["ready_workers"] == 2:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"workers did not get ready; see {work}")
                time.sleep(0.5)
            t0 = time.monotonic()
            ids = []
            for _ in range(args.jobs):
                r = client.post("/v1/animate", files={"face": ("f.png", face, "image/png"),
                                                      "speech": ("s.wav", speech, "audio/wav")})
                r.raise_for_status()
                ids.append(r.json()["job"])
            report["submit_s"] = round(time.monotonic() - t0, 2)
            killed_job = None
            final: dict[str, dict[str, Any]] = {}
            while len(final) < len(ids) and time.monotonic() < deadline:
                for job in ids:
                    if job in final:
                        continue
                    body = client.get(f"/v1/jobs/{job}").json()
                    if body["status"] in ("done", "failed"):
                        final[job] = body
                if killed_job is None and len(final) >= args.kill_after:
                    running = [client.get(f"/v1/jobs/{j}").json() for j in ids if j not in final]
                    running = [b for b in running if b["status"] == "running"]
                    if running:
                        killed_job = running[0]["id"]
                        victim = workers[0]
                        victim.send_signal(signal.SIGKILL)
                        victim.wait()
                        report["killed_at_done"] = len(final)
                        report["killed_job_stage"] = running[0]["stage"]
                        workers.append(start(worker_cmd, "worker2.log"))
                time.sleep(0.5)
            report["wall_s"] = round(time.monotonic() - t0, 1)
            statuses = Counter(b["status"] for b in final.values())
            report["done"], report["failed"] = statuses.get("done", 0), statuses.get("failed", 0)
            report["lost"] = len(ids) - len(final)
            if killed_job is not None and killed_job in final:
                kb = final[killed_job]
                report["killed_job"] = {"status": kb["status"], "retries": kb["result"].get("retries"),
                                        "error": kb["error"]}
            report["jobs_per_worker"] = dict(Counter(b["result"].get("worker") for b in final.values()
                                                     if b["status"] == "done"))
            report["errors"] = sorted({b["error"] for b in final.values() if b["error"]})
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        report["load_after"] = os.getloadavg()
        print(json.dumps(report, indent=1))
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
