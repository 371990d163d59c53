"""Streaming check of the end-to-end temporal GAN: memory, frame count and A/V sync for long speech.

    python3 benchmarks/bench_e2e_stream.py --seconds 10 60 [--checkpoint CKPT] [--threads 1]

For each duration, in a fresh process (so its peak RSS is its own): real GRID speech
(``tests/fixtures/bbaf2n.mpg``, repeated) cut to that length is written as a WAV, and
:func:`talkface.e2e.animate_e2e` (what ``talkface animate-e2e`` runs) animates the clip's first
frame with it into an mp4. Reported: peak RSS (``ru_maxrss``) and RSS sampled every 0.5 s while
generating, the frame count against ``round(duration * fps)``, and A/V sync: the decoded output
audio's duration and both streams' start times against ``frames / fps``. ``--checkpoint bundled``
measures the shipped generator (``talkface/assets/e2e``). Without ``--checkpoint``
the model is the paper-sized generator (128², 64 base channels) with random weights: memory and
speed do not depend on the weights. One JSON line per duration on stdout (and ``--out``).

Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import wave
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "bbaf2n.mpg"


def rss_mb() -> float:
    """Current resident set size of this process, MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def random_checkpoint(path: Path) -> Path:
    """A checkpoint of the paper-sized temporal GAN with random weights, loadable by load_module."""
    import torch

    from talkface.e2e import E2EConfig, TemporalGAN
    from talkface.train.core import MODULE_CLASS_KEY

    torch.manual_seed(0)
    module = TemporalGAN(E2EConfig())
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": {"config": asdict(module.config)},
                MODULE_CLASS_KEY: "talkface.e2e.temporal_gan:TemporalGAN"}, path)
    return path


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write mono float audio in [-1, 1] as 16-bit PCM WAV."""
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())


def stream_starts(path: Path) -> dict[str, float]:
    """Start time of the video and audio streams of a media file, seconds."""
    import av

    with av.open(str(path)) as c:
        out = {}
        for kind, streams in (("video", c.streams.video), ("audio", c.streams.audio)):
            s = streams[0]
            out[kind] = float(s.start_time * s.time_base) if s.start_time is not None and s.time_base else 0.0
    return out


def child(seconds: float, checkpoint: str, threads: int, workdir: Path) -> dict[str, Any]:
    """One measurement (run in its own process)."""
    import torch

    from talkface.e2e import animate_e2e
    from talkface.e2e.bundle import load_e2e_generator
    from talkface.io.images import write_image
    from talkface.io.media import probe, read_audio, read_video

    torch.set_num_threads(threads)
    ckpt = None if checkpoint == "bundled" else checkpoint  # None: the shipped generator
    cfg = load_e2e_generator(ckpt).config
    speech = read_audio(FIXTURE, sample_rate=cfg.sample_rate)
    n = int(round(seconds * cfg.sample_rate))
    audio = np.resize(speech, n).astype(np.float32)  # the clip repeated, cut to length
    wav, photo, out = workdir / f"speech_{seconds:g}s.wav", workdir / "photo.png", workdir / f"out_{seconds:g}s.mp4"
    write_wav(wav, audio, cfg.sample_rate)
    write_image(photo, read_video(FIXTURE, max_frames=1)[0][0])
    rss_before = rss_mb()
    trace: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        t0 = time.perf_counter()
        while not stop.wait(0.5):
            trace.append((round(time.perf_counter() - t0, 1), round(rss_mb(), 1)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    frames = animate_e2e(photo, wav, out, ckpt, chunk_frames=25)
    elapsed = time.perf_counter() - t0
    stop.set()
    sampler.join()
    info = probe(out)
    decoded_audio = read_audio(out, sample_rate=cfg.sample_rate).shape[0] / cfg.sample_rate
    starts = stream_starts(out)
    video_s = frames / cfg.fps
    later = [r for _, r in trace[len(trace) // 4 :]] or [float("nan")]
    return {
        "seconds": seconds,
        "model": f"{cfg.image_size}px base {cfg.base_channels}",
        "threads": threads,
        "frames": frames,
        "expected_frames": round(seconds * cfg.fps),
        "frames_in_file": info.num_frames,
        "video_s": round(video_s, 4),
        "audio_in_s": round(n / cfg.sample_rate, 4),
        "audio_out_s": round(decoded_audio, 4),
        "av_offset_ms": round(1000 * (starts["audio"] - starts["video"]), 2),
        "audio_minus_video_ms": round(1000 * (decoded_audio - video_s), 2),
        "rss_before_mb": round(rss_before, 1),
        "rss_last_3_quarters_min_mb": round(min(later), 1),
        "rss_last_3_quarters_max_mb": round(max(later), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "time_s": round(elapsed, 1),
        "ms_per_frame": round(1000 * elapsed / frames, 1),
        "rss_trace": trace[:: max(1, len(trace) // 12)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0], help="speech durations")
    parser.add_argument("--checkpoint", default=None, help="temporal-GAN checkpoint or generator file, "
                        "'bundled' for the shipped generator (default: random paper-size)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=None, help="also append the JSON lines to this file")
    parser.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.checkpoint, args.threads, args.workdir)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or str(random_checkpoint(Path(tmp) / "random.ckpt"))
        for seconds in args.seconds:
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
            result = subprocess.run(
                [sys.executable, __file__, "--child", str(seconds), "--checkpoint", checkpoint, "--threads",
                 str(args.threads), "--workdir", tmp], check=True, capture_output=True, text=True, env=env)
            line = result.stdout.strip().splitlines()[-1]
            print(line, flush=True)
            if args.out is not None:
                with open(args.out, "a") as fh:
                    fh.write(line + "\n")


if __name__ == "__main__":
    main()
