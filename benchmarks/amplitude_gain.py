"""Per-clip amplitude-normalisation gain of a motion model on real speech.

For each recording: the canonical prediction as ``animate`` makes it
(:func:`talkface.motion.render.predict_canonical_landmarks`, an ensemble's pause gate included) without
and with the per-utterance mouth normalisation, the gain :func:`talkface.motion.amplitude.amplitude_gain`
applies, the inner-lip opening's std (over the eye distance) and its mean |frame-to-frame change|.
Used to explain why an averaged (ensemble) prediction gets a larger gain (docs/motion.md, 5c)::

    python3 benchmarks/amplitude_gain.py --lgan OLD_lgan.pt --lgan src/talkface/assets/default_model/lgan.pt \
        /work/shared/data/grid/*.mpg
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from talkface.eval.motion_metrics import mouth_opening
from talkface.io.media import read_audio
from talkface.models import load_lgan_net
from talkface.motion.amplitude import amplitude_gain
from talkface.motion.render import predict_canonical_landmarks


def main() -> None:
    """Print one row per model and recording, and each model's gain range."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("speech", nargs="+", help="audio or video files with speech")
    ap.add_argument("--lgan", action="append", required=True, help="motion model file (repeat to compare)")
    args = ap.parse_args()
    audios = {path: read_audio(path) for path in args.speech}
    for model_path in args.lgan:
        model = load_lgan_net(model_path)
        gains = []
        for path, audio in audios.items():
            raw = predict_canonical_landmarks(audio, model, normalise_mouth=False)
            out = predict_canonical_landmarks(audio, model, normalise_mouth=True)
            gain = amplitude_gain(raw)
            gains.append(gain)
            o_raw, o_out = mouth_opening(raw), mouth_opening(out)
            print(f"{model_path}  {os.path.basename(path)}: gain {gain:.2f}  opening std {o_raw.std():.4f} -> "
                  f"{o_out.std():.4f}  mean |change| {np.abs(np.diff(o_raw)).mean():.4f} -> "
                  f"{np.abs(np.diff(o_out)).mean():.4f}")
        print(f"{model_path}: gain {min(gains):.2f}-{max(gains):.2f} over {len(gains)} recordings")


if __name__ == "__main__":
    main()
