"""Blink depth read by a second landmark detector: MediaPipe's face mesh (issue 14, evaluation only).

dlib's 68-point model does not read a *real* closed eye much under 0.47 of the open eye's aspect
ratio (docs/render.md, "Blink depth"), so "EAR <= 0.40 of open at a blink's apex" cannot be judged by
it. MediaPipe's face mesh (478 points with ``refine_landmarks``, its eye contours refined by an
attention model) follows the lids of a closed eye. This script reads the clips that
``benchmarks/blink_depth.py --dump DIR`` wrote and measures the same apex ratios with the mesh:

- rendered clips (``requested_ear`` in the .npz): ``apex`` = the mesh EAR at the deepest requested
  apex (its minimum over that frame and the one either side) over the mesh EAR of the frames whose
  request is open (>= 0.9 of the requested median); ``closed`` = the mean of that over every
  requested blink whose requested apex is < 0.4 of open (as ``blink_apex_ratio(closed_below=0.4)``);
- real clips: the deepest dip of the mesh EAR over the open level (the median away from any dip under
  0.75 of the median), ``blink_depth.py --mode real``'s rule; clips with no such dip have no blink.

MediaPipe 0.10.21 (the last release with the face mesh model inside the wheel) pins numpy < 2, so it
runs in its own environment; it does not import talkface::

    python3 -m venv /work/mpvenv && /work/mpvenv/bin/pip install mediapipe==0.10.21
    python3 benchmarks/blink_depth.py --mode rendered --data /work/prepared/grid7 --out OUT --dump DUMP
    /work/mpvenv/bin/python benchmarks/blink_mesh.py DUMP --out DUMP/mesh.json --tiles DUMP/mesh.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

# the six points of each eye in the order of the 68-point EAR (corner, two upper, corner, two lower)
RIGHT_EYE = (33, 160, 158, 133, 153, 144)
LEFT_EYE = (362, 385, 387, 263, 373, 380)


def ear_one(pts: np.ndarray) -> np.ndarray:
    """(n, 6, 2) eye points -> (n,) eye aspect ratio."""
    a = np.linalg.norm(pts[:, 1] - pts[:, 5], axis=-1)
    b = np.linalg.norm(pts[:, 2] - pts[:, 4], axis=-1)
    c = np.linalg.norm(pts[:, 0] - pts[:, 3], axis=-1)
    return (a + b) / (2.0 * np.maximum(c, 1e-6))


def track(frames: np.ndarray) -> np.ndarray:
    """(n, 478, 2) mesh points in pixels per frame (NaN where no face), video mode (tracking)."""
    import mediapipe as mp  # only in the mesh's own environment (it pins numpy < 2)

    n, h, w = frames.shape[:3]
    out = np.full((n, 478, 2), np.nan, np.float64)
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                                         min_detection_confidence=0.3, min_tracking_confidence=0.3) as mesh:
        for i, frame in enumerate(frames):
            res = mesh.process(np.ascontiguousarray(frame))
            if res.multi_face_landmarks:
                lm = res.multi_face_landmarks[0].landmark
                out[i] = [(p.x * w, p.y * h) for p in lm]
    return out


def mesh_ear(points: np.ndarray) -> np.ndarray:
    """(n, 478, 2) mesh points -> (n,) eye aspect ratio, mean of both eyes."""
    return 0.5 * (ear_one(points[:, list(RIGHT_EYE)]) + ear_one(points[:, list(LEFT_EYE)]))


def rendered_row(ear: np.ndarray, req: np.ndarray) -> dict[str, float | int]:
    """Apex and closed ratios of a rendered clip from its mesh EAR and the requested EAR per frame."""
    n = min(len(ear), len(req))
    ear, req = ear[:n], req[:n]
    open_req = float(np.median(req))
    is_open = (req >= 0.9 * open_req) & ~np.isnan(ear)
    level = float(np.nanmedian(ear[is_open] if is_open.any() else ear))
    t = int(np.argmin(req))
    ratios: list[float] = []
    low = req < 0.6 * open_req
    u = 0
    while u < n:  # one value per requested blink that closes the eye
        if low[u]:
            v = u
            while v < n and low[v]:
                v += 1
            if float(req[u:v].min()) < 0.4 * open_req:
                ratios.append(float(np.nanmin(ear[max(0, u - 1) : v + 1])) / level)
            u = v
        else:
            u += 1
    return {"frame": t, "apex": float(np.nanmin(ear[max(0, t - 1) : t + 2])) / level,
            "closed": float(np.mean(ratios)) if ratios else float("nan"), "open_level": level}


def real_row(ear: np.ndarray) -> dict[str, float | int] | None:
    """The deepest dip of a real clip's mesh EAR over its open level; None without a blink."""
    med = float(np.nanmedian(ear))
    low = ear < 0.75 * med
    near = low.copy()
    near[1:] |= low[:-1]
    near[:-1] |= low[1:]
    away = ~near & ~np.isnan(ear)
    if away.sum() < 3:
        return None
    level = float(np.median(ear[away]))
    t = int(np.nanargmin(ear))
    if ear[t] >= 0.75 * med:
        return None
    return {"frame": t, "apex": float(ear[t]) / level, "open_level": level}


def eye_tile(frame: np.ndarray, points: np.ndarray, width: int = 300) -> np.ndarray:
    """Both eyes of ``frame`` with the mesh's twelve eye points, ``width`` pixels wide."""
    c = frame.copy()
    idx = list(RIGHT_EYE) + list(LEFT_EYE)
    for p in points[idx]:
        if not np.isnan(p).any():
            cv2.circle(c, (int(round(p[0])), int(round(p[1]))), 0, (0, 255, 0), -1)
    box = points[idx]
    x0, y0 = np.nanmin(box, 0) - 8
    x1, y1 = np.nanmax(box, 0) + 8
    c = c[max(0, int(y0 - 4)) : int(y1 + 4), max(0, int(x0)) : int(x1)]
    return cv2.resize(c, (width, round(c.shape[0] * width / c.shape[1])), interpolation=cv2.INTER_NEAREST)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dump", type=Path, help="folder of CLIP.npz written by blink_depth.py --dump")
    p.add_argument("--out", type=Path, required=True, help="results .json")
    p.add_argument("--tiles", type=Path, default=None,
                   help="PNG: each clip's open eye and apex with the mesh's eye points")
    args = p.parse_args()
    files = sorted(args.dump.rglob("*.npz"))
    if not files:
        sys.exit(f"error: no .npz files in {args.dump} (write them with blink_depth.py --dump)")
    rows: list[dict[str, object]] = []
    tiles: list[np.ndarray] = []
    for f in files:
        name = f.relative_to(args.dump).with_suffix("").as_posix()
        data = np.load(f)
        frames = data["frames"]
        points = track(frames)
        ear = mesh_ear(points)
        if np.isnan(ear).mean() > 0.5:
            print(f"{name}: the mesh found no face in most frames, skipped", flush=True)
            continue
        row = rendered_row(ear, data["requested_ear"]) if "requested_ear" in data else real_row(ear)
        if row is None:
            print(f"{name}: no blink", flush=True)
            continue
        row = {"clip": name, **row}
        rows.append(row)
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
        if args.tiles is not None:
            t = int(row["frame"])  # type: ignore[call-overload]
            o = int(np.nanargmin(np.abs(ear - float(row["open_level"]))))  # type: ignore[arg-type]
            pair = [eye_tile(frames[k], points[k]) for k in (o, t)]
            h = min(x.shape[0] for x in pair)
            tile = np.concatenate([x[:h] for x in pair], 1).copy()
            cv2.putText(tile, f"{name} {float(row['apex']):.2f}", (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,  # type: ignore[arg-type]
                        (255, 255, 0), 1, cv2.LINE_AA)
            tiles.append(tile)
    summary = {}
    for key in ("apex", "closed"):
        vals = np.array([float(r[key]) for r in rows if key in r], np.float64)  # type: ignore[arg-type]
        vals = vals[~np.isnan(vals)]
        if len(vals):
            summary[key] = {"n": len(vals), "median": float(np.median(vals)), "mean": float(vals.mean()),
                            "share_le_0.40": float((vals <= 0.40).mean())}
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(sys.argv), "summary": summary, "rows": rows}, indent=1) + "\n")
    if tiles:
        width = max(x.shape[1] for x in tiles)
        sheet = np.concatenate([np.pad(x, ((0, 2), (0, width - x.shape[1]), (0, 0))) for x in tiles], 0)
        cv2.imwrite(str(args.tiles), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
