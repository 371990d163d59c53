"""What the mouth LMD of the motion request is made of: static bias, dynamics, axes, lag, gain, pauses.

For every clip of prepared datasets whose stored feature is the default model's (the
``whisper-tiny.en+hama`` copies in ``/work/scratch/mot15/``): the clip's first frame is the photo and its
own speech drives the shipped model, exactly as ``talkface animate`` builds the request
(:func:`talkface.motion.render.predict_landmarks` with the bundle's motion and blink models, the
clip's stored features, the photo's landmarks = the prepared ``landmarks[0]``). The real track is the
prepared ``landmarks``, the still is frame 0 repeated. Everything is compared as LMD compares it:
each frame similarity-aligned onto the canonical face in a 128-px crop
(:func:`talkface.eval.motion_metrics.crop_aligned`), the 20 mouth points, crop pixels.

Per row (means over clips, medians for ratios):

* ``LMD`` (= :func:`talkface.eval.motion_metrics.landmark_distance`);
* ``bias``: the static part: per point the time-mean of (row - real), its length averaged over the
  points; ``bias x`` / ``bias y`` its mean |x| / |y| part;
* ``dyn``: the LMD left when that per-clip static offset is removed (only the motion about the
  mean is wrong); ``dyn/LMD``;
* ``corners`` / ``upper`` / ``lower``: LMD over the corner points (48, 54, 60, 64), the upper lip
  (49-53, 61-63), the lower lip (55-59, 65-67); ``err x`` / ``err y``: mean |x| / |y| error;
* ``lag``: per clip the shift of the row in [-5, 5] frames (positive = the row delayed) with the lowest
  LMD, mean over clips, and the LMD at it;
* ``g*``: one gain on the row's motion about its rest (the photo with the mouth closed as the row
  closes it: the row at ``motion_scale`` 0) for the whole set, the LMD-optimal one of 0-2.5, and its LMD:
  what an LMD that rewards damping would choose;
* ``open std`` / ``open mean``: the inner-lip opening's std and mean over the real one's (median over
  clips; a damped mouth has std < 1); ``corr``: its correlation with the real opening; ``speed``: mean
  |frame-to-frame change| of the mouth points over the real one's (median);
* ``LMD speech`` / ``LMD pause``: over speech / pause frames
  (:func:`talkface.motion.amplitude.speech_presence` of the clip's speech, > 0.5 = speech).

A second table per dataset shows whether averaging the two ensemble members damps the motion: each
member alone and their plain mean, without the pause gate and normalisation, at head motion 0.

``--points`` adds a table per dataset of every mouth point and axis (head motion 0; x+ to the image's
right, y+ down; means over clips, medians for ``corr`` and ``std``): ``real`` / the request rows' ``mean``:
the speech-mean displacement from the photo's rest (the photo with the mouth closed as the request closes
it) of the real track and of the request; ``|bias|``: the time-mean error's size of the request and of the
still; ``corr``: the correlation of the request's motion about its mean with the real one's; ``std``: its
std over the real one's. It shows which part of the request transfers to other people: on the unseen sets
the model's mean posture at the corners (down and in) does not, their motion about it mostly does
(docs/motion.md section 6a).

Usage::

    python3 benchmarks/lmd_decomposition.py /work/scratch/mot15/grid6_mix /work/scratch/mot15/grid_s1_mix:val \\
        /work/scratch/mot15/wild_mix
    python3 benchmarks/lmd_decomposition.py /work/scratch/mot15/wild_mix --points
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from talkface.animate_config import animate_default
from talkface.audio.extractor import SAMPLE_RATE
from talkface.audio.features import get_extractor, num_video_frames
from talkface.audio.windows import audio_rms_per_frame
from talkface.bundle import load_bundle
from talkface.data.dataset import Clip, PreparedDataset
from talkface.eval.motion_metrics import crop_aligned
from talkface.eval.report.inputs import at_rate
from talkface.face.geometry import MOUTH_POINTS, mouth_opening
from talkface.motion.amplitude import MOUTH_REQUESTS, speech_presence
from talkface.motion.ensemble import LGANEnsemble
from talkface.motion.render import predict_landmarks
from talkface.motion.retarget import close_mouth, mouth_is_open, retarget

MOUTH = list(MOUTH_POINTS)
GROUPS = {"corners": (48, 54, 60, 64), "upper": (49, 50, 51, 52, 53, 61, 62, 63),
          "lower": (55, 56, 57, 58, 59, 65, 66, 67)}
LAGS = range(-5, 6)
GAINS = np.round(np.arange(0.0, 2.51, 0.125), 3)


def aligned(landmarks: np.ndarray) -> np.ndarray:
    """(T, 20, 2) float64 mouth points in the 128-px LMD crop."""
    return crop_aligned(np.asarray(landmarks, np.float64))[:, MOUTH].astype(np.float64)


def lmd(a: np.ndarray, b: np.ndarray) -> float:
    """Mean point distance of two (T, 20, 2) aligned mouth tracks."""
    return float(np.linalg.norm(a - b, axis=-1).mean())


def lagged_lmd(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    """LMD with ``a`` delayed by ``lag`` frames (``a[t - lag]`` against ``b[t]``, the overlap only)."""
    n = len(a)
    lo, hi = max(0, lag), min(n, n + lag)
    return lmd(a[lo - lag:hi - lag], b[lo:hi])


def ratio(x: float, y: float) -> float:
    """``x / y``, NaN when ``y`` is ~0."""
    return x / y if abs(y) > 1e-12 else float("nan")


def describe(row_lm: np.ndarray, real_lm: np.ndarray, speech: np.ndarray,
             base_lm: np.ndarray | None) -> dict[str, float]:
    """The decomposition of one clip's row (module doc); ``base_lm``: the row's rest (gain 0), or None."""
    a, b = aligned(row_lm), aligned(real_lm)
    err = a - b
    bias = err.mean(axis=0)
    out: dict[str, float] = {
        "LMD": lmd(a, b),
        "bias": float(np.linalg.norm(bias, axis=-1).mean()),
        "bias x": float(np.abs(bias[:, 0]).mean()),
        "bias y": float(np.abs(bias[:, 1]).mean()),
        "dyn": lmd(a - bias, b),
        "err x": float(np.abs(err[..., 0]).mean()),
        "err y": float(np.abs(err[..., 1]).mean()),
    }
    out["dyn/LMD"] = out["dyn"] / out["LMD"]
    for name, points in GROUPS.items():
        idx = [MOUTH.index(p) for p in points]
        out[name] = lmd(a[:, idx], b[:, idx])
    on = speech > 0.5
    out["LMD speech"] = lmd(a[on], b[on]) if on.any() else float("nan")
    out["LMD pause"] = lmd(a[~on], b[~on]) if (~on).any() else float("nan")
    op, op_real = mouth_opening(row_lm).astype(np.float64), mouth_opening(real_lm).astype(np.float64)
    out["open std"] = ratio(float(op.std()), float(op_real.std()))
    out["open mean"] = ratio(float(op.mean()), float(op_real.mean()))
    out["corr"] = float(np.corrcoef(op, op_real)[0, 1]) if op.std() > 1e-9 and op_real.std() > 1e-9 else float("nan")
    out["speed"] = ratio(float(np.abs(np.diff(a, axis=0)).mean()), float(np.abs(np.diff(b, axis=0)).mean()))
    if base_lm is not None and op.std() > 1e-9:
        lags = {k: lagged_lmd(a, b, k) for k in LAGS}
        best = min(lags, key=lambda k: lags[k])
        out["lag"], out["LMD at lag"] = float(best), lags[best]
        a0 = aligned(base_lm)
        for g in GAINS:
            out[f"gain {g}"] = lmd(a0 + g * (a - a0), b)
    return out


Rows = dict[str, dict[str, float]]

#: The requests the ``--points`` table shows (rows of :func:`rows_of_clip`, head motion 0).
POINT_ROWS = ("request @0", "request (model_corners) @0")


def point_stats(rows: dict[str, np.ndarray], real_lm: np.ndarray, rest: np.ndarray,
                speech: np.ndarray) -> dict[str, np.ndarray]:
    """Per mouth point and axis (each (20, 2)): the ``--points`` numbers of one clip (module doc).

    Args:
        rows: name -> (T, 68, 2) landmarks of the requests in :data:`POINT_ROWS` and ``"still"``.
        real_lm: (T, 68, 2) the real track.
        rest: (68, 2) the photo's rest (its mouth closed as the request closes it).
        speech: (T,) speech presence.
    """
    b, r0 = aligned(real_lm), aligned(rest[None])[0]
    on = speech > 0.5
    if not on.any():
        on = np.ones(len(b), bool)
    out = {"real": b[on].mean(0) - r0, "still |bias|": np.abs((aligned(rows["still"]) - b).mean(0))}
    db = b - b.mean(0)
    for name in POINT_ROWS:
        a = aligned(rows[name])
        da = a - a.mean(0)
        out[f"{name} mean"] = a[on].mean(0) - r0
        out[f"{name} |bias|"] = np.abs((a - b).mean(0))
        out[f"{name} corr"] = (da * db).mean(0) / np.sqrt((da ** 2).mean(0) * (db ** 2).mean(0) + 1e-12)
        out[f"{name} std"] = np.sqrt((da ** 2).mean(0) / ((db ** 2).mean(0) + 1e-12))
    return out


def point_table(title: str, per_clip: list[dict[str, np.ndarray]]) -> str:
    """A markdown table of :func:`point_stats` over clips: one row per mouth point and axis."""
    keys = list(per_clip[0])
    stack = {k: np.stack([c[k] for c in per_clip]) for k in keys}
    agg = {k: np.median(v, 0) if k.endswith(("corr", "std")) else v.mean(0) for k, v in stack.items()}
    lines = [f"\n{title}\n", "| point | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for j, p in enumerate(MOUTH):
        for axis, name in enumerate("xy"):
            lines.append(f"| {p} {name} | " + " | ".join(f"{agg[k][j, axis]:+.2f}" for k in keys) + " |")
    return "\n".join(lines)


def rows_of_clip(clip: Clip, bundle: object, seed: int) -> tuple[Rows, Rows, dict[str, np.ndarray]]:
    """The decomposition of every row of one clip, the ensemble-member rows and the per-point numbers.

    A clip at another frame rate than the model's (30 fps wild clips) is compared at the model's frame times
    (:func:`talkface.eval.report.inputs.at_rate`: the real frame nearest each requested frame), and its speech
    features are extracted from its speech at the model's rate, as ``animate`` does (the stored ones are at the
    clip's rate).
    """
    lgan, blink = bundle.lgan, bundle.blink  # type: ignore[attr-defined]
    fps = float(lgan.config.fps)
    picked = at_rate(len(clip.landmarks), clip.fps, fps)
    real = np.asarray(clip.landmarks, np.float64)[picked]
    photo = real[0]
    if abs(clip.fps - fps) <= 1e-3:
        feats = np.asarray(clip.features, np.float32)
    else:
        extractor = get_extractor(lgan.config.feature_name)
        feats = extractor(np.asarray(clip.audio, np.float32), num_video_frames(len(clip.audio), SAMPLE_RATE, fps), fps)
    image = np.zeros((8, 8, 3), np.uint8)  # not read: the photo's landmarks are given

    def request(**kw: object) -> np.ndarray:
        """The request as ``animate`` makes it with AnimateConfig's defaults (head motion, blink rate), or ``kw``."""
        kw = {"head_motion": animate_default("head_motion"), **kw}
        return predict_landmarks(image, clip.audio, lgan, blink, seed=seed, person_landmarks=photo, features=feats,
                                 blink_rate=animate_default("blink_rate"), **kw)  # type: ignore[arg-type]

    made: dict[str, tuple[np.ndarray, np.ndarray | None]] = {"still": (np.repeat(photo[None], len(real), 0), None)}
    for name in MOUTH_REQUESTS:
        label = "request" if name == "centred" else f"request ({name})"
        made[label] = (request(mouth=name), None)
        made[f"{label} @0"] = (request(mouth=name, head_motion=0.0), request(mouth=name, head_motion=0.0,
                                                                           motion_scale=0.0))
    made["raw (no normalisation) @0"] = (request(normalise_mouth=False, head_motion=0.0),
                                         request(normalise_mouth=False, head_motion=0.0, motion_scale=0.0))
    n = min(len(real), *(len(x) for x, _ in made.values()))
    speech = speech_presence(audio_rms_per_frame(clip.audio, n, fps))
    rows = {k: describe(x[:n], real[:n], speech, None if base is None else base[:n]) for k, (x, base) in made.items()}
    rest = made["request @0"][1]
    points = point_stats({k: made[k][0][:n] for k in ("still", *POINT_ROWS)}, real[:n],
                         photo if rest is None else rest[0], speech)

    members: dict[str, dict[str, float]] = {}
    if isinstance(lgan, LGANEnsemble):
        neutral = lgan.canonical_neutral.cpu().numpy()
        rest = close_mouth(photo, float(mouth_opening(neutral))) if mouth_is_open(photo) else photo
        preds = [m.predict_canonical(feats[:, a:b]) for m, (a, b) in zip(lgan.nets(), lgan.slices, strict=True)]
        w = lgan.weights.cpu().numpy()
        preds.append(sum(float(wi) * p for wi, p in zip(w, preds, strict=True)))  # type: ignore[arg-type]
        for k, p in enumerate(preds):
            name = f"member {k} ({lgan.nets()[k].config.feature_name})" if k < len(w) else "mean of the members"
            lm = retarget(p[:n], neutral, rest)
            members[name] = describe(lm, real[:n], speech, np.repeat(rest[None], n, 0))
        o0, o1 = (mouth_opening(retarget(p[:n], neutral, rest)) for p in preds[:2])
        members["mean of the members"]["members' opening corr"] = float(np.corrcoef(o0, o1)[0, 1])
    return rows, members, points


COLUMNS = ["LMD", "bias", "bias x", "bias y", "dyn", "dyn/LMD", "corners", "upper", "lower", "err x", "err y",
           "lag", "LMD at lag", "g*", "LMD at g*", "open std", "open mean", "corr", "speed", "LMD speech",
           "LMD pause"]
MEDIAN = {"open std", "open mean", "speed"}


def summarise(per_clip: list[dict[str, float]]) -> dict[str, float]:
    """Means (medians for ratios) over clips; the set-wide LMD-optimal gain ``g*``."""
    keys = per_clip[0].keys()
    out = {k: float(np.nanmedian([c.get(k, np.nan) for c in per_clip]) if k in MEDIAN
                    else np.nanmean([c.get(k, np.nan) for c in per_clip])) for k in keys}
    gains = {g: out[f"gain {g}"] for g in GAINS if f"gain {g}" in out}
    if gains:
        best = min(gains, key=lambda g: gains[g])
        out["g*"], out["LMD at g*"] = float(best), gains[best]
    return out


def table(title: str, rows: dict[str, dict[str, float]], columns: list[str]) -> str:
    """A markdown table of the summarised rows."""
    lines = [f"\n{title}\n", "| row | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for name, r in rows.items():
        cells = ["–" if not np.isfinite(r.get(c, np.nan)) else f"{r[c]:.3f}" if c not in ("lag", "g*")
                 else f"{r[c]:+.2f}" if c == "lag" else f"{r[c]:.3f}".rstrip("0").rstrip(".") for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Print the decomposition tables of each dataset (``PATH[:SPLIT]``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", help="prepared dataset with the model's feature, PATH or PATH:SPLIT")
    ap.add_argument("--max-clips", type=int, default=0, help="per dataset, 0: all")
    ap.add_argument("--seed", type=int, default=0, help="blink and head-motion seed, as animate's --seed")
    ap.add_argument("--json", type=Path, default=None, help="also write the summaries here")
    ap.add_argument("--points", action="store_true", help="also the per-point, per-axis table (module doc)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Mean of empty slice")
    bundle = load_bundle(None, "cpu", texture=False)
    fps = float(bundle.lgan.config.fps)
    results: dict[str, object] = {}
    for spec in args.data:
        root, _, split = spec.partition(":")
        ds = PreparedDataset(root)
        if ds.feature_name != bundle.lgan.config.feature_name:
            raise SystemExit(f"{spec}: stored feature {ds.feature_name}, the model reads "
                             f"{bundle.lgan.config.feature_name} (use a re-featured copy)")
        per: dict[str, list[dict[str, float]]] = {}
        mem: dict[str, list[dict[str, float]]] = {}
        pts: list[dict[str, np.ndarray]] = []
        other_rates = 0
        for clip in ds.clips(split or None):
            if args.max_clips and len(next(iter(per.values()), [])) >= args.max_clips:
                break
            other_rates += abs(clip.fps - fps) > 1e-3
            rows, members, points = rows_of_clip(clip, bundle, args.seed)
            pts.append(points)
            for k, v in rows.items():
                per.setdefault(k, []).append(v)
            for k, v in members.items():
                mem.setdefault(k, []).append(v)
        clips = len(next(iter(per.values()), []))
        summary = {k: summarise(v) for k, v in per.items()}
        members = {k: summarise(v) for k, v in mem.items()}
        head = f"{spec}: {clips} clips" + (f" ({other_rates} not at {fps:g} fps: compared at its frame times)"
                                            if other_rates else f" at {fps:g} fps")
        show: Callable[[str, dict[str, dict[str, float]], list[str]], str] = table
        print(show(head, summary, COLUMNS), flush=True)
        if members:
            cols = ["LMD", "bias", "dyn", "lag", "open std", "open mean", "corr", "speed", "members' opening corr"]
            print(show(f"{spec}: ensemble members (no pause gate, no normalisation, head motion 0)", members, cols))
        if args.points and pts:
            print(point_table(f"{spec}: per mouth point and axis, head motion 0 (crop px)", pts), flush=True)
        results[spec] = {"clips": clips, "rows": summary, "members": members}
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
