"""How bright and what colour the inside of an open mouth is: real frames vs the rendered ones.

For every clip of a prepared dataset the first frame of the source video is the photo and the clip's
own speech drives it (:meth:`talkface.pipeline.Animator.talking_head`, as ``talkface animate``). On
every *open* frame (inner-lip gap at least ``--open`` of the inner mouth width, inner mouth at least
``--min-px`` wide) the inner-lip polygon (eroded by a pixel) is measured against the same frame's lips
(outer minus inner lip polygon): the real frames with the prepared track's landmarks, the rendered
ones with the landmarks the renderer was asked for (where it painted). Per clip, medians over the open
frames of:

* ``in_med``: the interior's median luminance over the lips' median luminance (a black hole: ~0.2;
  real HD mouths, teeth and tongue included: ~0.7);
* ``in_low``: the same over the lower 40 % of the opening (the tongue and lower teeth);
* ``rgb``: the interior's per-channel median over the lips' per-channel median (a dark red cavity
  keeps R over G and B like the lips);
* ``fifths``: the cavity's profile, top to bottom of the opening: the median luminance over the lips' in
  each fifth of the opening (middle half of the mouth's width, teeth left out: pixels brighter than 0.8
  of the lips and greyer than 0.35 saturation), over frames open by at least 0.2 (where the cavity shows);
* ``err``: the mean absolute difference of the rendered ``rgb`` from the real one (the interior's
  colour error, a share of the lips' colour).

Large mouths only matter here (``--min-px``, default 40: GRID's 30-35 px mouths are left out).
Before/after comparisons: run it twice, with ``PYTHONPATH`` on each version's ``src``.
``--save DIR`` writes each clip's real frames and landmarks as ``benchmarks/mouth_tiles.py --saved``
reads them (``real``, ``real_lm``, ``photo_lm``), for mouth crop tiles and LPIPS of the oracle request.

Usage::

    python3 benchmarks/mouth_cavity_stats.py --data /work/prepared/wild --seconds 4 --threads 1 \\
        --save /work/scratch/cavity/saved
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from talkface.io.colour import LUMA
from talkface.photo_video import resize_to


def _polygon(shape: tuple[int, ...], pts: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask


def _curve(points: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The lip curve through ``points`` (x sorted) at columns ``xs``, piecewise linear."""
    order = np.argsort(points[:, 0])
    return np.interp(xs, points[order, 0], points[order, 1])


def frame_stats(frame: np.ndarray, lm: np.ndarray) -> np.ndarray | None:
    """(5,) interior median luma / lips', lower 40 % median / lips', and per-channel medians / lips'; None
    when the polygon or the lips are too small to measure."""
    inner = cv2.erode(_polygon(frame.shape, lm[60:68]), np.ones((3, 3), np.uint8))
    lips = _polygon(frame.shape, lm[48:60])
    lips[cv2.dilate(_polygon(frame.shape, lm[60:68]), np.ones((5, 5), np.uint8)) > 0] = 0
    if inner.sum() < 20 or lips.sum() < 20:
        return None
    px, lip_px = frame[inner > 0].astype(np.float64), frame[lips > 0].astype(np.float64)
    lip_rgb = np.maximum(np.median(lip_px, 0), 1.0)
    lip_y = max(float(np.median(lip_px @ LUMA)), 1.0)
    ys, xs = np.nonzero(inner)
    top, bottom = (_curve(lm[list(idx)], xs) for idx in ((60, 61, 62, 63, 64), (60, 67, 66, 65, 64)))
    low = (ys - top) / np.maximum(bottom - top, 1e-3) > 0.6
    y = px @ LUMA
    low_med = float(np.median(y[low])) / lip_y if low.sum() >= 5 else float("nan")
    return np.array([float(np.median(y)) / lip_y, low_med, *(np.median(px, 0) / lip_rgb)])


def fifths(frame: np.ndarray, lm: np.ndarray) -> list[float]:
    """The cavity's median luminance over the lips' per fifth of the opening, top to bottom (see module doc)."""
    inner = cv2.erode(_polygon(frame.shape, lm[60:68]), np.ones((3, 3), np.uint8))
    lips = _polygon(frame.shape, lm[48:60])
    lips[cv2.dilate(inner, np.ones((7, 7), np.uint8)) > 0] = 0
    if inner.sum() < 20 or lips.sum() < 20:
        return [float("nan")] * 5
    lip_y = max(float(np.median(frame[lips > 0].astype(np.float64) @ LUMA)), 1.0)
    ys, xs = np.nonzero(inner)
    px = frame[ys, xs].astype(np.float64)
    top, bottom = (_curve(lm[list(idx)], xs) for idx in ((60, 61, 62, 63, 64), (60, 67, 66, 65, 64)))
    u = (ys - top) / np.maximum(bottom - top, 1e-3)
    y = px @ LUMA
    sat = (px.max(1) - px.min(1)) / np.maximum(px.max(1), 1.0)
    middle = np.abs(xs - 0.5 * (lm[60, 0] + lm[64, 0])) < 0.25 * float(np.linalg.norm(lm[64] - lm[60]))
    keep = middle & ~((y > 0.8 * lip_y) & (sat < 0.35))
    out = []
    for b in range(5):
        sel = keep & (u >= b / 5) & (u < (b + 1) / 5)
        out.append(float(np.median(y[sel])) / lip_y if sel.sum() > 3 else float("nan"))
    return out


def cavity_profile(frames: np.ndarray, lms: np.ndarray, min_px: float) -> np.ndarray:
    """(5,) medians of :func:`fifths` over the frames open by at least 0.2 of the inner width."""
    vals = []
    for frame, lm in zip(frames, lms, strict=True):
        width = float(np.linalg.norm(lm[64] - lm[60]))
        gap = float(np.linalg.norm(lm[[61, 62, 63]] - lm[[67, 66, 65]], axis=1).mean())
        if width >= min_px and gap >= 0.2 * width:
            vals.append(fifths(frame, lm))
    return np.nanmedian(vals, 0) if vals else np.full(5, np.nan)


def clip_stats(frames: np.ndarray, lms: np.ndarray, open_share: float, min_px: float) -> np.ndarray:
    """(5,) medians of :func:`frame_stats` over the open frames (NaN when none is open)."""
    vals = []
    for frame, lm in zip(frames, lms, strict=True):
        width = float(np.linalg.norm(lm[64] - lm[60]))
        gap = float(np.linalg.norm(lm[[61, 62, 63]] - lm[[67, 66, 65]], axis=1).mean())
        if width < min_px or gap < open_share * width:
            continue
        s = frame_stats(frame, lm)
        if s is not None:
            vals.append(s)
    return np.nanmedian(vals, 0) if vals else np.full(5, np.nan)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="prepared dataset folder (with manifest.jsonl)")
    p.add_argument("--clips", nargs="*", default=None, help="clip names (substrings); default: all")
    p.add_argument("--seconds", type=float, default=4.0, help="first N seconds of each clip")
    p.add_argument("--max-side", type=int, default=1280, help="frames are downscaled to this longer side")
    p.add_argument("--open", type=float, default=0.15, help="open frames: inner gap over inner width")
    p.add_argument("--min-px", type=float, default=40.0, help="open frames: inner mouth at least this wide")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, help="write per-clip rows here")
    p.add_argument("--save", type=Path, default=None, help="folder for mouth_tiles.py's <clip>.npz")
    args = p.parse_args()

    import torch

    from talkface.io.media import read_audio, read_video
    from talkface.pipeline import AnimateConfig, Animator

    torch.set_num_threads(args.threads)
    animator = Animator(AnimateConfig(threads=args.threads))
    rows = []
    for line in (args.data / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        clip = row["id"].split("/")[-1]
        if row.get("status") != "ok" or (args.clips and not any(c in clip for c in args.clips)):
            continue
        t0 = time.perf_counter()
        real, fps = read_video(row["source"], max_duration_s=args.seconds)
        with np.load(args.data / "clips" / f"{row['id']}.npz") as z:
            real_lm = z["landmarks"].astype(np.float64)
        width = real.shape[2]
        real = np.stack([resize_to(f, args.max_side) for f in real])
        real_lm = real_lm * (real.shape[2] / width)
        n = min(len(real), len(real_lm))
        real, real_lm = real[:n], real_lm[:n]
        photo = real[0]
        try:  # no audio track (styletalk_KristiNoem.mp4) or no face: say so, go on
            audio = read_audio(row.get("audio_source") or row["source"], max_duration_s=n / fps)
            frames = animator.talking_head(photo, audio)
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"{clip}: skipped ({exc})", flush=True)
            continue
        req = animator.last_requested_landmarks
        assert req is not None
        m = min(len(frames), len(req))
        real_s = clip_stats(real, real_lm, args.open, args.min_px)
        ours = clip_stats(frames[:m], req[:m], args.open, args.min_px)
        width = float(np.linalg.norm(real_lm[0, 64] - real_lm[0, 60]))
        prof_real = cavity_profile(real, real_lm, args.min_px)
        prof_ours = cavity_profile(frames[:m], req[:m], args.min_px)
        out = {"clip": clip, "size": f"{photo.shape[1]}x{photo.shape[0]}", "inner_px": round(width, 1),
               "fifths_real": [round(float(x), 3) for x in prof_real],
               "fifths_ours": [round(float(x), 3) for x in prof_ours],
               "real": [round(float(x), 3) for x in real_s], "ours": [round(float(x), 3) for x in ours],
               "err": round(float(np.mean(np.abs(real_s[2:] - ours[2:]))), 3)}
        rows.append(out)
        print(f"{clip[:26]:26s} {out['size']:>9s} inner {width:5.1f} px  real in_med {real_s[0]:.3f} low "
              f"{real_s[1]:.3f} rgb {real_s[2]:.2f} {real_s[3]:.2f} {real_s[4]:.2f} | ours in_med {ours[0]:.3f} "
              f"low {ours[1]:.3f} rgb {ours[2]:.2f} {ours[3]:.2f} {ours[4]:.2f} | err {out['err']:.3f} "
              f"({time.perf_counter() - t0:.0f} s)\n    fifths real {out['fifths_real']} ours {out['fifths_ours']}",
              flush=True)
        if args.save is not None:
            args.save.mkdir(parents=True, exist_ok=True)
            photo_lm = animator._face(photo, row["source"])
            np.savez(args.save / f"{clip}.npz", real=real, real_lm=real_lm.astype(np.float32),
                     photo_lm=photo_lm.astype(np.float32))
    valid = [r for r in rows if np.isfinite(r["err"])]
    if valid:
        print(f"clips with open large mouths: {len(valid)}; mean err {np.mean([r['err'] for r in valid]):.3f}; "
              f"mean in_med real {np.mean([r['real'][0] for r in valid]):.3f} "
              f"ours {np.mean([r['ours'][0] for r in valid]):.3f}")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
