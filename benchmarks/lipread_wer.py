"""WER of the GRID lip reader on prepared clips (real video and the still), and its speed.

    python3 benchmarks/lipread_wer.py /work/prepared/grid_s1_all --split test [--reader runs/lipread/lipreader.pt]
    python3 benchmarks/lipread_wer.py /work/prepared/grid7 --split all

Reads every clip of the split from its aligned crops with the prepared ``crop_landmarks`` (the
training input; ``talkface evaluate`` instead tracks landmarks with dlib on the frames it scores)
and the still baseline (the first frame repeated). Prints WER and per-slot accuracy (%), the
chance WER of the grammar, and the reader's time per clip (mouth crops + network, one thread).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from talkface.data.dataset import PreparedDataset, load_clip
from talkface.eval.lipread import SLOTS, LipReader, chance_wer, clip_sources, grid_sentence, lip_crops


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="prepared dataset")
    ap.add_argument("--split", default="test", help="train, val, test or all")
    ap.add_argument("--reader", default=None, help="lip reader file (default: the bundled one)")
    ap.add_argument("--ids", default=None, help="text file of clip ids (instead of --split)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = PreparedDataset(args.data)
    ids = Path(args.ids).read_text().split() if args.ids else ds.ids(None if args.split == "all" else args.split)
    sources = clip_sources(args.data)
    reader = LipReader(args.reader)
    rows: dict[str, list[dict[str, float]]] = {"real": [], "still": []}
    seconds: list[float] = []
    for cid in ids:
        sentence = grid_sentence(cid, sources.get(cid))
        if sentence is None:
            continue
        clip = load_clip(ds.clip_path(cid))
        frames, lm = clip.crops(), clip.crop_landmarks
        t0 = time.perf_counter()
        real = reader.read_crops(lip_crops(frames, lm))
        seconds.append(time.perf_counter() - t0)
        still = reader.read_crops(lip_crops(np.repeat(frames[:1], len(frames), 0), np.repeat(lm[:1], len(lm), 0)))
        rows["real"].append(real.score(sentence))
        rows["still"].append(still.score(sentence))
        print(f"{cid}: {' '.join(sentence)} | read {' '.join(real.words)} | still {' '.join(still.words)}")
    what = args.ids or args.split
    print(f"\n{args.data} {what}: {len(rows['real'])} GRID clips; chance WER {100 * chance_wer():.1f} %")
    print("| input | WER (%) | " + " | ".join(SLOTS) + " |")
    print("|---" * (len(SLOTS) + 2) + "|")
    for name, scores in rows.items():
        wer = 100 * np.mean([s["wer"] for s in scores])
        accs = [100 * np.mean([s[f"acc_{k}"] for s in scores]) for k in SLOTS]
        print(f"| {name} | {wer:.1f} | " + " | ".join(f"{a:.1f}" for a in accs) + " |")
    print(f"\nreader time per clip (crops + network, {args.threads} thread): median {1000 * np.median(seconds):.0f} ms")


if __name__ == "__main__":
    main()
