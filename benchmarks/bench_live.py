"""Benchmark of live mode (talkface.live): real-time session, latency, memory, drift; streaming vs offline quality.

Three parts (each can be skipped):

* ``--live-seconds S`` (default 60; the issue's target is 600): a live session on the bundled model,
  fed in real time (40-ms chunks, as a microphone would) with speech bursts separated by silences.
  Reports frames/s, frames dropped to stay live, latency (sample captured -> frame ready, by
  bookkeeping of the chunks' capture times), the *stamped* latency (each burst's sound onset,
  found again as the first frame whose mouth opens), A/V drift (how the latency changes from the
  first to the last 10 s), resident memory over time and CPU seconds per frame.
* ``--quality DATASET`` (e.g. /work/prepared/grid7): ``talkface evaluate``-style comparison of the
  offline pipeline and the streaming one (audio fed in 40-ms chunks) on the dataset's clips
  (LMD, LSE-C, ...; LPIPS and identity off for speed).
* ``--startup``: offline ``talkface animate`` process start -> first frame, seconds (a fresh process).
* ``--live-stages S``: CPU ms per frame of each step of the live loop on S s of audio, and a cProfile.
* ``--offline-ratio``: offline ``animate`` end-to-end frames/s over its per-frame stage's own
  throughput (the native renderer; the texture network of ``--renderer crop``), in one run.

Example (the numbers in BENCHMARKS.md)::

    python3 benchmarks/bench_live.py --live-seconds 120 --quality /work/prepared/grid7 --startup --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SR = 16000


def rss_mb() -> float:
    """Resident memory of this process, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def burst_audio(seconds: float, gap_s: float = 1.0) -> tuple[np.ndarray, list[int]]:
    """Speech bursts (examples/speech.wav) separated by ``gap_s`` of silence; returns audio and onset samples."""
    from talkface.io.media import read_audio

    speech = read_audio(EXAMPLES / "speech.wav")
    frame = 160
    rms = np.sqrt(np.convolve(speech ** 2, np.ones(frame) / frame, mode="same"))
    onset = int(np.flatnonzero(rms > 0.1 * rms.max())[0])
    unit = np.concatenate([np.zeros(int(gap_s * SR), np.float32), speech])
    reps = int(np.ceil(seconds * SR / len(unit)))
    audio = np.tile(unit, reps)[: int(seconds * SR)]
    onsets = [k * len(unit) + int(gap_s * SR) + onset for k in range(reps)]
    return audio, [o for o in onsets if o < len(audio) - SR]


def live_session(seconds: float, threads: int | None, chunk_ms: float, max_render: int | None) -> dict[str, Any]:
    """One real-time session (see the module doc)."""
    import threading

    import torch

    from talkface.eval.motion_metrics import mouth_opening
    from talkface.live.run import LiveRunner, file_source
    from talkface.live.stream import FaceStream, frame_renderer
    from talkface.pipeline import AnimateConfig, Animator

    if threads:
        torch.set_num_threads(threads)
    animator = Animator(AnimateConfig(threads=threads))
    audio, onsets = burst_audio(seconds)
    openings: deque[float] = deque()

    def renderer(anim: Any, image: np.ndarray, landmarks: np.ndarray, size: int) -> Any:
        render = frame_renderer(anim, image, landmarks, size)

        def wrapped(lm: np.ndarray) -> list[np.ndarray]:
            openings.extend(float(x) for x in mouth_opening(lm))  # what the frames show
            return render(lm)

        return wrapped

    face = FaceStream(animator, EXAMPLES / "face.png", renderer=renderer)
    rendered: list[tuple[float, float, float]] = []  # (ts, ready wall time, mouth opening) of rendered frames
    memory: list[tuple[float, float]] = []
    start = time.perf_counter()
    cpu0 = time.process_time()
    next_mem = 0.0

    def on_frame(index: int, ts: float, frame: Any, latency: float) -> None:
        nonlocal next_mem
        now = time.perf_counter()
        if frame is not None:
            rendered.append((ts, now, openings.popleft()))
        if now - start >= next_mem:
            memory.append((now - start, rss_mb()))
            next_mem += 5.0

    runner = LiveRunner(face, on_frame, max_render=max_render)
    worker = threading.Thread(target=runner.run)
    worker.start()
    captured: list[tuple[int, float]] = []  # (end sample, capture time) per chunk
    fed = 0
    for chunk, wall in file_source(audio, chunk_ms / 1000.0, realtime=True):
        runner.feed(chunk, wall)
        fed += len(chunk)
        captured.append((fed, wall))
    runner.end()
    worker.join()
    cpu = time.process_time() - cpu0
    stats = runner.stats.summary()
    ends = np.array([c[0] for c in captured])
    walls = np.array([c[1] for c in captured])

    def capture_time(sample: int) -> float:
        i = int(np.searchsorted(ends, sample, side="right"))
        i = min(i, len(ends) - 1)
        return float(walls[i] - (ends[i] - sample) / SR)

    arr = np.array(rendered)
    ts, ready, opening = arr[:, 0], arr[:, 1], arr[:, 2]
    latency = ready - np.array([capture_time(int(round(t * SR))) for t in ts])
    rest = float(np.median(opening[opening < np.percentile(opening, 30)]))
    stamped = []
    for onset in onsets:
        t0 = onset / SR
        window = (ts >= t0 - 0.2) & (ts <= t0 + 1.0)
        if not window.any():
            continue
        peak = opening[window].max()
        hit = np.flatnonzero(window & (opening > rest + 0.5 * (peak - rest)))
        if len(hit):
            stamped.append(ready[hit[0]] - capture_time(onset))
    first, last = ts < 10.0, ts > ts[-1] - 10.0
    drift = float(np.median(latency[last]) - np.median(latency[first]))
    return {
        "seconds": seconds, "chunk_ms": chunk_ms, "max_render": max_render, "threads": threads,
        "frames": stats["frames"], "dropped": stats["dropped"], "expected_frames": round(len(audio) / SR * 25),
        "fps_made": stats["frames"] / stats["wall_s"], "fps_rendered": (stats["frames"] - stats["dropped"]) / stats[
            "wall_s"], "backlog_max": stats["backlog_max"],
        "latency_ms": {"median": float(np.median(latency) * 1e3), "p95": float(np.percentile(latency, 95) * 1e3),
                       "max": float(latency.max() * 1e3)},
        "stamped_onset_latency_ms": {"n": len(stamped), "median": float(np.median(stamped) * 1e3) if stamped else None,
                                     "max": float(np.max(stamped) * 1e3) if stamped else None},
        "drift_ms_last_vs_first_10s": drift * 1e3,
        "rss_mb": {"first": memory[0][1], "last": memory[-1][1], "max": max(m[1] for m in memory),
                   "samples": len(memory), "every_60s": [round(m[1], 1) for m in memory[::12]]},
        "latency_median_ms_per_minute": [round(float(np.median(latency[(ts >= m) & (ts < m + 60)]) * 1e3), 1)
                                         for m in range(0, int(ts[-1]) + 1, 60) if ((ts >= m) & (ts < m + 60)).any()],
        "cpu_s_per_rendered_frame": cpu / max(1, stats["frames"] - stats["dropped"]),
        "load_average": os.getloadavg(),
    }


def quality(dataset: str, threads: int | None, chunk_ms: float, out_dir: str | None,
            head_motion: float = 1.0) -> dict[str, Any]:
    """Offline vs streaming on a prepared dataset's clips (talkface.eval.report).

    Offline twice: with its default renderer (native), which the stream uses too, and with the crop
    renderer (the stream's renderer before it followed the animator's); ``head_motion`` for both paths.
    """
    import torch

    from talkface.eval.report import EvalConfig, evaluate_videos
    from talkface.live.stream import FaceStream
    from talkface.pipeline import AnimateConfig, Animator

    if threads:
        torch.set_num_threads(threads)
    animator = Animator(AnimateConfig(threads=threads, head_motion=head_motion, renderer="crop"))
    native = Animator(AnimateConfig(threads=threads, head_motion=head_motion))
    step = int(chunk_ms / 1000.0 * SR)

    def streaming(still: np.ndarray, audio: np.ndarray) -> np.ndarray:
        face = FaceStream(native, np.ascontiguousarray(still), size=0)  # the default (native) renderer
        frames = []
        for i in range(0, len(audio), step):
            frames += [f for _, f in face.push(np.asarray(audio[i:i + step], np.float32))]
        frames += [f for _, f in face.finish()]
        return np.stack(frames)

    table = evaluate_videos(dataset=dataset, split="all", models={"offline (native renderer)": native.talking_head,
                                                                  "offline (crop renderer)": animator.talking_head,
                                                                  "streaming": streaming},
                            out_dir=out_dir, config=EvalConfig(lpips=False, identity=False), progress=False)
    print(table.to_markdown(per_clip=False))
    return {m: {k: v[0] for k, v in row.items()} for m, row in table.summary().items()}


def texture_only(threads: int | None, batch: int = 5, frames: int = 200) -> dict[str, float]:
    """The texture stage alone (generator + paste-back, the live renderer) on the same photo: CPU s per frame."""
    import torch

    from talkface.io.images import read_image
    from talkface.live.stream import frame_renderer
    from talkface.pipeline import AnimateConfig, Animator

    if threads:
        torch.set_num_threads(threads)
    animator = Animator(AnimateConfig(threads=threads))
    image = read_image(EXAMPLES / "face.png")
    landmarks = animator._face(image, "face")
    render = frame_renderer(animator, image, landmarks, 0)
    track = np.repeat(landmarks[None], batch, 0).astype(np.float32)
    render(track)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(frames // batch):
        render(track)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"batch": batch, "fps_wall": frames / wall, "cpu_s_per_frame": cpu / frames}


def startup(threads: int | None, src: Path | None = None) -> dict[str, float]:
    """Fresh process running ``talkface animate face.png speech.wav -o out.mp4`` (the CLI, default
    settings): process start -> first frame made -> video written, seconds.

    The first frame is timed where ``animate`` hands its frame iterator to the video writer (the
    writer is wrapped to stamp the first frame it pulls). ``process_cpu_s`` is the CPU time of the
    whole process (it exits when the video is written): the load-independent cost of starting up.
    ``src``: the package source to run (default this checkout's ``src``; e.g. another branch's, for an A/B).
    """
    threads_arg = f", '--threads', '{threads}'" if threads else ""
    code = f"""
import time, sys
t0 = float(sys.argv[1])
import os, tempfile
import talkface.io.media as media
stamp = []
def first(frames):
    for i, frame in enumerate(frames):
        if i == 0:
            stamp.append(time.time())
        yield frame
write = media.write_video
media.write_video = lambda path, frames, *args, **kw: write(path, first(frames), *args, **kw)
from talkface.cli import main
out = os.path.join(tempfile.mkdtemp(), "out.mp4")
main(["animate", {str(EXAMPLES / 'face.png')!r}, {str(EXAMPLES / 'speech.wav')!r}, "-o", out, "-q"{threads_arg}])
print(stamp[0] - t0, time.time() - t0)
"""
    import resource

    env = dict(os.environ, PYTHONPATH=str(src or ROOT / "src"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-c", code, repr(time.time())], capture_output=True, text=True,
                         env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    first, done = (float(x) for x in out.stdout.split()[-2:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"first_frame_s": first, "video_written_s": done, "process_cpu_s": cpu,
            "load_average_1min": os.getloadavg()[0]}


def offline_ratio(threads: int | None, seconds: float = 10.0, rounds: int = 2) -> dict[str, Any]:
    """Offline ``animate`` end to end vs the per-frame stage alone, in one run (issue 16's 60 % criterion).

    The criterion compares end-to-end frames/s with "the shipped texture network's own throughput".
    The default renderer (native) runs no network per frame (the motion networks run once per
    utterance), so both comparisons are made, each as wall frames/s and frames per CPU-second:

    * ``native``: ``animate`` with the default settings vs the native renderer alone on the same track;
    * ``crop``: ``animate --renderer crop`` vs its texture network alone (the shipped generator with
      its ONNX map network, batches of ``chunk_frames``, pasting excluded) on the same track;
    * and the default path against the texture network (the criterion's literal reading).

    Models are loaded and warmed up first; the measurements are interleaved over ``rounds`` rounds
    (medians), the example photo with its speech looped to ``seconds``.
    """
    import tempfile

    import soundfile as sf
    import torch

    from talkface.face.align import crop_transform, transform_points, warp_crop
    from talkface.io.images import read_image
    from talkface.pipeline import AnimateConfig, Animator
    from talkface.render.compose import NativeRenderer, RenderConfig

    if threads:
        torch.set_num_threads(threads)
    folder = Path(tempfile.mkdtemp(prefix="bench-live-"))
    audio, rate = sf.read(EXAMPLES / "speech.wav", dtype="float32")
    speech = folder / "speech.wav"
    sf.write(speech, np.resize(audio, int(seconds * rate)), rate, subtype="PCM_16")
    face = EXAMPLES / "face.png"
    native = Animator(AnimateConfig(threads=threads))
    crop = Animator(AnimateConfig(threads=threads, renderer="crop"))
    for anim in (native, crop):  # warm-up (first calls load the speech encoder and dlib)
        anim.animate(face, EXAMPLES / "speech.wav", folder / "warm.mp4")
    image = read_image(face)
    person = native._face(image, face)

    def timed(fn: Any, *args: Any) -> tuple[float, float, Any]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn(*args)
        return time.perf_counter() - wall, time.process_time() - cpu, out

    def render_native(track: np.ndarray) -> None:
        renderer = NativeRenderer(image, person, track, RenderConfig(mouth="painted"))
        for target in track:
            renderer(target)

    s, chunk = crop.image_size, max(1, crop.config.chunk_frames)
    affine = crop_transform(person, s)
    generator = crop._person(warp_crop(image, affine, s), transform_points(person, affine))

    def texture_net(track: np.ndarray) -> None:
        crop_track = transform_points(track, affine)
        for i in range(0, len(crop_track), chunk):
            generator.generate(crop_track[i:i + chunk], batch_size=chunk)

    rows: dict[str, list[tuple[float, float]]] = {k: [] for k in ("e2e_native", "native_render", "e2e_crop",
                                                                   "texture_net")}
    for _ in range(rounds):
        wall, cpu, result = timed(native.animate, face, speech, folder / "native.mp4")
        rows["e2e_native"].append((result.frames / wall, result.frames / cpu))
        track = np.asarray(native.last_requested_landmarks)
        wall, cpu, _ = timed(render_native, track)
        rows["native_render"].append((len(track) / wall, len(track) / cpu))
        wall, cpu, result = timed(crop.animate, face, speech, folder / "crop.mp4")
        rows["e2e_crop"].append((result.frames / wall, result.frames / cpu))
        wall, cpu, _ = timed(texture_net, track)
        rows["texture_net"].append((len(track) / wall, len(track) / cpu))
    med = {k: (float(np.median([r[0] for r in v])), float(np.median([r[1] for r in v]))) for k, v in rows.items()}
    out: dict[str, Any] = {k: {"fps_wall": round(v[0], 1), "frames_per_cpu_s": round(v[1], 1)} for k, v in med.items()}
    for name, (num, den) in {"native_e2e_over_native_render": ("e2e_native", "native_render"),
                             "crop_e2e_over_texture_net": ("e2e_crop", "texture_net"),
                             "native_e2e_over_texture_net": ("e2e_native", "texture_net")}.items():
        out[name] = {"wall": round(med[num][0] / med[den][0], 3), "cpu": round(med[num][1] / med[den][1], 3)}
    out.update(seconds=seconds, rounds=rounds, threads=threads, load_average=os.getloadavg())
    return out


def live_stages(seconds: float, threads: int | None, chunk_ms: float, mouth_request: str = "centred") -> dict[str, Any]:
    """CPU time per frame of each step of the live loop (``FaceStream.push`` on 40-ms chunks, not in
    real time), by timers around the steps (thread CPU time), and the top functions of a cProfile run
    (``mouth_request``: ``AnimateConfig.mouth_request``).
    """
    import collections
    import cProfile
    import io
    import pstats

    import torch

    import talkface.live.stream as live_stream
    from talkface.pipeline import AnimateConfig, Animator

    if threads:
        torch.set_num_threads(threads)
    face = live_stream.FaceStream(Animator(AnimateConfig(threads=threads, mouth_request=mouth_request)),
                                  EXAMPLES / "face.png")
    spent: collections.Counter[str] = collections.Counter()

    wrapped: list[tuple[Any, str, Any]] = []

    def timed(obj: Any, name: str, label: str) -> None:
        fn = getattr(obj, name)
        wrapped.append((obj, name, obj.__dict__.get(name)))

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.thread_time() - t

        setattr(obj, name, wrapper)

    timed(face.motion, "push", "speech -> motion (causal log-mel + StreamMotionNet)")
    if face.blinks is not None:
        timed(face.blinks, "step", "blinks (GRU step)")
    timed(face.head, "step", "head/brow prior step")
    timed(face, "apply_head", "head motion applied to the landmarks")
    if face.mouth_gain is not None:
        timed(face.mouth_gain, "step", "running mouth gain")
    if face.presence is not None:
        timed(face.presence, "step", "speech presence (centred request)")
    timed(face, "render", "native renderer")
    audio, _ = burst_audio(seconds)
    step = int(chunk_ms / 1000 * SR)
    chunks = [audio[i:i + step] for i in range(0, len(audio), step)]
    face.push(chunks[0])
    spent.clear()
    t, frames = time.thread_time(), 0
    for chunk in chunks[1: len(chunks) // 2]:
        frames += len(face.push(chunk))
    total = time.thread_time() - t
    table = {k: round(v / frames * 1e3, 3) for k, v in spent.most_common()}
    table["rest (retargeting, bookkeeping)"] = round((total - sum(spent.values())) / frames * 1e3, 3)
    for obj, name, own in wrapped:  # the profile runs without the timers
        if own is None:
            delattr(obj, name)
        else:
            setattr(obj, name, own)
    profile = cProfile.Profile()
    profile.enable()
    for chunk in chunks[len(chunks) // 2:]:
        face.push(chunk)
    profile.disable()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(15)
    return {"frames": frames, "cpu_ms_per_frame": round(total / frames * 1e3, 3), "steps_cpu_ms_per_frame": table,
            "profile_top_tottime": text.getvalue(), "load_average": os.getloadavg()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--live-seconds", type=float, default=60.0, help="length of the live session (0: skip)")
    p.add_argument("--chunk-ms", type=float, default=40.0)
    p.add_argument("--max-render", type=int, default=5, help="live policy: render at most this many frames per pass")
    p.add_argument("--quality", default=None, help="prepared dataset for offline vs streaming quality")
    p.add_argument("--head-motion", type=float, default=1.0, help="--quality: head motion of both paths")
    p.add_argument("--eval-out", default=None, help="folder for the quality report")
    p.add_argument("--startup", action="store_true", help="measure offline start-up (process start -> first frame)")
    p.add_argument("--startup-against", default=None, metavar="SRC",
                   help="--startup as an A/B: another checkout's src folder and this one, interleaved (--pairs)")
    p.add_argument("--pairs", type=int, default=3, help="--startup-against: interleaved pairs")
    p.add_argument("--texture", action="store_true", help="measure the texture stage alone (CPU s per frame)")
    p.add_argument("--live-stages", type=float, default=0.0,
                   help="seconds of audio for the per-step CPU cost of the live loop (+ cProfile); 0: skip")
    p.add_argument("--mouth-request", default="centred", help="--live-stages: AnimateConfig.mouth_request")
    p.add_argument("--offline-ratio", action="store_true",
                   help="offline animate end to end vs its per-frame stage alone (native renderer, texture network)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="write the results here too")
    a = p.parse_args()
    results: dict[str, Any] = {"load_average_start": os.getloadavg()}
    if a.startup:
        results["startup"] = startup(a.threads)
        print("startup", json.dumps(results["startup"]), flush=True)
    if a.startup_against:
        rows = []
        for _ in range(a.pairs):
            for name, src in (("other", Path(a.startup_against)), ("this", ROOT / "src")):
                rows.append({"src": name, **startup(a.threads, src)})
                print("startup_ab", json.dumps(rows[-1]), flush=True)
        ratio = [b["first_frame_s"] / o["first_frame_s"] for o, b in zip(rows[::2], rows[1::2], strict=True)]
        results["startup_ab"] = {"runs": rows, "first_frame_ratio_this_over_other": ratio}
        print("startup_ab ratios (this / other, first frame):", [round(r, 3) for r in ratio], flush=True)
    if a.live_stages > 0:
        results["live_stages"] = live_stages(a.live_stages, a.threads, a.chunk_ms, a.mouth_request)
        print("live_stages", json.dumps({k: v for k, v in results["live_stages"].items() if k != "profile_top_tottime"},
                                        indent=1), flush=True)
        print(results["live_stages"]["profile_top_tottime"], flush=True)
    if a.offline_ratio:
        results["offline_ratio"] = offline_ratio(a.threads)
        print("offline_ratio", json.dumps(results["offline_ratio"], indent=1), flush=True)
    if a.texture:
        results["texture"] = texture_only(a.threads)
        print("texture", json.dumps(results["texture"]), flush=True)
    if a.live_seconds > 0:
        results["live"] = live_session(a.live_seconds, a.threads, a.chunk_ms, a.max_render)
        print("live", json.dumps(results["live"], indent=1), flush=True)
    if a.quality:
        results["quality"] = quality(a.quality, a.threads, a.chunk_ms, a.eval_out, a.head_motion)
        print("quality", json.dumps(results["quality"], indent=1), flush=True)
    results["load_average_end"] = os.getloadavg()
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
