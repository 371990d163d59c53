"""``talkface batch`` against one ``talkface animate`` process per clip, and Ray against ``--workers``.

    python3 benchmarks/bench_batch.py [--jobs 20] [--modes animate,batch1,batch2,ray2] [--out DIR]

Makes a manifest of ``--jobs`` rows (examples/face.png + examples/speech.wav, 3 s of speech, a
different blink seed per row) and renders it with each mode, into a fresh folder each time:

* ``animate``: ``--jobs`` separate ``talkface animate`` processes, one after the other (each loads
  every model: what a shell loop over the clips does today);
* ``batch1`` / ``batch2``: ``talkface batch --workers 1`` (in-process) / ``--workers 2`` (two
  worker processes, 1 torch thread each);
* ``ray2``: ``talkface batch --ray local --workers 2`` (two Ray actors on this machine).

For each mode: the wall time, the ratio to ``animate``, and the resident memory of every worker
process (the batch process itself for ``batch1``) sampled every 0.5 s: its value when a quarter,
half, three quarters and all of the clips were done, and its peak, to show that memory does not
grow with the number of clips. Prints the load average before and after (the machine is shared:
compare ratios within one run). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FACE = REPO / "examples" / "face.png"
SPEECH = REPO / "examples" / "speech.wav"


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _workers(mode: str, root: int) -> list[int]:
    """The processes that hold models in ``mode`` (``root`` = the batch command's pid)."""
    if mode == "batch1":
        return [root]
    marker = b"RayRenderer" if mode.startswith("ray") else b"spawn_main"
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and marker in _cmdline(int(p.name))]


def _count(out: Path) -> int:
    return sum(1 for p in out.glob("j*.mp4"))


def run_mode(mode: str, jobs: int, manifest: Path, out: Path, env: dict[str, str]) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    if mode == "animate":
        for i in range(jobs):
            subprocess.run([sys.executable, "-m", "talkface.cli", "animate", str(FACE), str(SPEECH), "-o",
                            str(out / f"j{i:03d}.mp4"), "--seed", str(i), "-q"], check=True, env=env,
                           stdout=subprocess.DEVNULL)
        return {"mode": mode, "seconds": round(time.perf_counter() - t0, 1), "clips": _count(out)}
    cmd = [sys.executable, "-m", "talkface.cli", "batch", str(manifest), "-o", str(out), "-q"]
    cmd += {"batch1": ["--workers", "1"], "batch2": ["--workers", "2"],
            "ray2": ["--ray", "local", "--workers", "2"]}[mode]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    series: dict[int, list[tuple[int, float]]] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            done = _count(out)
            for pid in _workers(mode, proc.pid):
                rss = _rss_mib(pid)
                if rss:
                    series.setdefault(pid, []).append((done, rss))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    rc = proc.wait()
    stop.set()
    thread.join()
    seconds = time.perf_counter() - t0
    workers = []
    for pid, points in series.items():
        at = {}
        for q in (0.25, 0.5, 0.75, 1.0):
            want = max(1, round(q * jobs))
            later = [rss for done, rss in points if done >= want]
            at[f"{int(q * 100)}%"] = round(later[0], 1) if later else None
        workers.append({"pid": pid, "rss_mib_when_done": at, "rss_peak_mib": round(max(r for _, r in points), 1)})
    return {"mode": mode, "seconds": round(seconds, 1), "clips": _count(out), "exit": rc, "workers": workers}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--modes", default="animate,batch1,batch2,ray2")
    parser.add_argument("--out", default="/tmp/talkface-bench-batch")
    args = parser.parse_args()
    base = Path(args.out)
    base.mkdir(parents=True, exist_ok=True)
    manifest = base / "jobs.csv"
    manifest.write_text("photo,speech,output,seed\n" + "".join(f"{FACE},{SPEECH},j{i:03d},{i}\n"
                                                               for i in range(args.jobs)))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    report: dict[str, Any] = {"jobs": args.jobs, "speech_s": 3.0, "cpus": os.cpu_count(),
                              "load_before": os.getloadavg(), "modes": []}
    for mode in args.modes.split(","):
        result = run_mode(mode, args.jobs, manifest, base / mode, env)
        report["modes"].append(result)
        print(json.dumps(result), flush=True)
    report["load_after"] = os.getloadavg()
    times = {m["mode"]: m["seconds"] for m in report["modes"]}
    if "animate" in times:
        report["ratio_to_animate"] = {m: round(s / times["animate"], 3) for m, s in times.items()}
    if "ray2" in times and "batch2" in times:
        report["ray2_over_batch2"] = round(times["ray2"] / times["batch2"], 3)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
