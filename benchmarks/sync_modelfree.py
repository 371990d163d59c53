"""Issue #6: does a sync model's verdict on a *real* clip agree with a model-free measure?

    python3 benchmarks/sync_modelfree.py prepared/grid_s1_all [--sync-model FILE] [--splits val test] \
        [--grid-letters]

For every clip of the dataset: the model-free AV offset of :func:`talkface.eval.sync.opening_energy_offset`
(mouth opening of the prepared landmarks vs. speech loudness; > 0: audio late). A clip counts as
"clear" when its correlation peak is > 0.4 and inside the search range. With ``--grid-letters`` the
offsets are also grouped by GRID's letter slot (4th character of the utterance name) and each clip's
*residual* (its offset minus its letter's mean, i.e. with the content effect taken out) is used below.

Then for the held-out ``--splits``: the sync model (default: the bundled one) scores each real clip;
the clips it places off 0 are listed with the percentile of their model-free residual among all clear
clips. If the sync model's "late" clips sit high and its "early" ones low, the model-free measure
agrees with the direction of its verdicts — evidence that those recordings (or their articulation)
really are off, not the model. Results: docs/evaluation.md.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from talkface.data.dataset import PreparedDataset, load_clip
from talkface.eval.motion_metrics import mouth_opening
from talkface.eval.sync import AUDIO_SAMPLE_RATE, SyncScorer, opening_energy_offset, prepare_sync_arrays


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="prepared dataset (talkface preprocess)")
    ap.add_argument("--sync-model", default=None, help="sync model file (default: the bundled one)")
    ap.add_argument("--splits", nargs="+", default=["val", "test"], help="held-out splits to score")
    ap.add_argument("--grid-letters", action="store_true", help="group by GRID's letter slot, use residuals")
    args = ap.parse_args()

    ds = PreparedDataset(args.data)
    free: dict[str, tuple[float, float]] = {}
    for split in ("train", "val", "test"):
        for clip_id in ds.ids(split):
            clip = load_clip(ds.clip_path(clip_id))
            free[clip_id.rsplit("/", 1)[-1]] = opening_energy_offset(
                mouth_opening(clip.canonical), clip.audio, clip.sample_rate, clip.fps)
    clear = {u: o for u, (o, peak) in free.items() if peak > 0.4 and abs(o) < 3.9}
    values = np.array(list(clear.values()))
    print(f"model-free offsets: {len(free)} clips, {len(clear)} clear; mean {values.mean():+.2f}, "
          f"std {values.std():.2f} frames (> 0: audio late)")
    letter_mean: dict[str, float] = {}
    if args.grid_letters:
        groups: dict[str, list[float]] = defaultdict(list)
        for u, o in clear.items():
            groups[u[3]].append(o)
        letter_mean = {k: float(np.mean(v)) for k, v in groups.items()}
        print("by letter: " + " ".join(f"{k}:{letter_mean[k]:+.2f}({len(groups[k])})" for k in sorted(groups)))
    residual = {u: o - letter_mean.get(u[3], 0.0) for u, o in clear.items()}
    pool = np.array(list(residual.values()))

    scorer = SyncScorer(args.sync_model)
    scored = []
    for split in args.splits:
        for clip in prepare_sync_arrays(args.data, split):
            u = clip.clip_id.rsplit("/", 1)[-1]
            res = scorer.score(clip.mouths, clip.audio_float(), AUDIO_SAMPLE_RATE)
            scored.append((u, split, res.offset, res.subframe_offset))
    off = [s for s in scored if s[2] != 0]
    print(f"sync model on {'+'.join(args.splits)}: {len(scored)} real clips, {len(off)} not at offset 0 "
          f"(absolute accuracy {1 - len(off) / max(1, len(scored)):.3f})")
    agree = total = 0
    for u, split, offset, sub in off:
        if u in residual:
            pct = float((pool < residual[u]).mean() * 100)
            total += 1
            agree += int((pct > 50) == (offset > 0))
            note = f"model-free {clear[u]:+.2f}, residual percentile {pct:.0f}"
        else:
            note = f"model-free {free[u][0]:+.2f} (no clear peak)"
        print(f"  {u} ({split}): sync offset {offset:+d} (sub-frame {sub:+.2f}); {note}")
    if total:
        print(f"direction agreement (late clips above the median residual, early ones below): {agree}/{total}")
    both = np.array([(sub, residual[u]) for u, _, _, sub in scored if u in residual])
    if len(both) > 2:
        print(f"correlation of sync sub-frame offsets with model-free residuals: "
              f"{np.corrcoef(both[:, 0], both[:, 1])[0, 1]:.3f} over {len(both)} clips")


if __name__ == "__main__":
    main()
