"""Speed and memory of `talkface animate` (issue 7): end to end, per stage, CPU and GPU, vs. audio length.

Usage::

    python3 benchmarks/bench_animate.py                       # everything this machine can do
    python3 benchmarks/bench_animate.py --lengths 10 60 600   # peak memory vs. speech length
    python3 benchmarks/bench_animate.py --json out.json
    python3 benchmarks/bench_animate.py --seconds 6 --skip end_to_end generator memory --renderers native \
        --resample cubic cubic2x lanczos --rounds 2              # the native renderer's kernels, alternately

What it measures (the bundled default model unless --model):

* ``end_to_end``: :meth:`talkface.pipeline.Animator.animate` on the bundled example face with the
  example speech looped to 10 s, whole photo and 128² crop output: frames/s of the whole call
  (models already loaded) and seconds per stage;
* ``resolution``: end to end on the example face scaled to 1280×720 and 1920×1080 photos (no
  downscaling, ``max_side=0``), native renderer vs. the crop generator (issue 14);
* ``generator``: texture-generator forward passes alone, frames/s at batch 1 and batched, at 128² (the
  model) and 256² (same architecture, random weights: the cost of a 256² model), on CPU and on the GPU
  if there is one;
* ``memory``: peak RSS (MiB) of a fresh ``talkface animate`` process per speech length (streamed
  generation: it should not grow with the length).

Run it on an otherwise idle machine; the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
FACE = ROOT / "examples" / "face.png"
SPEECH = ROOT / "examples" / "speech.wav"


def looped_speech(seconds: float, folder: Path) -> Path:
    """The example speech repeated to ``seconds`` (16-bit wav)."""
    audio, rate = sf.read(SPEECH, dtype="float32")
    reps = int(np.ceil(seconds * rate / len(audio)))
    out = folder / f"speech_{seconds:g}s.wav"
    sf.write(out, np.tile(audio, reps)[: int(seconds * rate)], rate, subtype="PCM_16")
    return out


def machine() -> dict[str, object]:
    info: dict[str, object] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def bench_end_to_end(model: str | None, seconds: float, folder: Path, device: str) -> dict[str, object]:
    from talkface.pipeline import AnimateConfig, Animator

    t = time.perf_counter()
    animator = Animator(AnimateConfig(model=model, device=device))
    load_s = time.perf_counter() - t
    speech = looped_speech(seconds, folder)
    animator.animate(FACE, speech, folder / "warmup.mp4", size=128)  # first call loads dlib, whisper
    out: dict[str, object] = {"model_load_s": round(load_s, 2), "speech_s": seconds, "device": device}
    for name, size in (("photo", 0), ("crop128", 128)):
        r = animator.animate(FACE, speech, folder / f"{name}.mp4", size=size)
        out[name] = {
            "frames": r.frames,
            "seconds": round(r.seconds, 2),
            "frames_per_s": round(r.frames_per_second, 1),
            "stage_s": {k: round(v, 2) for k, v in r.stage_seconds.items()},
            "stage_frames_per_s": {k: round(r.frames / v, 1) for k, v in r.stage_seconds.items() if v > 0},
        }
    return out


def hd_photo(width: int, height: int, folder: Path) -> Path:
    """The example face scaled (bicubic) to ``height`` and widened to ``width`` with its own border."""
    import cv2

    face = cv2.imread(str(FACE))
    w = round(face.shape[1] * height / face.shape[0])
    big = cv2.resize(face, (w, height), interpolation=cv2.INTER_CUBIC)
    pad = max(0, width - w)
    big = cv2.copyMakeBorder(big, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_REPLICATE)[:, :width]
    out = folder / f"face_{width}x{height}.png"
    cv2.imwrite(str(out), big)
    return out


def bench_resolutions(model: str | None, seconds: float, folder: Path, renderers: list[str],
                      sizes: list[tuple[int, int]], resample: list[str] | None = None,
                      rounds: int = 1) -> list[dict[str, object]]:
    """End to end at HD photo sizes (``max_side=0``: no downscaling) per renderer (issue 14).

    ``resample``: the native renderer's kernels to compare (``AnimateConfig.resample``; None: the default
    only), run alternately, ``rounds`` times over, so a before/after ratio is measured in one run.
    """
    from talkface.pipeline import AnimateConfig, Animator

    speech = looped_speech(seconds, folder)
    rows: list[dict[str, object]] = []
    runs = [(r, k) for r in renderers for k in ((resample or [None]) if r == "native" else [None])]
    animators = {}
    for renderer, kernel in runs:
        extra = {} if kernel is None else {"resample": kernel}
        animators[renderer, kernel] = Animator(AnimateConfig(model=model, renderer=renderer, max_side=0,
                                                             **extra))  # type: ignore[arg-type]
        animators[renderer, kernel].animate(FACE, speech, folder / "warmup.mp4")  # first call loads dlib, whisper
    for _ in range(rounds):
        for renderer, kernel in runs:
            animator = animators[renderer, kernel]
            for width, height in sizes:
                photo = hd_photo(width, height, folder)
                cpu = time.process_time()
                r = animator.animate(photo, speech, folder / f"{renderer}_{width}x{height}.mp4")
                cpu = time.process_time() - cpu
                kernel_used = animator.config.resample if renderer == "native" else ""
                rows.append(_resolution_row(renderer, kernel_used, width, height, r, cpu))
                print(rows[-1], flush=True)
    return rows


def _resolution_row(renderer: str, kernel: str, width: int, height: int, r: Any, cpu: float) -> dict[str, object]:
    """One row of :func:`bench_resolutions`: wall and CPU speed of an ``animate`` result ``r``."""
    return {
        "renderer": renderer, "resample": kernel, "photo": f"{width}x{height}", "frames": r.frames,
        "seconds": round(r.seconds, 2), "frames_per_s": round(r.frames_per_second, 1),
        # CPU time of all the process's threads: on a loaded machine the wall clock measures the
        # other jobs; frames / CPU-seconds is what one idle core would give (two: up to 2x that)
        "cpu_ms_per_frame": round(1000 * cpu / r.frames, 1), "frames_per_cpu_s": round(r.frames / cpu, 1),
        "stage_s": {k: round(v, 2) for k, v in r.stage_seconds.items()},
    }


def bench_generator(model: str | None, device: str, sizes: tuple[int, ...], batches: tuple[int, ...]) -> list[dict]:
    from talkface.pipeline import load_bundle
    from talkface.texture.tgan import build_generator

    bundle = load_bundle(model)
    base = bundle.texture.config
    rows = []
    for size in sizes:
        if size == base.image_size:
            gen = bundle.texture.generator
            cfg = base
        else:
            import dataclasses

            scale = size // base.image_size
            cfg = dataclasses.replace(base, image_size=size, map_size=(base.map_size or base.image_size) * scale)
            gen = build_generator(cfg)
        gen = gen.to(device).eval()
        for batch in batches:
            x = torch.rand(batch, 3, size, size, device=device) * 2 - 1
            refs = torch.rand(1, 1, 3, size, size, device=device) * 2 - 1
            pts = torch.rand(batch, 68, 2, device=device) * size * 0.6 + size * 0.2
            ref_pts = pts[:1, None]
            kwargs = {"points": pts, "reference_points": ref_pts} if cfg.warp_identity else {}
            with torch.inference_mode():
                gen(x, refs, refs, **kwargs)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                n, t = 0, time.perf_counter()
                while time.perf_counter() - t < 3.0 or n < 2:
                    gen(x, refs, refs, **kwargs)
                    n += 1
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                dt = time.perf_counter() - t
            rows.append({"device": device, "size": size, "batch": batch,
                         "frames_per_s": round(n * batch / dt, 1), "trained": size == base.image_size})
            print(rows[-1], flush=True)
    return rows


_PEAK_RSS = (
    "import resource, runpy, sys\n"
    "sys.argv = ['talkface'] + sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_module('talkface.cli', run_name='__main__')\n"
    "finally:\n"
    "    print('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def bench_memory(model: str | None, lengths: list[float], folder: Path) -> list[dict]:
    rows = []
    for seconds in lengths:
        speech = looped_speech(seconds, folder)
        cmd = [sys.executable, "-c", _PEAK_RSS, "animate", str(FACE), str(speech), "-o",
               str(folder / f"mem_{seconds:g}.mp4"), "-q"] + (["--model", model] if model else [])
        t = time.perf_counter()
        proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
        peak = [int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_KIB")][0]
        rows.append({"speech_s": seconds, "peak_rss_mib": round(peak / 1024, 1),
                     "wall_s": round(time.perf_counter() - t, 1), "output": proc.stdout.strip()[-200:]})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model bundle (default: the bundled one)")
    p.add_argument("--seconds", type=float, default=10.0, help="speech length of the end-to-end runs")
    p.add_argument("--lengths", type=float, nargs="*", default=[10.0, 60.0],
                   help="speech lengths for the memory runs (each a fresh process)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 25], help="generator batch sizes (CPU)")
    p.add_argument("--gpu-batches", type=int, nargs="+", default=[1, 64, 256], help="generator batch sizes (GPU)")
    p.add_argument("--skip", nargs="*", default=[], choices=("end_to_end", "resolution", "generator", "memory"))
    p.add_argument("--renderers", nargs="+", default=["native", "crop"], choices=("native", "crop"),
                   help="renderers of the HD-photo runs")
    p.add_argument("--hd", nargs="+", default=["1280x720", "1920x1080"], help="photo sizes of the HD runs, WxH")
    p.add_argument("--resample", nargs="+", default=None, choices=("cubic2x", "lanczos", "cubic"),
                   help="native renderer's kernels to compare in the HD runs (default: the default kernel only)")
    p.add_argument("--rounds", type=int, default=1, help="repeat the HD runs (alternating kernels) this often")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()
    results: dict[str, object] = {"machine": machine(), "command": " ".join(sys.argv)}
    print(results["machine"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "end_to_end" not in args.skip:
            results["end_to_end"] = [bench_end_to_end(args.model, args.seconds, folder, "cpu")]
            if torch.cuda.is_available():
                results["end_to_end"].append(bench_end_to_end(args.model, args.seconds, folder, "cuda"))  # type: ignore[union-attr]
            print(json.dumps(results["end_to_end"], indent=1), flush=True)
        if "resolution" not in args.skip:
            sizes = [(int(x.split("x")[0]), int(x.split("x")[1])) for x in args.hd]
            results["resolution"] = bench_resolutions(args.model, args.seconds, folder, args.renderers, sizes,
                                                      args.resample, args.rounds)
        if "generator" not in args.skip:
            rows = bench_generator(args.model, "cpu", (128, 256), tuple(args.batches))
            if torch.cuda.is_available():
                rows += bench_generator(args.model, "cuda", (128, 256), tuple(args.gpu_batches))
            results["generator"] = rows
        if "memory" not in args.skip and args.lengths:
            results["memory"] = bench_memory(args.model, args.lengths, folder)
    results["machine_after"] = {"load_average": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
