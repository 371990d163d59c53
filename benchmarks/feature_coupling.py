"""Which speech feature carries mouth motion across voices and languages? A controlled comparison.

The same simple predictor for every feature: ridge regression from 7 stacked frames of the feature
(+-3 at 25 fps) to the canonical inner-lip opening, fitted on GRID s1 training clips. Scored by
(a) the opening correlation with the real landmarks on in-the-wild clips (own speech, 25-fps
clips) and (b) the model-free mouth-energy peak correlation
(:func:`talkface.eval.sync.opening_energy_offset`) on speech files grouped by language (the letters
before the first digit of the file name, as made by benchmarks/make_espeak_speech.sh).

    python3 benchmarks/feature_coupling.py prepared/grid_s1_all prepared/wild lang/*.wav \
        [--features whisper-tiny.en,whisper-base,hama,logmel] [--train-clips 120]
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from talkface.audio.features import get_extractor, num_video_frames
from talkface.data.dataset import PreparedDataset
from talkface.eval.motion_metrics import mouth_opening
from talkface.eval.sync import opening_energy_offset
from talkface.io.media import read_audio

FPS = 25.0
CONTEXT = 3


def stack(f: np.ndarray) -> np.ndarray:
    pad = np.pad(f, ((CONTEXT, CONTEXT), (0, 0)), mode="edge")
    return np.concatenate([pad[k : k + len(f)] for k in range(2 * CONTEXT + 1)], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("wild")
    ap.add_argument("speech", nargs="*")
    ap.add_argument("--features", default="whisper-tiny.en,whisper-base,hama,logmel")
    ap.add_argument("--train-clips", type=int, default=120)
    args = ap.parse_args()
    train = list(PreparedDataset(args.train).clips("train"))[: args.train_clips]
    wild = [c for c in PreparedDataset(args.wild).clips(None) if abs(c.fps - FPS) < 1e-3]
    speech = [(p, read_audio(p)) for p in args.speech]
    print(f"{len(train)} train clips, {len(wild)} wild clips, {len(speech)} speech files")
    rows = []
    for name in args.features.split(","):
        ext = get_extractor(name)

        def feats(audio: np.ndarray, n: int | None = None, ext=ext) -> np.ndarray:  # type: ignore[no-untyped-def]
            n = n or num_video_frames(len(audio), 16000, FPS)
            return stack(np.asarray(ext(np.asarray(audio, np.float32), n, FPS), np.float64))

        x = np.concatenate([feats(c.audio, c.num_frames) for c in train])
        y = np.concatenate([mouth_opening(c.canonical) for c in train]).astype(np.float64)
        mu, sd = x.mean(0), x.std(0) + 1e-6
        xs = (x - mu) / sd
        lam = 0.1 * len(xs)
        w = np.linalg.solve(xs.T @ xs + lam * np.eye(xs.shape[1]), xs.T @ (y - y.mean()))

        def predict(f: np.ndarray, w=w, mu=mu, sd=sd) -> np.ndarray:  # type: ignore[no-untyped-def]
            return ((f - mu) / sd) @ w

        wild_r = []
        for c in wild:
            p, real = predict(feats(c.audio, c.num_frames)), mouth_opening(c.landmarks)
            wild_r.append(float(np.corrcoef(p, real)[0, 1]))
        lang: dict[str, list[float]] = defaultdict(list)
        for path, audio in speech:
            p = predict(feats(audio))
            _, peak = opening_energy_offset(p, audio, 16000, FPS)
            m = re.match(r"[A-Za-z_-]+", Path(path).stem)
            lang[m.group(0) if m else Path(path).stem].append(peak)
        rows.append((name, float(np.median(wild_r)), {k: float(np.mean(v)) for k, v in lang.items()}))
        print(name, f"wild opening corr median {rows[-1][1]:.3f}", rows[-1][2], flush=True)
    langs = sorted({k for r in rows for k in r[2]})
    print("\n| feature | wild opening corr. (median) | " + " | ".join(f"peak {g}" for g in langs) + " |")
    print("|---|---|" + "---|" * len(langs))
    for name, r, lp in rows:
        print(f"| {name} | {r:.3f} | " + " | ".join(f"{lp.get(g, float('nan')):.2f}" for g in langs) + " |")


if __name__ == "__main__":
    main()
