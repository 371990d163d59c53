"""Mouth amplitude of the motion model vs real speech, with and without per-utterance normalisation.

For every clip at the model's frame rate: the model's canonical prediction from the clip's stored
speech features (as ``animate`` predicts, an ensemble's pause gate included:
:func:`talkface.motion.render.predict_canonical_landmarks` without its own normalisation), the truth
moved onto the model's neutral face (as in ``talkface evaluate-motion``); std ratio of the inner-lip
opening (generated / real), its correlation, mouth LMD (128-px crop), for a fixed gain
(``--motion-scale``) and for :func:`talkface.motion.amplitude.amplitude_gain`. A dataset whose stored
features are not the model's (e.g. whisper-tiny.en for the whisper-tiny.en+hama default model) has
them extracted from each clip's speech with the model's extractor, as ``animate`` does.

    python3 benchmarks/mouth_amplitude.py /work/prepared/grid_s1_all:train /work/prepared/grid7 /work/prepared/wild
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from talkface.audio.features import get_extractor
from talkface.data.dataset import PreparedDataset
from talkface.eval.motion_metrics import landmark_distance, mouth_opening
from talkface.models import load_lgan_net as load_lgan
from talkface.motion.amplitude import MAX_GAIN, TARGET_OPENING_STD, amplitude_gain
from talkface.motion.render import SAMPLE_RATE, predict_canonical_landmarks
from talkface.motion.retarget import to_canonical
from talkface.pipeline import DEFAULT_MODEL


def main() -> None:
    torch.set_num_threads(1)
    args = [a for a in sys.argv[1:] if not a.startswith("--lgan=")]
    lgan_path = next((a[7:] for a in sys.argv[1:] if a.startswith("--lgan=")), str(DEFAULT_MODEL / "lgan.pt"))
    lgan = load_lgan(lgan_path)
    neutral = lgan.canonical_neutral.numpy()
    variants = {"as predicted": None, "gain 1.25": 1.25, "gain 1.5": 1.5,
                f"normalised to {TARGET_OPENING_STD}": TARGET_OPENING_STD, "normalised to 0.05": 0.05}
    for spec in args:
        root, _, split = spec.partition(":")
        ds = PreparedDataset(root)
        extractor = None
        if ds.feature_dim != lgan.config.feature_dim or ds.feature_name != lgan.config.feature_name:
            print(f"{spec}: stored {ds.feature_name} features, the model reads {lgan.config.feature_name}: "
                  "extracting them from the clips' speech")
            extractor = get_extractor(lgan.config.feature_name)
        rows: dict[str, list[tuple[float, float, float]]] = {k: [] for k in variants}
        real_std = []
        for clip in ds.clips(split or None):
            if abs(clip.fps - lgan.config.fps) > 1e-3 or (extractor is not None and clip.sample_rate != SAMPLE_RATE):
                continue
            gt = to_canonical(clip.canonical, clip.canonical[clip.neutral_index], neutral)
            feats = clip.features if extractor is None else extractor(clip.audio, len(clip.features), clip.fps)
            pred = predict_canonical_landmarks(clip.audio, lgan, features=feats, normalise_mouth=False)
            og = mouth_opening(gt)
            real_std.append(float(og.std()))
            for name, v in variants.items():
                if v is None:
                    g = 1.0
                elif v >= 1.0:
                    g = float(v)
                else:
                    g = amplitude_gain(pred, v, MAX_GAIN)
                p = neutral + g * (pred - neutral)
                op = mouth_opening(p)
                r = float(np.corrcoef(op, og)[0, 1]) if op.std() > 0 and og.std() > 0 else float("nan")
                rows[name].append((float(op.std()) / max(float(og.std()), 1e-9), r, landmark_distance(p, gt)))
        print(f"\n{spec}: {len(real_std)} clips, real opening std median {np.median(real_std):.4f} "
              f"(IQR {np.percentile(real_std, 25):.4f}-{np.percentile(real_std, 75):.4f})")
        print("| variant | opening std ratio (median, IQR) | opening corr | LMD |")
        print("|---|---|---|---|")
        for name, vals in rows.items():
            a = np.asarray(vals)
            print(f"| {name} | {np.median(a[:, 0]):.2f} ({np.percentile(a[:, 0], 25):.2f}-"
                  f"{np.percentile(a[:, 0], 75):.2f}) | {np.nanmedian(a[:, 1]):.3f} | {np.mean(a[:, 2]):.3f} |")


if __name__ == "__main__":
    main()
