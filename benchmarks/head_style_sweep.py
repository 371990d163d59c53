"""Choose the style switch of the head prior (rate_mid, rate_width) by a stated cost (docs/motion.md, 3c).

The head prior's per-axis amplitude is ``std^(1-w) * calm_std^w`` with the calm weight
``w = sigmoid((rate - rate_mid) / rate_width)`` of the recording's speaking rate
(:class:`talkface.motion.head.HeadMotionConfig`). The generated amplitude depends on the switch only
through ``w``, so each clip is measured once on a grid of ``w`` and any (rate_mid, rate_width) is then
scored without generating again:

* per clip: the real per-axis head-pose std (:func:`talkface.motion.head.estimate_pose` on the clip's
  tracked landmarks) and its speaking rate (:func:`talkface.motion.head.speaking_rate`);
* the shipped motion stage's request for the clip's first frame and own speech at ``head_motion = 0``
  (as :func:`talkface.eval.liveliness.evaluate_liveliness` makes it), then for every seed and every
  ``w`` of ``--w-steps`` (0 ... 1) the head motion with that fixed ``w`` (same seed noise for every
  ``w``) applied to it and measured by the same estimator: the generated per-axis std;
* a setting gives each clip its ``w``; its generated std is interpolated (log, linear in ``w``);
  the error per clip and axis is ``e = mean over seeds of log(generated) - log(real)``;
* cost ``rho(e) = a * e`` (too much motion) or ``b * (-e)`` (too little); per clip the mean over
  ``--axes``, per folder the mean over clips, ``J`` = mean over folders (each folder weighs the same).

It prints the current default's cost, the best setting over the grid (``--mids``, ``--widths``) for
``a:b`` = 1:1, 2:1 and 1:2, the best with a wide width (a continuous law), a bootstrap over clips of
the best setting and of the gain over the default, and the median ratios per axis over all clips.
``--cache`` keeps the measurements (npz), so the costs can be re-scored without measuring again;
``--evaluate MID WIDTH`` adds that setting's rows. ``--rate-defs`` (with the cache and the same folders)
instead re-scores other definitions of the speaking rate (the loudness-peak rule's prominence, smoothing
and minimum distance): for each, the best switch and the bootstrap of its gain over the current one.

    python3 benchmarks/head_style_sweep.py /work/prepared/wild /work/prepared/grid_s1_all:train:80 \\
        --seeds 3 --cache /work/scratch/headstyle/sweep.npz

A folder may carry ``:split`` (a split of ``splits.json``) and ``:N`` (N clips evenly spaced over it).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from talkface.data.dataset import load_clip
from talkface.face.geometry import mouth_is_open
from talkface.models import load_lgan_net as load_lgan
from talkface.motion.amplitude import mouth_request
from talkface.motion.blink import load_blink
from talkface.motion.head import (
    AXES,
    HeadMotionConfig,
    apply_head_motion,
    calm_weight,
    estimate_pose,
    generate_head_motion,
    speaking_rate,
)
from talkface.motion.render import predict_landmarks
from talkface.motion.retarget import close_mouth
from talkface.pipeline import DEFAULT_MODEL


@dataclass
class _FixedWeight(HeadMotionConfig):
    """The prior with a fixed calm weight ``w`` whatever the speaking rate."""

    w: float = 0.0

    def axis_std(self, rate: float) -> np.ndarray:
        """``std^(1-w) * calm_std^w``, ignoring ``rate``."""
        assert self.calm_std is not None
        return np.asarray(self.std) ** (1.0 - self.w) * np.asarray(self.calm_std) ** self.w


def clip_paths(spec: str) -> list[Path]:
    """The clip files of ``ROOT[:SPLIT[:N]]`` (N evenly spaced clips of the split)."""
    parts = spec.split(":")
    root = Path(parts[0])
    split = parts[1] if len(parts) > 1 and parts[1] else None
    limit = int(parts[2]) if len(parts) > 2 and parts[2] else None
    if split:
        ids = json.loads((root / "splits.json").read_text())[split]
        paths = [root / "clips" / f"{cid}.npz" for cid in ids]
    else:
        paths = sorted((root / "clips").rglob("*.npz"))
    if limit and limit < len(paths):
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]
    return paths


def _resample(track: np.ndarray, src_fps: float, dst_fps: float, num: int) -> np.ndarray:
    """Linear interpolation of a (T, 68, 2) track onto ``num`` frames at ``dst_fps``."""
    t_src, t_dst = np.arange(len(track)) / src_fps, np.arange(num) / dst_fps
    flat = track.reshape(len(track), -1)
    out = np.stack([np.interp(t_dst, t_src, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape(num, *track.shape[1:])


def measure(specs: list[str], seeds: int, w_grid: np.ndarray, skip: list[str]) -> dict[str, np.ndarray]:
    """Real std, rate and generated std on the ``w`` grid of every clip (see the module doc)."""
    torch.set_num_threads(1)
    lgan = load_lgan(DEFAULT_MODEL / "lgan.pt")
    blink = load_blink(DEFAULT_MODEL / "blink.pt")
    model_fps, dim = float(lgan.config.fps), int(lgan.config.feature_dim)
    canonical_neutral = lgan.canonical_neutral.cpu().numpy()
    sets, ids, rates, reals, gens = [], [], [], [], []
    i = 0
    for spec in specs:
        group = Path(spec.split(":")[0]).name
        for path in clip_paths(spec):
            clip = load_clip(path)
            if clip.clip_id in skip:
                continue
            same_rate = abs(clip.fps - model_fps) < 1e-3 and clip.features.shape[1] == dim
            base = predict_landmarks(
                np.zeros((1, 1, 3), np.uint8), clip.audio, lgan, blink, seed=i,
                person_landmarks=clip.landmarks[0], head_motion=0.0,
                features=clip.features if same_rate else None,
            ).astype(np.float64)
            neutral = clip.landmarks[0]
            if mouth_is_open(neutral):  # as predict_landmarks does
                neutral = close_mouth(neutral, keep_gap=mouth_request(None).rest_opening(canonical_neutral))
            gen = np.empty((len(w_grid), seeds, 6))
            for s in range(seeds):
                for j, w in enumerate(w_grid):
                    motion = generate_head_motion(clip.audio, len(base), model_fps, seed=1000 * s + i,
                                                  sample_rate=clip.sample_rate, config=_FixedWeight(w=float(w)))
                    moved = apply_head_motion(base, neutral, canonical_neutral, motion).astype(np.float64)
                    if len(moved) != clip.num_frames or not same_rate:
                        moved = _resample(moved, model_fps, clip.fps, clip.num_frames)
                    gen[j, s] = estimate_pose(moved).std(0)
            i += 1
            rate = speaking_rate(clip.audio, clip.sample_rate)
            real = estimate_pose(clip.landmarks).std(0)
            sets.append(group)
            ids.append(clip.clip_id)
            rates.append(rate)
            reals.append(real)
            gens.append(gen)
            print(f"{group:12s} {clip.clip_id:45s} rate {rate:4.2f}  real yaw {real[0]:5.2f}  "
                  f"gen yaw w=0 {gen[0, :, 0].mean():5.2f} w=1 {gen[-1, :, 0].mean():5.2f}", flush=True)
    return {"set": np.array(sets), "clip": np.array(ids), "rate": np.array(rates), "real": np.array(reals),
            "gen": np.array(gens), "w_grid": w_grid}


def log_error(data: dict[str, np.ndarray], mid: float, width: float) -> np.ndarray:
    """(clips, 6) mean over seeds of log(generated / real) at the switch (mid, width)."""
    cfg = HeadMotionConfig(rate_mid=mid, rate_width=width)
    w = np.array([calm_weight(float(r), cfg) for r in data["rate"]])
    lg = np.log(np.maximum(data["gen"], 1e-6)).mean(2)  # (clips, W, 6): mean over seeds
    grid = data["w_grid"]
    out = np.empty((len(w), 6))
    for c in range(len(w)):
        for k in range(6):
            out[c, k] = np.interp(w[c], grid, lg[c, :, k])
    return out - np.log(np.maximum(data["real"], 1e-6))


def cost(err: np.ndarray, sets: np.ndarray, axes: list[int], a: float, b: float,
         index: np.ndarray | None = None) -> tuple[float, dict[str, float]]:
    """J = mean over folders of the mean over clips of the mean over ``axes`` of rho(e)."""
    e = err[:, axes]
    rho = np.where(e > 0, a * e, -b * e).mean(1)
    idx = np.arange(len(rho)) if index is None else index
    per = {str(g): float(rho[idx][sets[idx] == g].mean()) for g in sorted(set(sets[idx].tolist()))}
    return float(np.mean(list(per.values()))), per


def _rate(db: np.ndarray, prominence: float, smooth: int, distance: int) -> float:
    """:func:`talkface.motion.head.speech_style`'s rate with other peak-rule constants."""
    from talkface.motion.peaks import find_peaks

    ref = max(float(np.percentile(db, 95)), -50.0)
    speech = db > ref - 30
    if speech.sum() < 10:
        return 0.0
    sm = np.convolve(db, np.ones(smooth) / smooth, mode="same")
    return len(find_peaks(np.where(speech, sm, ref - 60), prominence=prominence, distance=distance)) / (
        speech.sum() / 100)


def rate_definitions(data: dict[str, np.ndarray], specs: list[str], axes: list[int], boots: int) -> None:
    """Best switch and its bootstrap gain over the current one for other rate definitions (a = b)."""
    from talkface.motion.head import _loudness_db

    roots = {Path(spec.split(":")[0]).name: Path(spec.split(":")[0]) for spec in specs}
    sets = data["set"]
    dbs = [_loudness_db(load_clip(roots[str(g)] / "clips" / f"{c}.npz").audio, 16000)
           for g, c in zip(sets, data["clip"], strict=True)]
    groups = sorted(set(sets.tolist()))
    rng = np.random.default_rng(0)
    idx = [np.concatenate([rng.choice(np.flatnonzero(sets == g), int((sets == g).sum())) for g in groups])
           for _ in range(boots)]
    current = log_error(data, 4.0, 0.15)
    settings = [(float(m), w) for m in np.arange(2.0, 7.0, 0.05) for w in (0.05, 0.1, 0.15, 0.2, 0.3, 0.5)]
    for prominence in (2.0, 3.0, 4.0, 6.0):
        for smooth in (8, 12, 16):
            for distance in (8, 12):
                alt = dict(data, rate=np.array([_rate(db, prominence, smooth, distance) for db in dbs]))
                errs = {s: log_error(alt, *s) for s in settings}
                js = {s: cost(e, sets, axes, 1.0, 1.0)[0] for s, e in errs.items()}
                best = min(js, key=lambda s: js[s])
                gain = [cost(current, sets, axes, 1, 1, i)[0] - cost(errs[best], sets, axes, 1, 1, i)[0] for i in idx]
                print(f"prominence {prominence:g} dB, smoothing {smooth * 10} ms, distance {distance * 10} ms: median "
                      + ", ".join(f"{g} {np.median(alt['rate'][sets == g]):.2f}" for g in groups)
                      + f" | best {best[0]:.2f}/{best[1]:g} J {js[best]:.3f}, gain over the current 5-95 % "
                      f"{np.percentile(gain, 5):+.3f} .. {np.percentile(gain, 95):+.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="*")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--w-steps", type=int, default=11)
    ap.add_argument("--skip", nargs="*", default=["bbaf2n/bbaf2n"], help="clip ids to leave out")
    ap.add_argument("--cache", default=None, help="npz of the measurements: read if it exists, else written")
    ap.add_argument("--axes", nargs="*", default=["yaw", "pitch", "roll", "tx", "ty"])
    ap.add_argument("--mids", nargs=3, type=float, default=[3.0, 5.0, 0.05], help="first last step")
    ap.add_argument("--widths", nargs="*", type=float,
                    default=[0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5])
    ap.add_argument("--wide", type=float, default=0.5, help="widths from this count as a continuous law")
    ap.add_argument("--evaluate", nargs=2, type=float, action="append", default=[], metavar=("MID", "WIDTH"))
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--rate-defs", action="store_true", help="re-score other speaking-rate definitions")
    args = ap.parse_args()
    if args.cache and Path(args.cache).exists():
        data = dict(np.load(args.cache))
    else:
        data = measure(args.data, args.seeds, np.linspace(0, 1, args.w_steps), args.skip)
        if args.cache:
            np.savez(args.cache, **data)
    sets = data["set"]
    axes = [AXES.index(a) for a in args.axes]
    if args.rate_defs:
        rate_definitions(data, args.data, axes, 100)
        return
    default = HeadMotionConfig()
    mids = np.arange(args.mids[0], args.mids[1] + 1e-9, args.mids[2])
    settings = [(float(m), float(w)) for m in mids for w in args.widths]
    errs = {s: log_error(data, *s) for s in settings + [(default.rate_mid, default.rate_width)]}
    for s in args.evaluate:
        errs[tuple(s)] = log_error(data, *s)
    groups = sorted(set(sets.tolist()))
    print(f"\n{len(sets)} clips: " + ", ".join(f"{g} {int((sets == g).sum())} (median rate "
                                                  f"{np.median(data['rate'][sets == g]):.2f})" for g in groups))
    print(f"cost: per clip mean over {args.axes} of rho(log(generated/real)), rho = a*e (e>0) or b*(-e); "
          "folders weigh the same")

    def row(name: str, s: tuple[float, float], a: float, b: float) -> None:
        j, per = cost(errs[s], sets, axes, a, b)
        med = np.exp(np.median(errs[s][:, axes], axis=0))
        print(f"  {name:24s} mid {s[0]:4.2f} width {s[1]:4.2f}  J {j:.3f}  "
              + " ".join(f"{g} {v:.3f}" for g, v in per.items())
              + "  | median ratio " + " ".join(f"{AXES[k]} {v:.2f}" for k, v in zip(axes, med, strict=True)))

    cur = (default.rate_mid, default.rate_width)
    rng = np.random.default_rng(0)
    boots = [np.concatenate([rng.choice(np.flatnonzero(sets == g), int((sets == g).sum())) for g in groups])
             for _ in range(args.bootstrap)]
    for a, b in ((1.0, 1.0), (2.0, 1.0), (1.0, 2.0)):
        js = {s: cost(errs[s], sets, axes, a, b)[0] for s in settings}
        best = min(js, key=lambda s: js[s])
        wide = min((s for s in settings if s[1] >= args.wide), key=lambda s: js[s])
        print(f"\na:b = {a:g}:{b:g} (a = too much motion)")
        row("current default", cur, a, b)
        row("best", best, a, b)
        row(f"best, width >= {args.wide:g}", wide, a, b)
        for s in args.evaluate:
            row("asked", tuple(s), a, b)
        by_w = {w: min((s for s in settings if s[1] == w), key=lambda s: js[s]) for w in args.widths}
        print("  best mid per width: " + ", ".join(f"{w:g}: {s[0]:.2f} (J {js[s]:.3f})" for w, s in by_w.items()))
        # bootstrap: clips resampled within each folder; the argmin and the gain of this best over the default
        picks, gains = [], []
        for idx in boots:
            jb = {s: cost(errs[s], sets, axes, a, b, idx)[0] for s in settings}
            picks.append(min(jb, key=lambda s: jb[s]))
            gains.append(cost(errs[cur], sets, axes, a, b, idx)[0] - jb[best])
        pm, pw, g = np.array([p[0] for p in picks]), np.array([p[1] for p in picks]), np.array(gains)
        print(f"  bootstrap ({args.bootstrap}x): best mid 5-95 % {np.percentile(pm, 5):.2f}-{np.percentile(pm, 95):.2f}"
              f" (median {np.median(pm):.2f}), width {np.percentile(pw, 5):.2f}-{np.percentile(pw, 95):.2f} (median "
              f"{np.median(pw):.2f}); J(current) - J(best) 5-95 % {np.percentile(g, 5):+.3f} .. "
              f"{np.percentile(g, 95):+.3f}")
    near = (data["rate"] > 3.5) & (data["rate"] < 4.5)
    print("\nclips the switch can move (rate 3.5-4.5): " + ", ".join(
        f"{g} {int((near & (sets == g)).sum())}" for g in groups))

if __name__ == "__main__":
    main()
