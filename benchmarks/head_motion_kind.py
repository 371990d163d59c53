"""Is the generated head motion of the kind real speakers make? Real vs requested landmarks, per clip.

For every clip of prepared datasets whose stored feature is the default model's (the
``whisper-tiny.en+hama`` copies in ``/work/scratch/mot15/``), as ``benchmarks/lmd_decomposition.py``
builds the request: the clip's first frame is the photo, its speech drives the shipped model
(:func:`talkface.motion.render.predict_landmarks`, ``animate``'s default head motion and blink rate).
Three tracks: ``real`` (the prepared ``landmarks``), ``request`` (default head motion) and
``request @0`` (head motion 0). Per track (means over clips):

* ``t``, ``rot``, ``scale``: the per-frame least-squares similarity of the stable points
  (:data:`talkface.face.align.STABLE_POINTS`, what LMD aligns on) onto the first frame's: std over time
  of the stable points' centroid shift (its length, in first-frame inter-ocular distances, eye centres),
  of the rotation (degrees) and of the log scale (x 100, i.e. ~percent);
* ``yaw`` / ``pitch``: std over time of :func:`talkface.motion.head.estimate_pose` (degrees; on a real
  track it includes dlib's landmark jitter read as rotation);
* ``resid``: the non-similarity residual: per frame the RMS over the stable points of the LMD-aligned
  frame (:func:`talkface.eval.motion_metrics.crop_aligned`, 128-px crop) minus the aligned first frame,
  mean over frames (crop px); ``resid sm``: the same on the track smoothed over 7 frames (a centred
  moving average), so landmark jitter mostly drops out and what stays is slow yaw/pitch (and expression);
* ``mouth yp``: the aligned mouth's displacement (crop px, LMD's unit) that the track's own yaw/pitch
  induce: the first frame moved by the estimated yaw and pitch relative to the first frame's
  (:func:`talkface.motion.head.apply_head_motion`, no roll/translation/scale, which the alignment removes),
  against the first frame, after LMD's alignment (:func:`talkface.eval.motion_metrics.landmark_distance`);
* ``mouth hm`` (request only): the exact effect of the head motion on LMD's aligned mouth: LMD of the
  request against the same request at head motion 0; ``LMD`` / ``LMD @0``: LMD against the real track
  with / without head motion.

Usage::

    python3 benchmarks/head_motion_kind.py /work/scratch/mot15/grid6_mix /work/scratch/mot15/wild_mix:10
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from talkface.animate_config import animate_default
from talkface.bundle import load_bundle
from talkface.data.dataset import PreparedDataset
from talkface.eval.motion_metrics import crop_aligned, landmark_distance
from talkface.face.align import STABLE_POINTS, _umeyama
from talkface.motion.head import HeadMotion, apply_head_motion, estimate_pose
from talkface.motion.render import predict_landmarks

STABLE = list(STABLE_POINTS)
SMOOTH = 7


def smooth(lm: np.ndarray, k: int = SMOOTH) -> np.ndarray:
    """Centred moving average over ``k`` frames (edges padded by repetition)."""
    pad = np.concatenate([np.repeat(lm[:1], k // 2, 0), lm, np.repeat(lm[-1:], k // 2, 0)])
    c = np.cumsum(np.concatenate([np.zeros_like(lm[:1]), pad]), axis=0)
    return (c[k:] - c[:-k]) / k


def residual(lm: np.ndarray) -> float:
    """Mean over frames of the RMS non-similarity change of the stable points from frame 0 (crop px)."""
    a = crop_aligned(lm).astype(np.float64)[:, STABLE]
    return float(np.sqrt(((a - a[:1]) ** 2).sum(-1).mean(-1)).mean())


def kind(lm: np.ndarray, neutral: np.ndarray) -> dict[str, float]:
    """The numbers of one track (module doc)."""
    lm = np.asarray(lm, np.float64)
    ref = lm[0]
    iod = float(np.linalg.norm(ref[42:48].mean(0) - ref[36:42].mean(0)))
    src = lm[:, STABLE]
    scale, rot, _ = _umeyama(src, np.broadcast_to(ref[STABLE][None], src.shape).copy())
    shift = np.linalg.norm(src.mean(1) - ref[STABLE].mean(0), axis=-1) / iod
    pose = estimate_pose(lm)
    rel = pose - pose[:1]
    yp = np.zeros_like(rel)
    yp[:, :2] = rel[:, :2]
    moved = apply_head_motion(np.repeat(ref[None], len(lm), 0), ref, neutral, HeadMotion(yp, np.zeros(len(lm))))
    return {
        "t": float(shift.std()),
        "rot": float(np.degrees(np.arctan2(rot[:, 1, 0], rot[:, 0, 0])).std()),
        "scale": float(100 * np.log(scale).std()),
        "yaw": float(pose[:, 0].std()),
        "pitch": float(pose[:, 1].std()),
        "resid": residual(lm),
        "resid sm": residual(smooth(lm)),
        "mouth yp": landmark_distance(moved, np.repeat(ref[None], len(lm), 0)),
    }


COLUMNS = ["t", "rot", "scale", "yaw", "pitch", "resid", "resid sm", "mouth yp", "mouth hm", "LMD", "LMD @0"]


def main() -> None:
    """Print one table per dataset (``PATH[:MAX_CLIPS]``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", help="prepared dataset with the model's feature, PATH or PATH:MAX_CLIPS")
    ap.add_argument("--seed", type=int, default=0, help="blink and head-motion seed, as animate's --seed")
    ap.add_argument("--per-clip", action="store_true", help="also print every clip's rows")
    args = ap.parse_args()
    torch.set_num_threads(1)
    bundle = load_bundle(None, "cpu", texture=False)
    lgan, blink = bundle.lgan, bundle.blink
    fps = float(lgan.config.fps)
    neutral = lgan.canonical_neutral.cpu().numpy().astype(np.float64)
    hm = animate_default("head_motion")
    for spec in args.data:
        root, _, cap = spec.partition(":")
        per: dict[str, list[dict[str, float]]] = {"real": [], "request": [], "request @0": []}
        for clip in PreparedDataset(root).clips(None):
            if cap and len(per["real"]) >= int(cap):
                break
            if abs(clip.fps - fps) > 1e-3:
                continue
            real = np.asarray(clip.landmarks, np.float64)
            feats = np.asarray(clip.features, np.float32)
            tracks = {}
            for name, h in (("request", hm), ("request @0", 0.0)):
                tracks[name] = np.asarray(predict_landmarks(
                    np.zeros((8, 8, 3), np.uint8), clip.audio, lgan, blink, seed=args.seed, person_landmarks=real[0],
                    features=feats, blink_rate=animate_default("blink_rate"), head_motion=h), np.float64)
            n = min(len(real), *(len(x) for x in tracks.values()))
            tracks = {"real": real[:n], **{k: v[:n] for k, v in tracks.items()}}
            for name, lm in tracks.items():
                row = kind(lm, neutral)
                if name != "real":
                    row["LMD"] = landmark_distance(lm, real[:n])
                if name == "request":
                    row["mouth hm"] = landmark_distance(lm, tracks["request @0"])
                per[name].append(row)
                if args.per_clip:
                    print(clip.clip_id, name, " ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
        for r, r0 in zip(per["request"], per["request @0"], strict=True):
            r["LMD @0"] = r0["LMD"]
        print(f"\n{spec}: {len(per['real'])} clips\n")
        print("| track | " + " | ".join(COLUMNS) + " |\n|---|" + "---|" * len(COLUMNS))
        for name, rows in per.items():
            cells = [f"{np.mean([r[c] for r in rows]):.3f}" if c in rows[0] else "–" for c in COLUMNS]
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
