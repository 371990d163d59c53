"""Cost of the motion model's speech feature (issue 15): Whisper tiny.en vs hama vs the tiny.en+hama mix.

Usage::

    python3 benchmarks/bench_speech_feature.py                                  # features only
    python3 benchmarks/bench_speech_feature.py --model tiny=BUNDLE_A --model mix=BUNDLE_B

What it measures, on the example speech looped to each ``--lengths`` (default 10 and 60 s):

* ``features``: each extractor (``get_extractor(name)``, its model loaded by a 1-s warm-up call)
  on the whole recording: wall seconds and CPU seconds of the process (``time.process_time``,
  all threads), and the ratio to whisper-tiny.en measured in the same run;
* ``animate``: with ``--model NAME=BUNDLE``, :meth:`talkface.pipeline.Animator.animate` of the
  example face (whole photo, models loaded and warmed up on the shortest length): wall seconds, CPU
  seconds and frames/s per bundle, and the ratio to the first bundle.

Timings on a shared machine are noisy: compare ratios from one run; the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
FACE = ROOT / "examples" / "face.png"
SPEECH = ROOT / "examples" / "speech.wav"
FEATURES = ("whisper-tiny.en", "hama", "whisper-tiny.en+hama")


def looped_speech(seconds: float) -> np.ndarray:
    """The example speech repeated to ``seconds``, float32 at 16 kHz."""
    from talkface.io.media import read_audio

    audio = read_audio(SPEECH)
    return np.tile(audio, int(np.ceil(seconds * 16000 / len(audio))))[: int(seconds * 16000)]


def timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    """(result, wall s, process CPU s) of ``fn(*args)``."""
    w, c = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - w, time.process_time() - c


def bench_features(lengths: list[float]) -> list[dict[str, object]]:
    from talkface.audio.features import get_extractor

    rows: list[dict[str, object]] = []
    extractors = {name: get_extractor(name) for name in FEATURES}
    for ex in extractors.values():
        ex(looped_speech(1.0), 25, 25.0)  # load the model
    for seconds in lengths:
        audio = looped_speech(seconds)
        frames = int(round(seconds * 25))
        base = None
        for name, ex in extractors.items():
            _, wall, cpu = timed(ex, audio, frames, 25.0)
            base = base or cpu
            rows.append({"speech_s": seconds, "feature": name, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                         "cpu_vs_tiny_en": round(cpu / base, 2)})
            print(rows[-1], flush=True)
    return rows


def bench_animate(models: list[tuple[str, str]], lengths: list[float]) -> list[dict[str, object]]:
    from talkface.pipeline import AnimateConfig, Animator

    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        speech = {}
        for seconds in lengths:
            speech[seconds] = folder / f"speech_{seconds:g}.wav"
            sf.write(speech[seconds], looped_speech(seconds), 16000, subtype="PCM_16")
        animators = {}
        for name, path in models:
            animators[name] = Animator(AnimateConfig(model=path))
            animators[name].animate(FACE, speech[min(lengths)], folder / "warmup.mp4")
        for seconds in lengths:
            base = None
            for name, animator in animators.items():
                r, wall, cpu = timed(animator.animate, FACE, speech[seconds], folder / "out.mp4")
                base = base or wall
                rows.append({"speech_s": seconds, "model": name, "feature": animator.bundle.lgan.config.feature_name,
                             "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                             "frames_per_s": round(r.frames / wall, 1), "wall_vs_first": round(wall / base, 2),
                             "stage_s": {k: round(v, 2) for k, v in r.stage_seconds.items()}})
                print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", type=float, nargs="+", default=[10.0, 60.0], help="speech lengths (s)")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=BUNDLE",
                    help="also time talkface animate with this model bundle (the first is the reference)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    out: dict[str, object] = {"load_average_before": [round(x, 2) for x in os.getloadavg()],
                              "features": bench_features(args.lengths)}
    if args.model:
        out["animate"] = bench_animate([tuple(m.split("=", 1)) for m in args.model], args.lengths)  # type: ignore[misc]
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out["load_average_before"]), json.dumps(out["load_average_after"]))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
