"""Is there a better calm/lively style detector than the speaking rate? (docs/motion.md, 3d)

The head prior's amplitude follows a calm weight ``w`` read from the speech (3a; today a logistic in
the speaking rate, ``HeadMotionConfig.rate_mid`` / ``rate_width``). This script scores other speech
statistics, alone and in small logistic combinations, as that detector, with the cost ``J`` of 3c
(``benchmarks/head_style_sweep.py``, whose ``--cache`` of real and generated head-pose stds on a grid of
``w`` it reuses: no generation here) under cross-validation:

* a detector is a score ``s`` of the clip's speech; ``w = sigmoid((z(s) - mid) / width)`` with ``z`` the
  score standardised on the training fold and oriented so that higher means calm; ``(mid, width)`` are
  chosen on the training fold by the least ``J``; a combination's score is an L2 logistic regression
  (C = 1) on the z-scored statistics predicting the set (GRID s1 = calm, wild = lively);
* 10 folds: wild clips grouped by person (the styletalk speakers' clips together), persons and s1 clips
  dealt round-robin to the folds; the rate itself is refit the same way, and the shipped fixed switch
  is reported too;
* the per-clip out-of-fold costs give ``J_CV``; a bootstrap over clips (resampled within each set) gives
  the 5-95 % interval of ``J_CV(rate) - J_CV(candidate)``;
* the chain guard: every detector, fit on all clips, is re-applied to the same speech passed through
  four simulated recording chains (20 dB white noise, a 300-3400 Hz telephone band, a 4:1 broadcast
  compressor, room reverb of RT60 0.5 s); the share of clips whose calm/lively decision (``w > 0.5``)
  flips says how much of what it separates is the recording rather than the speaker.

    python3 benchmarks/head_style_detect.py /work/prepared/wild /work/prepared/grid_s1_all \\
        --sweep /work/scratch/headstyle/sweep.npz --cache /work/scratch/styledetect/features.npz

The folders are those the sweep measured (their clips are looked up by the ids in ``--sweep``).
``--f0-resolution 0.25`` re-measures the pitch range with a coarser pYIN grid (a robustness check).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from talkface.data.dataset import load_clip
from talkface.face.eyes import bool_runs
from talkface.motion.head import AXES, HeadMotionConfig, _analysis_excerpt, _loudness_db, calm_weight
from talkface.motion.peaks import find_peaks

SR = 16000
UNIVARIATE = ["rate", "rate_voiced", "artic", "ipi", "pause", "vpause", "phrase", "f0range", "f0std",
              "loudstd", "encflux", "encstd"]
COMBOS = {"rate+f0range": ["rate", "f0range"], "artic+f0range": ["artic", "f0range"],
          "artic+ipi+f0range": ["artic", "ipi", "f0range"]}
CHAINS = ["noise20", "telephone", "compress", "reverb"]
MIDS = np.arange(-2.5, 2.5 + 1e-9, 0.05)
WIDTHS = np.array([0.02, 0.05, 0.1, 0.15, 0.25, 0.4, 0.6])


def apply_chain(x: np.ndarray, kind: str, seed: int) -> np.ndarray:
    """``x`` through one simulated recording chain (see the module doc)."""
    from scipy.signal import butter, fftconvolve, sosfiltfilt

    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64)
    if kind == "noise20":
        db = _loudness_db(x, SR)
        ref = max(float(np.percentile(db, 95)), -50.0)
        speech_rms = float(np.sqrt(np.mean(10 ** (db[db > ref - 30] / 10))))
        return x + rng.standard_normal(len(x)) * speech_rms / 10
    if kind == "telephone":
        return sosfiltfilt(butter(4, [300, 3400], btype="band", fs=SR, output="sos"), x)
    if kind == "compress":
        env = np.sqrt(np.convolve(x**2, np.ones(160) / 160, mode="same") + 1e-12)
        level = 20 * np.log10(env)
        gain_db = np.where(level > -30, -(level + 30) * 0.75, 0.0)
        gain_db = np.convolve(gain_db, np.ones(1600) / 1600, mode="same")
        y = x * 10 ** (gain_db / 20)
        return y * np.abs(x).max() / max(np.abs(y).max(), 1e-9)
    if kind == "reverb":
        t = np.arange(int(0.5 * SR)) / SR
        ir = rng.standard_normal(len(t)) * np.exp(-6.9 * t / 0.5)
        wet = fftconvolve(x, ir / np.sqrt((ir**2).sum()))[: len(x)]
        return 0.5 * x + 0.5 * wet * np.sqrt((x**2).mean() / max((wet**2).mean(), 1e-12))
    raise ValueError(kind)


def style_features(audio: np.ndarray, extractor: object) -> dict[str, float]:
    """The candidate statistics of one recording (the same 60-s excerpt as ``speech_style``)."""
    import librosa

    x = _analysis_excerpt(audio, SR, 60.0).astype(np.float32)
    db = _loudness_db(x, SR)
    ref = max(float(np.percentile(db, 95)), -50.0)
    speech = db > ref - 30
    out = dict.fromkeys(UNIVARIATE, float("nan"))
    n_sp = int(speech.sum())
    if n_sp < 10:
        return out
    sm = np.convolve(db, np.ones(12) / 12, mode="same")
    peaks = find_peaks(np.where(speech, sm, ref - 60), prominence=3.0, distance=8)
    on = np.flatnonzero(speech)
    out["rate"] = len(peaks) / (n_sp / 100)
    out["pause"] = 1.0 - float(speech[on[0]: on[-1] + 1].mean())
    out["loudstd"] = float(db[speech].std())
    f0, voiced20, _ = librosa.pyin(x, fmin=60, fmax=450, sr=SR, frame_length=1024, hop_length=320, center=True)
    voiced20 = voiced20 & np.isfinite(f0)
    voiced = np.zeros(len(db), bool)
    rep = np.repeat(voiced20, 2)[: len(db)]
    voiced[: len(rep)] = rep
    voiced &= speech
    vpk = peaks[voiced[peaks]]
    out["rate_voiced"] = len(vpk) / (n_sp / 100)
    dil = np.convolve(voiced.astype(float), np.ones(21), mode="same") > 0
    out["artic"] = len(vpk) / max(dil.sum() / 100, 0.1)
    ipi = np.diff(vpk) / 100
    ipi = ipi[ipi < 0.6]
    out["ipi"] = float(1 / np.median(ipi)) if len(ipi) >= 3 else float("nan")
    von = np.flatnonzero(voiced)
    if len(von) >= 10:
        span = ~voiced[von[0]: von[-1] + 1]
        out["vpause"] = float(sum(e - s for s, e in bool_runs(span) if e - s >= 15) / len(span))
        merged = voiced.copy()
        for s, e in bool_runs(~voiced):
            if e - s < 25 and s > 0 and e < len(voiced):
                merged[s:e] = True
        out["phrase"] = float(np.mean([(e - s) / 100 for s, e in bool_runs(merged)]))
        v = voiced20 & speech[::2][: len(voiced20)]
        if v.sum() >= 10:
            st = 12 * np.log2(f0[v] / np.median(f0[v]))
            lo, hi = np.percentile(st, [10, 90])
            out["f0range"] = float(hi - lo)
            out["f0std"] = float(1.4826 * np.median(np.abs(st - np.median(st))))
    num = int(len(x) / SR * 25)
    feats = np.asarray(extractor(x, num, 25.0), dtype=np.float64)  # type: ignore[operator]
    sp25 = speech[np.minimum(np.arange(num) * 4, len(speech) - 1)]
    unit = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-9)
    change = 1 - (unit[1:] * unit[:-1]).sum(1)
    sp_c = sp25[1:] & sp25[:-1]
    if sp_c.sum() >= 10:
        prom = 0.5 * float(np.median(change[sp_c]))
        out["encflux"] = len(find_peaks(np.where(sp_c, change, 0.0), prominence=prom, distance=1)) / (sp_c.sum() / 25)
        out["encstd"] = float(feats[sp25].std(0).mean())
    return out


def measure(roots: dict[str, Path], sets: np.ndarray, clips: np.ndarray) -> dict[str, np.ndarray]:
    """``{version: (clips, features)}`` for the original speech and every chain."""
    import torch

    from talkface.audio.features import get_extractor  # lazy: whisper loads only when measuring

    torch.set_num_threads(1)
    extractor = get_extractor("whisper-tiny.en")
    out = {v: np.full((len(clips), len(UNIVARIATE)), np.nan) for v in ["orig", *CHAINS]}
    for i, (g, c) in enumerate(zip(sets, clips, strict=True)):
        audio = np.asarray(load_clip(roots[str(g)] / "clips" / f"{c}.npz").audio, dtype=np.float64)
        for v in out:
            x = audio if v == "orig" else apply_chain(audio, v, seed=i)
            f = style_features(x, extractor)
            out[v][i] = [f[k] for k in UNIVARIATE]
        print(f"{g:12s} {c:45s} " + " ".join(f"{k} {out['orig'][i, j]:.3g}" for j, k in enumerate(UNIVARIATE)),
              flush=True)
    return out


class Scorer:
    """Per-clip cost of any calm weights, from the sweep's cache (3c's J)."""

    def __init__(self, sweep: dict[str, np.ndarray], axes: list[int]) -> None:
        """Keep log(generated) on the w grid and log(real) of the clips, on ``axes``."""
        self.lg = np.log(np.maximum(sweep["gen"], 1e-6)).mean(2)[:, :, axes]  # (clips, W, axes)
        self.lr = np.log(np.maximum(sweep["real"], 1e-6))[:, axes]
        self.grid = sweep["w_grid"]

    def clip_cost(self, w: np.ndarray, idx: np.ndarray, a: float, b: float) -> np.ndarray:
        """Cost per clip of ``idx`` at calm weights ``w`` (``(..., len(idx))``)."""
        n = len(self.grid) - 1
        pos = np.clip(w, 0, 1) * n
        lo = np.minimum(pos.astype(int), n - 1)
        fr = (pos - lo)[..., None]
        lg = self.lg[idx]
        e = lg[np.arange(len(idx)), lo] * (1 - fr) + lg[np.arange(len(idx)), lo + 1] * fr - self.lr[idx]
        return np.where(e > 0, a * e, -b * e).mean(-1)


def set_mean(cost: np.ndarray, sets: np.ndarray) -> np.ndarray:
    """J (mean over sets of the mean over clips) along the last axis."""
    return np.mean([cost[..., sets == g].mean(-1) for g in np.unique(sets)], axis=0)


def _logistic(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> np.ndarray:
    """L2 logistic regression (Newton); returns ``[bias, weights...]``."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(xb.shape[1])
    reg = np.eye(len(beta)) / c
    reg[0, 0] = 0
    for _ in range(50):
        p = 1 / (1 + np.exp(-xb @ beta))
        grad = xb.T @ (p - y) + reg @ beta
        hess = xb.T @ (xb * (p * (1 - p))[:, None]) + reg
        beta -= np.linalg.solve(hess, grad)
    return beta


class Detector:
    """A score from some statistics and a fitted (mid, width) switch on it."""

    def __init__(self, cols: list[int]) -> None:
        """Use the statistic columns ``cols``."""
        self.cols = cols

    def score(self, feats: np.ndarray) -> np.ndarray:
        """The oriented, standardised score (fit first)."""
        x = np.where(np.isnan(feats[:, self.cols]), self.fill, feats[:, self.cols])
        z = (x - self.mu) / self.sd
        s = z[:, 0] * self.sign if self.beta is None else np.hstack([np.ones((len(z), 1)), z]) @ self.beta
        return (s - self.smu) / self.ssd

    def fit(self, feats: np.ndarray, sets: np.ndarray, idx: np.ndarray, scorer: Scorer, a: float, b: float) -> None:
        """Fit the standardisation, orientation / logistic model and the switch on clips ``idx``."""
        x = feats[idx][:, self.cols]
        self.fill = np.nanmedian(x, axis=0)
        x = np.where(np.isnan(x), self.fill, x)
        self.mu, self.sd = x.mean(0), np.maximum(x.std(0), 1e-9)
        calm = (sets[idx] != "wild").astype(float)
        z = (x - self.mu) / self.sd
        self.beta = None
        if len(self.cols) == 1:
            self.sign = 1.0 if z[calm == 1, 0].mean() >= z[calm == 0, 0].mean() else -1.0
        else:
            self.beta = _logistic(z, calm)
        self.smu, self.ssd = 0.0, 1.0
        s = self.score(feats[idx])
        self.smu, self.ssd = float(s.mean()), float(max(s.std(), 1e-9))
        s = (s - self.smu) / self.ssd
        w = 1 / (1 + np.exp(-(s[None, None, :] - MIDS[:, None, None]) / WIDTHS[None, :, None]))
        j = set_mean(scorer.clip_cost(w, idx, a, b), sets[idx])
        m, k = np.unravel_index(np.argmin(j), j.shape)
        self.mid, self.width = float(MIDS[m]), float(WIDTHS[k])

    def weight(self, feats: np.ndarray) -> np.ndarray:
        """Calm weight of every row."""
        return 1 / (1 + np.exp(-(self.score(feats) - self.mid) / self.width))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman correlation over the finite ``x``."""
    from scipy.stats import spearmanr

    ok = np.isfinite(x)
    return float(spearmanr(x[ok], y[ok])[0])


def person(set_name: str, clip: str) -> str:
    """The person a clip shows (wild styletalk speakers have several clips; s1 is one person)."""
    if set_name != "wild":
        return "s1"
    name = clip.split("/")[0]
    return name.rsplit("_clip", 1)[0] if name.startswith("styletalk_") else name


def folds(sets: np.ndarray, clips: np.ndarray, k: int) -> np.ndarray:
    """Fold of every clip: wild persons and s1 clips dealt round-robin."""
    fold = np.empty(len(clips), int)
    persons = sorted({person(s, c) for s, c in zip(sets, clips, strict=True) if s == "wild"})
    for i, (s, c) in enumerate(zip(sets, clips, strict=True)):
        if s == "wild":
            fold[i] = persons.index(person(s, c)) % k
    s1 = np.flatnonzero(sets != "wild")
    fold[s1] = np.arange(len(s1)) % k
    return fold


def f0_range(x: np.ndarray, resolution: float) -> float:
    """``f0range`` of :func:`style_features` with another pYIN pitch resolution (semitones)."""
    import librosa

    x = _analysis_excerpt(x, SR, 60.0).astype(np.float32)
    db = _loudness_db(x, SR)
    speech = db > max(float(np.percentile(db, 95)), -50.0) - 30
    f0, voiced, _ = librosa.pyin(x, fmin=60, fmax=450, sr=SR, frame_length=1024, hop_length=320, center=True,
                                 resolution=resolution)
    v = voiced & np.isfinite(f0) & speech[::2][: len(voiced)]
    if v.sum() < 10:
        return float("nan")
    st = 12 * np.log2(f0[v] / np.median(f0[v]))
    lo, hi = np.percentile(st, [10, 90])
    return float(hi - lo)


def refit_f0(feats: dict[str, np.ndarray], roots: dict[str, Path], sets: np.ndarray, clips: np.ndarray,
             resolution: float) -> None:
    """Replace the ``f0range`` column of every version by pYIN at ``resolution`` semitones."""
    col = UNIVARIATE.index("f0range")
    for i, (g, c) in enumerate(zip(sets, clips, strict=True)):
        audio = np.asarray(load_clip(roots[str(g)] / "clips" / f"{c}.npz").audio, dtype=np.float64)
        for v in feats:
            feats[v][i, col] = f0_range(audio if v == "orig" else apply_chain(audio, v, seed=i), resolution)


def floor_rate(x: np.ndarray, floor_db: float) -> float:
    """The speaking rate with speech frames also at least ``floor_db`` above the 10th loudness percentile.

    ``speech_style`` counts frames within 30 dB of the 95th percentile as speech; in a noisy or
    compressed recording the pauses are that loud too, count as speech and lower the rate.
    """
    db = _loudness_db(_analysis_excerpt(x, SR, 60.0), SR)
    ref = max(float(np.percentile(db, 95)), -50.0)
    speech = db > max(ref - 30, float(np.percentile(db, 10)) + floor_db)
    if speech.sum() < 10:
        return 0.0
    sm = np.convolve(db, np.ones(12) / 12, mode="same")
    return len(find_peaks(np.where(speech, sm, ref - 60), prominence=3.0, distance=8)) / (speech.sum() / 100)


def floor_rates(feats: dict[str, np.ndarray], roots: dict[str, Path], sets: np.ndarray, clips: np.ndarray,
                floors: list[float]) -> None:
    """Append a :func:`floor_rate` column per floor to every version (original and chains)."""
    extra = {v: np.zeros((len(clips), len(floors))) for v in feats}
    for i, (g, c) in enumerate(zip(sets, clips, strict=True)):
        audio = np.asarray(load_clip(roots[str(g)] / "clips" / f"{c}.npz").audio, dtype=np.float64)
        for v in feats:
            x = audio if v == "orig" else apply_chain(audio, v, seed=i)
            extra[v][i] = [floor_rate(x, f) for f in floors]
    for v in feats:
        feats[v] = np.hstack([feats[v], extra[v]])


def length_check(feats: dict[str, np.ndarray], roots: dict[str, Path], sets: np.ndarray, clips: np.ndarray,
                 scorer: Scorer, names: list[str], seconds: float = 3.0, joined: int = 8) -> None:
    """Does a detector read the clip length? Wild clips cut to ``seconds``, s1 clips joined ``joined`` at a time.

    Every GRID s1 clip lasts 3 s and the wild ones 4-30 s, so a statistic of the clip's length (or of
    how much of whisper's 30-s window is padding) separates the sets as well as the style does. Each
    detector (fit on all clips) is re-applied to the middle ``seconds`` of every wild clip and to s1
    clips joined ``joined`` at a time; the share of decisions that flip is printed.
    """
    import torch

    from talkface.audio.features import get_extractor  # lazy: whisper loads only when measuring

    torch.set_num_threads(1)
    extractor = get_extractor("whisper-tiny.en")
    audios = [np.asarray(load_clip(roots[str(g)] / "clips" / f"{c}.npz").audio, dtype=np.float64)
              for g, c in zip(sets, clips, strict=True)]
    cut = feats["orig"].copy()
    n = int(seconds * SR)
    for i in np.flatnonzero(sets == "wild"):
        mid = max(0, (len(audios[i]) - n) // 2)
        cut[i] = [style_features(audios[i][mid: mid + n], extractor)[k] for k in UNIVARIATE]
    s1 = np.flatnonzero(sets != "wild")
    for j in range(0, len(s1), joined):
        group = s1[j: j + joined]
        f = style_features(np.concatenate([audios[i] for i in group]), extractor)
        cut[group] = [f[k] for k in UNIVARIATE]
    allidx = np.arange(len(sets))
    print(f"\nlength check: wild cut to the middle {seconds:g} s, s1 joined {joined} at a time (fit on all clips)")
    for name in names:
        cols = [UNIVARIATE.index(c) for c in COMBOS.get(name, [name])]
        det = Detector(cols)
        det.fit(feats["orig"], sets, allidx, scorer, 1.0, 1.0)
        before, after = det.weight(feats["orig"]) > 0.5, det.weight(cut) > 0.5
        meds = " ".join(f"{UNIVARIATE[c]} s1 {np.nanmedian(feats['orig'][s1, c]):.3g}->{np.nanmedian(cut[s1, c]):.3g}"
                        f" wild {np.nanmedian(feats['orig'][sets == 'wild', c]):.3g}->"
                        f"{np.nanmedian(cut[sets == 'wild', c]):.3g}" for c in cols)
        print(f"  {name:18s} flips: s1 {100 * np.mean(before[s1] != after[s1]):5.1f} %, wild "
              f"{100 * np.mean(before[sets == 'wild'] != after[sets == 'wild']):5.1f} %  (medians {meds})", flush=True)


def main() -> None:
    """Measure (or load) the statistics, cross-validate every detector, print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", help="the folders head_style_sweep.py measured")
    ap.add_argument("--sweep", required=True, help="head_style_sweep.py's --cache")
    ap.add_argument("--cache", default=None, help="npz of the statistics: read if it exists, else written")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--axes", nargs="*", default=["yaw", "pitch", "roll", "tx", "ty"])
    ap.add_argument("--length-check", nargs="*", default=None, metavar="DETECTOR",
                    help="re-apply these detectors to 3-s cuts of the wild clips and to joined s1 clips")
    ap.add_argument("--mask-floor", nargs="*", type=float, default=[], metavar="DB",
                    help="add the rate with speech frames also >= DB above the 10th loudness percentile")
    ap.add_argument("--f0-resolution", type=float, default=None,
                    help="re-measure f0range with this pYIN resolution (semitones; the cache has librosa's 0.1)")
    args = ap.parse_args()
    sweep = dict(np.load(args.sweep))
    sets, clips = sweep["set"], sweep["clip"]
    if args.cache and Path(args.cache).exists():
        feats = dict(np.load(args.cache))
    else:
        feats = measure({Path(d).name: Path(d) for d in args.data}, sets, clips)
        if args.cache:
            np.savez(args.cache, **feats)
    scorer = Scorer(sweep, [AXES.index(a) for a in args.axes])
    if args.f0_resolution is not None:
        refit_f0(feats, {Path(d).name: Path(d) for d in args.data}, sets, clips, args.f0_resolution)
    if args.length_check:
        length_check(feats, {Path(d).name: Path(d) for d in args.data}, sets, clips, scorer, args.length_check)
        return
    fold = folds(sets, clips, args.folds)
    allidx = np.arange(len(sets))
    names = list(UNIVARIATE)
    if args.mask_floor:
        floor_rates(feats, {Path(d).name: Path(d) for d in args.data}, sets, clips, args.mask_floor)
        names += [f"rate_floor{x:g}" for x in args.mask_floor]
    detectors = {n: [names.index(n)] for n in names}
    detectors.update({n: [names.index(c) for c in cs] for n, cs in COMBOS.items()})
    shipped = np.array([calm_weight(float(r), HeadMotionConfig()) for r in sweep["rate"]])
    rng = np.random.default_rng(0)
    boots = [np.concatenate([rng.choice(np.flatnonzero(sets == g), int((sets == g).sum())) for g in np.unique(sets)])
             for _ in range(args.bootstrap)]
    print(f"{len(sets)} clips, {len(np.unique(fold))} folds; wild persons "
          f"{len({person(s, c) for s, c in zip(sets, clips, strict=True) if s == 'wild'})}")
    print("medians (s1 / wild): " + ", ".join(
        f"{n} {np.nanmedian(feats['orig'][sets != 'wild', j]):.3g}/{np.nanmedian(feats['orig'][sets == 'wild', j]):.3g}"
        for j, n in enumerate(names)))
    amp = scorer.lr.mean(1)  # mean log real std over the axes
    print("within-set Spearman with the real amplitude (wild / s1): " + ", ".join(
        f"{n} {_spearman(feats['orig'][sets == 'wild', j], amp[sets == 'wild']):+.2f}/"
        f"{_spearman(feats['orig'][sets != 'wild', j], amp[sets != 'wild']):+.2f}" for j, n in enumerate(names)))
    for a, b in ((1.0, 1.0), (2.0, 1.0), (1.0, 2.0)):
        ship_cost = scorer.clip_cost(shipped, allidx, a, b)
        oof: dict[str, np.ndarray] = {}
        wmap: dict[str, np.ndarray] = {}
        for name, cols in detectors.items():
            w = np.empty(len(sets))
            for f in np.unique(fold):
                det = Detector(cols)
                det.fit(feats["orig"], sets, np.flatnonzero(fold != f), scorer, a, b)
                test = np.flatnonzero(fold == f)
                w[test] = det.weight(feats["orig"][test])
            oof[name], wmap[name] = scorer.clip_cost(w, allidx, a, b), w
        print(f"\na:b = {a:g}:{b:g}   shipped rate switch 4.0/0.15 (no CV): J {set_mean(ship_cost, sets):.3f}")
        flip_head = "flip %: " + " ".join(CHAINS) if a == b else ""
        print(f"{'detector':18s} {'J_CV':>6s} {'s1':>6s} {'wild':>6s} {'miss s1':>7s} {'miss wild':>9s} "
              f"{'gain vs rate (5-95 %)':>24s} {'gain vs shipped':>20s}  {flip_head}")
        for name, cols in detectors.items():
            c = oof[name]
            g = np.array([set_mean(oof["rate"][i], sets[i]) - set_mean(c[i], sets[i]) for i in boots])
            gs = np.array([set_mean(ship_cost[i], sets[i]) - set_mean(c[i], sets[i]) for i in boots])
            miss_s1 = int((wmap[name][sets != "wild"] < 0.5).sum())
            miss_w = int((wmap[name][sets == "wild"] > 0.5).sum())
            flips = ""
            if a == b:
                det = Detector(cols)
                det.fit(feats["orig"], sets, allidx, scorer, a, b)
                base = det.weight(feats["orig"]) > 0.5
                flips = " ".join(f"{100 * np.mean((det.weight(feats[v]) > 0.5) != base):5.1f}"
                                 for v in CHAINS)
            s1c, wc = c[sets != "wild"].mean(), c[sets == "wild"].mean()
            print(f"{name:18s} {set_mean(c, sets):6.3f} {s1c:6.3f} {wc:6.3f} "
                  f"{miss_s1:7d} {miss_w:9d} {np.mean(g):+7.3f} "
                  f"({np.percentile(g, 5):+.3f}..{np.percentile(g, 95):+.3f})"
                  f" {np.mean(gs):+7.3f} ({np.percentile(gs, 5):+.3f}..{np.percentile(gs, 95):+.3f})  {flips}",
                  flush=True)


if __name__ == "__main__":
    main()
