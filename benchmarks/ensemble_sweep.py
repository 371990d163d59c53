"""Weight sweep of a two-model motion ensemble on every criterion of issue 15 (docs/motion.md 5c).

The ensemble (:mod:`talkface.motion.ensemble`) predicts ``(1 - w) * A + w * B`` on the concatenated
feature (A reads the first ``dim(A)`` columns, B the rest). Each member's prediction of a clip is
computed once and reused for every ``w`` (the ensemble is linear in its members' landmarks), and each
espeak-ng file's feature is extracted once, so a sweep costs little more than one evaluation. Every
``w`` is scored exactly as ``python -m talkface.motion.ensemble A B --weight w -o ens.pt`` followed by
``benchmarks/language_coupling.py --lgan ens.pt``, ``talkface evaluate-motion GRID --lgan ens.pt
[--liveliness]`` and ``talkface evaluate-motion WILD --lgan ens.pt --liveliness`` would score it
(apart from the fp16 storage of the file: landmark differences < 1e-3 canonical units).

    python3 benchmarks/ensemble_sweep.py runs/tiny_s1/best.ckpt runs/hama_s1/best.ckpt \\
        --weights 0 0.3 0.5 0.7 1 --grid GRID6_mix --wild wild_mix --lang lang/*.wav
"""

from __future__ import annotations

import argparse
import hashlib
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from talkface.audio.features import get_extractor, num_video_frames
from talkface.eval.liveliness import evaluate_liveliness, summarise
from talkface.eval.motion_metrics import evaluate_motion, mouth_opening
from talkface.eval.sync import opening_energy_offset
from talkface.io.media import read_audio
from talkface.models import load_blink_net
from talkface.motion.ensemble import LGANEnsemble, make_ensemble
from talkface.motion.render import SAMPLE_RATE, predict_canonical_landmarks
from talkface.pipeline import DEFAULT_MODEL


class MemoEnsemble(LGANEnsemble):
    """:class:`LGANEnsemble` whose members' predictions of a feature array are cached (sweeps only)."""

    cache: dict[tuple[int, str], np.ndarray]

    def predict_canonical(self, features: np.ndarray) -> np.ndarray:
        feats = np.ascontiguousarray(features, dtype=np.float32)
        key = hashlib.sha1(feats.tobytes()).hexdigest() + str(feats.shape)
        out = np.zeros((len(feats), 68, 2), np.float32)
        for k, (w, m, (a, b)) in enumerate(zip(self.weights, self.nets(), self.slices, strict=True)):
            if (k, key) not in self.cache:
                self.cache[(k, key)] = m.predict_canonical(feats[:, a:b])
            out += float(w) * self.cache[(k, key)]
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", help="member A (weight 1 - w): checkpoint or lgan.pt")
    ap.add_argument("b", help="member B (weight w)")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5, 1.0], help="values of w")
    ap.add_argument("--grid", required=True, help="prepared held-out GRID folder with the concatenated feature")
    ap.add_argument("--wild", help="prepared in-the-wild folder with the concatenated feature")
    ap.add_argument("--lang", nargs="*", default=[], help="espeak-ng speech files (en1.wav, de1.wav, zh1.wav, ...)")
    ap.add_argument("--head-motion", type=float, default=1.0, help="head motion of the liveliness runs (CLI default 1)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = make_ensemble([args.a, args.b], [0.5, 0.5])
    members, slices, name = base.nets(), base.slices, base.feature_name
    cache: dict[tuple[int, str], np.ndarray] = {}
    blink = load_blink_net(DEFAULT_MODEL / "blink.pt")
    extractor = get_extractor(name)
    lang = []
    for f in args.lang:
        audio = read_audio(f)
        n = num_video_frames(len(audio), SAMPLE_RATE, float(base.config.fps))
        lang.append((f, audio, extractor(np.asarray(audio, np.float32), n, float(base.config.fps))))
    print(f"A = {args.a}\nB = {args.b}\nfeature {name} ({base.config.feature_dim}-d)\n")
    print("| w (B) | en / de / zh peak | zh/en | de/en | GRID6 corr | GRID6 std | GRID6 AV ±1 | GRID6 LMD "
          "| wild corr | wild std | wild AV ±1 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for w in args.weights:
        ens = MemoEnsemble(members, slices, [1.0 - w, w], name).eval()
        ens.cache = cache
        peaks: dict[str, list[float]] = defaultdict(list)
        for f, audio, feats in lang:
            op = mouth_opening(predict_canonical_landmarks(audio, ens, features=feats))
            _, peak = opening_energy_offset(op, audio, 16000, float(ens.config.fps))
            g = re.match(r"[A-Za-z_-]+", Path(f).stem)
            peaks[g.group(0) if g else Path(f).stem].append(peak)
        pm = {k: float(np.mean(v)) for k, v in peaks.items()}
        grid = summarise(evaluate_liveliness([args.grid], ens, blink, split="all", head_motion=args.head_motion))
        lmd = evaluate_motion([args.grid], {"ens": ens}, split="all")["ens"].lmd
        wild = (summarise(evaluate_liveliness([args.wild], ens, blink, split="all", head_motion=args.head_motion))
                if args.wild else None)
        en, de, zh = pm.get("en", np.nan), pm.get("de", np.nan), pm.get("zh", np.nan)
        ws = (f"{wild.opening_corr:.3f} | {wild.opening_std_ratio:.2f} | {100 * wild.av_within_1:.0f} %"
              if wild else "– | – | –")
        print(f"| {w:g} | {en:.2f} / {de:.2f} / {zh:.2f} | {zh / en:.2f} | {de / en:.2f} | {grid.opening_corr:.3f} | "
              f"{grid.opening_std_ratio:.2f} | {100 * grid.av_within_1:.0f} % | {lmd:.3f} | {ws} |", flush=True)


if __name__ == "__main__":
    main()
