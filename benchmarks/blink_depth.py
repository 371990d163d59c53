"""How closed a blink's apex reads: real blinks of a prepared dataset vs. rendered ones (issue 14).

dlib does not read a closed eye as EAR 0: this measures where real closed eyes sit, and whether the
rendered apexes reach them. Two modes:

``--mode real``: each clip's source video is tracked (``track_landmarks``, as the rendered frames
are); its deepest dip of the eye aspect ratio over the open level (the median EAR of the frames away
from any dip under 0.75 of the median) is the clip's apex; clips whose deepest dip stays above 0.75
have no blink. Beside it the detector-free closure at that apex
(:func:`talkface.eval.render_metrics.visible_eye_share`, an open frame of the clip as the photo,
over the open frames' share).

``--mode rendered``: each clip's first frame is the photo and its own speech drives
:meth:`talkface.pipeline.Animator.talking_head`; per clip ``apex`` (dlib's EAR at the deepest
requested apex over the rendered open eye's), ``closed``
(:func:`talkface.eval.render_metrics.blink_apex_ratio` over the blinks whose request closes the eye)
and ``vis`` (:func:`talkface.eval.render_metrics.blink_visible_share`). For comparison,
``--previous-lids`` draws the lids as before the margin band (thin lash line, lids meeting 0.35 of the
gap up), ``--margin-lids`` as before the lids met low (margin band, lash line above the edge over the
photo's iris), ``--bar-lids`` as before the lids were the photo's own lid skin (one smooth skin colour,
the lash line and margin band scaled with the eye alone; ``talkface.render.eyes.OWN_LID``).

Usage::

    python3 benchmarks/blink_depth.py --mode real --data /work/prepared/grid_s1_all --split test val \\
        --out /work/scratch/blinks_real --tiles real_apexes.png
    python3 benchmarks/blink_depth.py --mode rendered --data /work/prepared/grid7 --out /work/scratch/blinks_r
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from render_quality import downscale, speech_sources  # noqa: E402


def sources(data: Path, splits: list[str], max_clips: int) -> list[tuple[str, Path]]:
    """(clip id, source video) of the dataset's clips in ``splits`` ("all": every clip), manifest order."""
    wanted: set[str] | None = None
    if "all" not in splits:
        split_file = json.loads((data / "splits.json").read_text())
        wanted = {c for s in splits for c in split_file[s]}
    out: dict[str, Path] = {}
    for manifest in sorted(data.glob("manifest*.jsonl")):
        for line in manifest.read_text().splitlines():
            row = json.loads(line)
            if row.get("status") == "ok" and (wanted is None or row["id"] in wanted) and Path(row["source"]).is_file():
                out[row["id"]] = Path(row["source"])
    items = sorted(out.items())
    return items[:max_clips] if max_clips else items


def dips(ear: np.ndarray, below: float = 0.75) -> tuple[np.ndarray, float]:
    """Frames in or next to a dip under ``below`` of the median, and the open level (median away from them)."""
    low = ear < below * float(np.median(ear))
    near = low.copy()
    near[1:] |= low[:-1]
    near[:-1] |= low[1:]
    return near, float(np.median(ear[~near])) if (~near).any() else float(np.median(ear))


def eye_tile(frame: np.ndarray, lm: np.ndarray, width: int = 300) -> np.ndarray:
    """Both eyes of ``frame`` with dlib's eye points, ``width`` pixels wide."""
    c = frame.copy()
    for p in lm[36:48]:
        cv2.circle(c, (int(round(p[0])), int(round(p[1]))), 0, (0, 255, 0), -1)
    x0, y0 = lm[36:48].min(0) - 8
    x1, y1 = lm[36:48].max(0) + 8
    c = c[max(0, int(y0 - 4)) : int(y1 + 4), max(0, int(x0)) : int(x1)]
    return cv2.resize(c, (width, round(c.shape[0] * width / c.shape[1])), interpolation=cv2.INTER_NEAREST)


def dump(path: Path, frames: np.ndarray, fps: float, requested_ear: np.ndarray | None = None) -> None:
    """Frames (uint8 RGB), their rate and, for rendered clips, the requested EAR per frame, as one .npz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {} if requested_ear is None else {"requested_ear": np.asarray(requested_ear, np.float32)}
    np.savez_compressed(path, frames=np.asarray(frames, np.uint8), fps=np.float32(fps), **extra)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("real", "rendered"), required=True)
    p.add_argument("--data", required=True, type=Path, help="prepared dataset folder (manifest*.jsonl, splits.json)")
    p.add_argument("--out", required=True, type=Path, help="folder for results.json")
    p.add_argument("--split", nargs="+", default=["all"], help="splits to use (e.g. test val), or all")
    p.add_argument("--max-clips", type=int, default=0, help="0: all")
    p.add_argument("--seconds", type=float, default=3.0, help="first N seconds of each clip")
    p.add_argument("--head-motion", type=float, default=None, help="rendered: head motion (default: AnimateConfig's)")
    p.add_argument("--previous-lids", action="store_true", help="rendered: the lids before the margin band")
    p.add_argument("--margin-lids", action="store_true", help="rendered: the lids before they met low")
    p.add_argument("--bar-lids", action="store_true",
                   help="rendered: the lids before they were the photo's own (one skin colour, a lash bar)")
    p.add_argument("--tiles", type=Path, default=None, help="real: PNG of 8 apexes spread over the distribution")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dump", type=Path, default=None,
                   help="also write each clip's frames (and, rendered, the requested eye aspect ratio) to "
                        "DUMP/CLIP.npz for a second landmark detector (benchmarks/blink_mesh.py)")
    args = p.parse_args()

    import torch

    import talkface.render.eyes as lids
    from talkface.eval.render_metrics import blink_apex_ratio, blink_visible_share, visible_eye_share
    from talkface.face.detect import FaceDetector
    from talkface.face.eyes import eye_aspect_ratio
    from talkface.face.landmarks import LandmarkDetector, track_landmarks
    from talkface.io.media import read_audio, read_video
    from talkface.pipeline import AnimateConfig, Animator

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    detector, predictor = FaceDetector(), LandmarkDetector()
    animator = None
    if args.mode == "rendered":
        if args.previous_lids or args.margin_lids or args.bar_lids:
            lids.OWN_LID = False
        if args.previous_lids or args.margin_lids:
            lids.MEET, lids.LASH_OFFSET_CLOSED, lids.LASH_PROFILE, lids.COVER_UP = 0.35, 0.2, 2.0, 0.0
        if args.previous_lids:
            lids.SHADOW, lids.LASH_WIDTH = 0.0, 0.12
        extra = {} if args.head_motion is None else {"head_motion": args.head_motion}
        animator = Animator(AnimateConfig(threads=1, seed=args.seed, **extra))
    rows: list[dict[str, object]] = []
    speech = speech_sources(args.data)  # the styletalk clips' side-car .wav
    for clip, source in sources(args.data, args.split, args.max_clips):
        real, fps = read_video(source, max_duration_s=args.seconds)
        real = downscale(real, 1280)
        if args.mode == "real":
            if args.dump is not None:  # every clip: the second detector finds its own dips
                dump(args.dump / f"{clip}.npz", real, fps)
            lm = track_landmarks(real, fps=fps, detector=detector, predictor=predictor).landmarks
            ear = eye_aspect_ratio(lm)
            near, level = dips(ear)
            t = int(np.argmin(ear))
            if ear[t] >= 0.75 * float(np.median(ear)) or (~near).sum() < 3:
                continue
            o = int(np.argmin(np.where(near, np.inf, np.abs(ear - level))))  # an open frame: the "photo"
            opened = np.nonzero(~near)[0][::6]
            a, b = max(0, t - 1), min(len(ear), t + 2)
            apex = np.nanmean(visible_eye_share(real[a:b], lm[a:b], real[o], lm[o]), axis=1)
            base = float(np.nanmedian(np.nanmean(visible_eye_share(real[opened], lm[opened], real[o], lm[o]), axis=1)))
            row: dict[str, object] = {"clip": clip, "frame": t, "open_frame": o, "apex": float(ear[t]) / level,
                                      "vis": float(np.nanmin(apex)) / base if base > 0 else float("nan")}
        else:
            assert animator is not None
            photo = real[0]
            try:  # no audio track (styletalk_KristiNoem.mp4) or no face: say so, go on
                audio = read_audio(speech.get(source, source), max_duration_s=len(real) / fps)
                photo_lm = animator._face(photo, source)
            except Exception as exc:  # noqa: BLE001 - report and go on
                print(f"{clip}: skipped ({exc})", flush=True)
                continue
            frames = animator.talking_head(photo, audio)
            req = animator.last_requested_landmarks
            assert req is not None
            n = min(len(frames), len(req))
            frames, req = frames[:n], req[:n]
            lm = track_landmarks(frames, fps=fps, detector=detector, predictor=predictor).landmarks
            er, eg = eye_aspect_ratio(req), eye_aspect_ratio(lm)
            t = int(np.argmin(er))
            level = float(np.median(eg[er >= 0.9 * np.median(er)]))
            row = {"clip": clip, "frame": t, "apex": float(eg[max(0, t - 1) : t + 2].min()) / level,
                   "closed": blink_apex_ratio(lm, req, closed_below=0.4),
                   "vis": blink_visible_share(frames, lm, photo, photo_lm, req)}
            if args.dump is not None:
                dump(args.dump / f"{clip}.npz", frames, fps, requested_ear=er)
        rows.append(row)
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    summary = {}
    for key in ("apex", "closed", "vis"):
        vals = np.array([float(r[key]) for r in rows if key in r], np.float64)  # type: ignore[arg-type]
        vals = vals[~np.isnan(vals)]
        if len(vals):
            summary[key] = {"n": len(vals), "median": float(np.median(vals)), "mean": float(vals.mean()),
                            "p10": float(np.percentile(vals, 10)), "p90": float(np.percentile(vals, 90)),
                            "share_le_0.40": float((vals <= 0.40).mean())}
    print(json.dumps(summary, indent=1), flush=True)
    meta = {"command": " ".join(sys.argv), "load_average": os.getloadavg(), "summary": summary, "rows": rows}
    (args.out / "results.json").write_text(json.dumps(meta, indent=1) + "\n")
    if args.tiles is not None and args.mode == "real" and rows:
        ranked = sorted(rows, key=lambda r: float(r["apex"]))  # type: ignore[arg-type]
        picks = [ranked[int(k)] for k in np.linspace(0, len(ranked) - 1, min(8, len(ranked)))]
        sources_by_id = dict(sources(args.data, args.split, 0))
        tiles = []
        for r in picks:
            real, fps = read_video(sources_by_id[str(r["clip"])], max_duration_s=args.seconds)
            lm = track_landmarks(real, fps=fps, detector=detector, predictor=predictor).landmarks
            pair = [eye_tile(real[int(r[k])], lm[int(r[k])]) for k in ("open_frame", "frame")]  # type: ignore[call-overload]
            h = min(x.shape[0] for x in pair)
            tile = np.concatenate([x[:h] for x in pair], 1).copy()
            cv2.putText(tile, f"{r['clip']} {float(r['apex']):.2f}", (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,  # type: ignore[arg-type]
                        (255, 255, 0), 1, cv2.LINE_AA)
            tiles.append(tile)
        width = max(x.shape[1] for x in tiles)
        sheet = np.concatenate([np.pad(x, ((0, 2), (0, width - x.shape[1]), (0, 0))) for x in tiles], 0)
        cv2.imwrite(str(args.tiles), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
