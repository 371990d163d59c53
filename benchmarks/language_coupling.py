"""Mouth-loudness coupling of the predicted motion per language (docs/motion.md, "Any language").

For each speech file: the shipped motion model's canonical landmarks (mouth normalisation on, no
blinks), then (a) the model-free peak correlation of mouth opening and speech energy
(:func:`talkface.eval.sync.opening_energy_offset`, and its offset in frames) and (b) the Pearson
correlation of the opening with the frame RMS. Files are grouped by the letters before the first
digit of their name (``en1.wav`` -> ``en``).

    python3 benchmarks/language_coupling.py speech/*.wav
    python3 benchmarks/language_coupling.py --lgan runs/reg_hama/best.ckpt speech/*.wav   # another motion model
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from talkface.eval.motion_metrics import mouth_opening
from talkface.eval.sync import opening_energy_offset
from talkface.io.media import read_audio
from talkface.models import load_lgan_net as load_lgan
from talkface.motion.render import audio_rms_per_frame, predict_canonical_landmarks
from talkface.pipeline import DEFAULT_MODEL


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("speech", nargs="+", help="speech files (en1.wav, de1.wav, ...)")
    ap.add_argument("--lgan", default=str(DEFAULT_MODEL / "lgan.pt"),
                    help="motion model: l-GAN/regression checkpoint or export (default: the shipped one); "
                         "its own speech feature is used")
    args = ap.parse_args()
    torch.set_num_threads(1)
    lgan = load_lgan(args.lgan)
    fps = float(lgan.config.fps)
    groups: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    for name in args.speech:
        audio = read_audio(name)
        canonical = predict_canonical_landmarks(audio, lgan)
        opening = mouth_opening(canonical)
        offset, peak = opening_energy_offset(opening, audio, 16000, fps)
        rms = audio_rms_per_frame(audio, len(opening), fps)
        r = float(np.corrcoef(opening, rms)[0, 1])
        group = re.match(r"[A-Za-z_-]+", Path(name).stem)
        groups[group.group(0) if group else Path(name).stem].append((peak, offset, r, float(opening.std())))
        print(f"{Path(name).name:20s} peak {peak:.2f} offset {offset:+.1f} r(opening, RMS) {r:.2f} "
              f"opening std {opening.std():.3f}", flush=True)
    print("\n| language | files | peak corr. (model-free) | offset (frames) | r(opening, RMS) | opening std |")
    print("|---|---|---|---|---|---|")
    for g, rows in groups.items():
        a = np.asarray(rows)
        print(f"| {g} | {len(a)} | {a[:, 0].mean():.2f} | {a[:, 1].mean():+.1f} | {a[:, 2].mean():.2f} | "
              f"{a[:, 3].mean():.3f} |")


if __name__ == "__main__":
    main()
