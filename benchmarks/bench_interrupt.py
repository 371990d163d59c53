"""How long ``talkface animate`` takes to end after Ctrl-C (SIGINT) or SIGTERM, per stage.

Starts ``talkface animate`` on a long speech file (``examples/speech.wav`` repeated to
``--seconds``), waits until its progress shows a stage (``audio``, ``face``, ``motion``,
``texture``), then ``--after`` seconds, sends the signal and times the exit; prints the exit
status, the last line on stderr and whether anything is left in the output folder::

    nice -n 10 python3 benchmarks/bench_interrupt.py --stage audio face motion texture --repeat 2
    nice -n 10 python3 benchmarks/bench_interrupt.py --one-core   # taskset -c 0: speech features compete

``PYTHONPATH`` picks the talkface under test (the child inherits it).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def one_run(speech: Path, folder: Path, stage: str, after: float, sig: signal.Signals, one_core: bool) -> str:
    """One interrupted run.

    Args:
        speech: the speech file.
        folder: an empty folder for the output.
        stage: progress word to wait for before the signal.
        after: seconds after the stage appears.
        sig: the signal to send.
        one_core: run the child on CPU 0 only.

    Returns:
        A result line.
    """
    cmd = [sys.executable, "-c", "import sys; from talkface.cli import main; sys.exit(main())", "animate",
           str(ROOT / "examples" / "face.png"), str(speech), "-o", str(folder / "out.mp4")]
    if one_core:
        cmd = ["taskset", "-c", "0", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))
    assert proc.stderr is not None
    seen = threading.Event()
    err: list[bytes] = []

    def read() -> None:
        assert proc.stderr is not None
        while chunk := os.read(proc.stderr.fileno(), 4096):
            err.append(chunk)
            if stage.encode() in b"".join(err[-2:]):
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen.wait(300)
    time.sleep(after)
    t0 = time.monotonic()
    if proc.poll() is not None:
        return f"{stage}+{after:g}s: finished before the signal"
    proc.send_signal(sig)
    proc.wait()
    took = time.monotonic() - t0
    reader.join(5)
    last = b"".join(err).decode(errors="replace").replace("\r", "\n").strip().splitlines()[-1]
    left = sorted(p.name for p in folder.iterdir())
    return f"{stage}+{after:g}s: exit after {took:.2f} s, status {proc.returncode}, {last!r}, left {left}"


def main() -> None:
    """Print one line per run, with the load average."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", nargs="+", default=["audio", "face", "motion", "texture"])
    ap.add_argument("--after", type=float, default=1.0, help="seconds after the stage appears")
    ap.add_argument("--seconds", type=float, default=40.0, help="speech length")
    ap.add_argument("--signal", default="SIGINT", choices=["SIGINT", "SIGTERM"])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--one-core", action="store_true", help="taskset -c 0 (speech features compete with the rest)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        audio, rate = sf.read(ROOT / "examples" / "speech.wav", dtype="float32")
        speech = Path(tmp) / "long.wav"
        sf.write(speech, np.tile(audio, int(np.ceil(args.seconds * rate / len(audio)))), rate)
        for i in range(args.repeat):
            for stage in args.stage:
                folder = Path(tmp) / f"out{i}{stage}"
                folder.mkdir()
                load = os.getloadavg()[0]
                line = one_run(speech, folder, stage, args.after, signal.Signals[args.signal], args.one_core)
                print(f"load {load:.1f}  {line}", flush=True)


if __name__ == "__main__":
    main()
