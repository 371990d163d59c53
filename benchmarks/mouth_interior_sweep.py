"""The painted mouth interior's brightness and contrast against the real frames', and the sync model's view.

Re-renders the requests that ``benchmarks/render_quality.py --save DIR`` kept (a model request, e.g.
``native@0``, and the real clip's own motion, ``native:oracle@0``) with :class:`talkface.render.NativeRenderer`
under several settings of the painted interior (:mod:`talkface.render.mouth`: ``CAVITY_LEVEL``,
``TEETH_GAIN``, ``LOWER_TEETH_FROM``, ``LOWER_TEETH_LIGHT``) and reports, per setting, means over clips:

* ``lse_c`` / ``lse_c_oracle``: sync confidence (:class:`talkface.eval.sync.SyncScorer`) of the mouth
  crops cut with the requested landmarks (``benchmarks/sync_probe.py``: the same as from a dlib track
  within 0.004 for the native renderer), for the model request and the oracle request;
* ``mouth_lpips_oracle`` / ``open_ratio_oracle``: with the oracle request (pixel-aligned with the real
  frames), mouth-crop LPIPS against the real frames and the opening dlib reads over the requested
  (as ``render_quality.py``);
* ``lmd`` / ``open_ratio`` / ``lse_c_tracked``: with the model request, LMD of dlib's landmarks on the
  rendered frames to the real frames' (as ``render_quality.py``), the opening dlib reads over the
  requested, and LSE-C of mouth crops cut with dlib's track (as ``render_quality.py``);
* ``in_mean`` / ``in_std`` / ``in_p10`` / ``in_p90``: grey level inside the inner lips (eroded 1 px)
  over the lips' own, on frames open by ≥ 0.12 of the mouth width, with the oracle request (the real
  frames' geometry; the ``real`` row: the real frames with their dlib track).

A setting is ``CAVITY_LEVEL,TEETH_GAIN,LOWER_TEETH_FROM,LOWER_TEETH_LIGHT`` (fixed levels), ``warp``
(nothing painted), ``adaptive`` (levels from each photo's eye contrast, ``RenderConfig.adaptive_mouth``:
:func:`talkface.render.mouth.interior_levels`) or ``adaptive:C,T`` (the same with reference levels
``REF_CAVITY_LEVEL`` C and ``REF_TEETH_GAIN`` T). ``--stats-only`` renders the oracle request only and
reports the interior statistics (to calibrate the reference levels on GRID s1 train clips).

Usage::

    python3 benchmarks/mouth_interior_sweep.py --saved OUT/save --settings 0.3,1,0.2,0.55 0.55,0.8,0.1,0.8
    python3 benchmarks/mouth_interior_sweep.py --saved OUT/save --settings 0.3,1,0.2,0.55 adaptive --tile t.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def interior_stats(frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(4,) mean, std, 10th and 90th percentile of the inner-lip grey over the lips' mean, open frames."""
    from talkface.render.mouth import inner_gap

    vals = []
    for frame, lm in zip(frames, landmarks, strict=True):
        if inner_gap(lm) < 0.12 * np.linalg.norm(lm[64] - lm[60]):
            continue
        g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        inner = np.zeros(g.shape, np.uint8)
        cv2.fillPoly(inner, [np.round(lm[60:68]).astype(np.int32)], 1)
        inner = cv2.erode(inner, np.ones((3, 3), np.uint8))
        lips = np.zeros(g.shape, np.uint8)
        cv2.fillPoly(lips, [np.round(lm[48:60]).astype(np.int32)], 1)
        lips[cv2.dilate(inner, np.ones((5, 5), np.uint8)) > 0] = 0
        if inner.sum() < 5 or lips.sum() < 5:
            continue
        gi, ref = g[inner > 0], float(g[lips > 0].mean())
        vals.append([gi.mean() / ref, gi.std() / ref, np.percentile(gi, 10) / ref, np.percentile(gi, 90) / ref])
    return np.mean(vals, 0) if vals else np.full(4, np.nan)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--saved", required=True, type=Path, help="render_quality.py --save folder")
    p.add_argument("--model", default="native@0", help="saved variant whose request is the model's")
    p.add_argument("--oracle", default="native:oracle",
                   help="saved variant whose request is the real motion (with its head pose: pixel-aligned)")
    p.add_argument("--settings", nargs="+", default=["0.3,1,0.2,0.55"],
                   help="CAVITY_LEVEL,TEETH_GAIN,LOWER_TEETH_FROM,LOWER_TEETH_LIGHT; 'warp': nothing painted")
    p.add_argument("--tile", type=Path, default=None, help="PNG: mouths of the first clip, one row per setting")
    p.add_argument("--tile-clips", type=int, default=1, help="clips in the tile (a block of rows each)")
    p.add_argument("--stats-only", action="store_true", help="oracle request only, interior statistics only")
    args = p.parse_args()

    import torch

    from talkface.eval.metrics import lpips
    from talkface.eval.motion_metrics import landmark_distance
    from talkface.eval.render_metrics import mouth_crops as lpips_crops
    from talkface.eval.render_metrics import opening_ratio
    from talkface.eval.sync import SyncScorer, mouth_crops
    from talkface.face.detect import FaceDetector
    from talkface.face.landmarks import LandmarkDetector, track_landmarks
    from talkface.nets.vgg import LPIPS
    from talkface.render import mouth, mouth_light
    from talkface.render.compose import NativeRenderer, RenderConfig

    torch.set_num_threads(1)
    sync = SyncScorer()
    lp, detector, predictor = LPIPS(), FaceDetector(), LandmarkDetector()
    files = sorted(args.saved.glob("*.npz"))
    keys = ["real", "real_lm", "audio", "fps", "photo_lm", f"{args.oracle}/req"]
    keys += [] if args.stats_only else [f"{args.model}/req"]
    clips = [{k: z[k] for k in keys} for z in map(np.load, files)]  # only what is used (wild clips are large)
    print("| setting | lse_c | lse_c (6 unseen) | lse_c_tracked | lmd | open_ratio | lse_c_oracle | mouth_lpips_oracle "
          "| open_ratio_oracle | in_mean | in_std | in_p10 | in_p90 |")
    print("|---" * 13 + "|")
    real_stats = np.nanmean([interior_stats(z["real"], z["real_lm"]) for z in clips], 0)
    real_lse = [0.0] if args.stats_only else [
        float(sync.score(mouth_crops(z["real"], z["real_lm"]), z["audio"], 16000, float(z["fps"])).lse_c)
        for z in clips]
    lse_cells = "- | -" if args.stats_only else f"{np.mean(real_lse):.3f} | {np.mean(real_lse[1:]):.3f}"
    print(f"| real | {lse_cells} | - | 0 | - | - | 0 | - | " + " | ".join(f"{x:.3f}" for x in real_stats) + " |")
    tiles: list[np.ndarray] = []
    defaults = (mouth_light.REF_CAVITY_LEVEL, mouth_light.REF_TEETH_GAIN)
    kinds = (("oracle", args.oracle),) if args.stats_only else (("model", args.model), ("oracle", args.oracle))
    for setting in args.settings:
        style = "warp" if setting == "warp" else "painted"
        adaptive = setting.startswith("adaptive")
        if adaptive:
            ref = setting.partition(":")[2]
            mouth_light.REF_CAVITY_LEVEL, mouth_light.REF_TEETH_GAIN = (
                (float(x) for x in ref.split(",")) if ref else defaults)
        elif style == "painted":
            mouth.CAVITY_LEVEL, mouth.TEETH_GAIN, mouth.LOWER_TEETH_FROM, mouth.LOWER_TEETH_LIGHT = (
                float(x) for x in setting.split(","))
        lse: dict[str, list[float]] = {"model": [], "oracle": [], "tracked": []}
        stats, lpips_, opened, lmd, opened_model = [], [], [], [], []
        for z in clips:
            photo, photo_lm = z["real"][0], z["photo_lm"]
            for kind, key in kinds:
                req = z[f"{key}/req"]
                renderer = NativeRenderer(photo, photo_lm, req, RenderConfig(mouth=style, adaptive_mouth=adaptive))
                frames = np.stack([renderer(t) for t in req])
                if args.stats_only:
                    stats.append(interior_stats(frames, req))
                    if args.tile is not None and any(z is c for c in clips[: args.tile_clips]):
                        tiles.append(_tile(frames, req, setting))
                    continue
                lse[kind].append(float(sync.score(mouth_crops(frames, req), z["audio"], 16000, float(z["fps"])).lse_c))
                if kind == "model":
                    tracked = track_landmarks(frames, fps=float(z["fps"]), detector=detector, predictor=predictor)
                    lmd.append(landmark_distance(tracked.landmarks, z["real_lm"]))
                    opened_model.append(opening_ratio(tracked.landmarks, req))
                    lse["tracked"].append(float(sync.score(mouth_crops(frames, tracked.landmarks), z["audio"], 16000,
                                                           float(z["fps"])).lse_c))
                if kind == "oracle":
                    stats.append(interior_stats(frames, req))
                    lpips_.append(lpips(lpips_crops(z["real"], z["real_lm"]), lpips_crops(frames, z["real_lm"]),
                                        model=lp, stride=3))
                    tracked = track_landmarks(frames, fps=float(z["fps"]), detector=detector, predictor=predictor)
                    opened.append(opening_ratio(tracked.landmarks, req))
                    if args.tile is not None and any(z is c for c in clips[: args.tile_clips]):
                        tiles.append(_tile(frames, req, setting))
        s = np.nanmean(stats, 0)
        if args.stats_only:
            print(f"| {setting} |" + " - |" * 8 + " " + " | ".join(f"{x:.3f}" for x in s) + " |", flush=True)
            continue
        print(f"| {setting} | {np.mean(lse['model']):.3f} | {np.mean(lse['model'][1:]):.3f} | "
              f"{np.mean(lse['tracked']):.3f} | {np.mean(lmd):.3f} | {np.nanmean(opened_model):.3f} | "
              f"{np.mean(lse['oracle']):.3f} | {np.mean(lpips_):.3f} | {np.nanmean(opened):.3f} | "
              + " | ".join(f"{x:.3f}" for x in s) + " |", flush=True)
    if args.tile is not None and tiles:
        # tiles were made setting by setting, clip by clip: regroup into a block of rows per clip
        n = min(args.tile_clips, len(clips))
        rows = []
        for c in range(n):
            z = clips[c]
            rows.append(_tile(z["real"], z["real_lm"], "real", ref=z[f"{args.oracle}/req"]))
            rows += tiles[c::n]
        cv2.imwrite(str(args.tile), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))


def _tile(frames: np.ndarray, lm: np.ndarray, name: str, ref: np.ndarray | None = None) -> np.ndarray:
    """The mouths of the five widest openings of ``ref`` (default ``lm``), 4× enlarged, in one row."""
    from talkface.eval.motion_metrics import mouth_opening

    ref = lm if ref is None else ref
    picks = sorted(int(i) for i in np.argsort(mouth_opening(ref))[::-1][:5])
    out = []
    for i in picks:
        pts = lm[i, 48:60]
        c, w = pts.mean(0), float(np.ptp(pts[:, 0]))
        x0, y0 = int(c[0] - w), int(c[1] - 0.7 * w)
        t = frames[i, y0 : int(c[1] + 0.8 * w), x0 : int(c[0] + w)]
        out.append(cv2.resize(t, (240, 180), interpolation=cv2.INTER_CUBIC))
    row = np.concatenate(out, 1).copy()
    cv2.putText(row, name, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
    return row


if __name__ == "__main__":
    main()
