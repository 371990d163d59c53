"""Does the neck move with the jaw? The native renderer with and without neck anchors (issue 14).

Re-renders the requests that ``benchmarks/render_quality.py --save DIR`` kept with
:class:`talkface.render.NativeRenderer` at each ``RenderConfig.neck`` and reports, means over clips (the
clips after the first in brackets: on GRID the 6 unseen speakers):

* ``drag`` / ``chin``: mean absolute change (grey levels, 0-255) from the photo, over the model
  request's frames, of a band 0.35-0.6 of the nose-bridge-to-chin distance below the lower jaw points
  (neck, collar) and of a band ±0.1 around the jaw line (the chin, which should keep moving);
* ``lse_model`` / ``lse_oracle``: sync confidence of the mouth crops cut with the requested landmarks,
  for the model request and the oracle request;
* ``lmd_oracle``, ``lmdp_oracle``, ``open_oracle``: with the oracle request, LMD and pose-aligned LMD of
  dlib's track of the rendered frames to the real frames', and the opening dlib reads over the request.

Usage::

    python3 benchmarks/neck_anchor.py --saved OUT/save --neck 0 0.3
    python3 benchmarks/neck_anchor.py --saved W/save --neck 0 0.3 --oracle native:oracle
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def band(landmarks: np.ndarray, top: float, bottom: float) -> np.ndarray:
    """Polygon between ``top`` and ``bottom`` × (nose bridge to chin) below the lower jaw points."""
    lm = np.asarray(landmarks, np.float64)
    axis = lm[45] - lm[36]
    down = np.array([-axis[1], axis[0]]) / np.linalg.norm(axis)
    h = float(np.linalg.norm(lm[8] - lm[27]))
    return np.concatenate([lm[4:13] + top * h * down, (lm[4:13] + bottom * h * down)[::-1]])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--saved", required=True, type=Path, help="render_quality.py --save folder")
    p.add_argument("--neck", type=float, nargs="+", default=[0.0, 0.3], help="RenderConfig.neck values")
    p.add_argument("--model", default="native@0", help="saved variant whose request is the model's")
    p.add_argument("--oracle", default="native:oracle@0", help="saved variant whose request is the real motion")
    args = p.parse_args()

    import torch

    from talkface.eval.motion_metrics import landmark_distance
    from talkface.eval.render_metrics import opening_ratio, pose_aligned_lmd
    from talkface.eval.sync import SyncScorer, mouth_crops
    from talkface.face.detect import FaceDetector
    from talkface.face.landmarks import LandmarkDetector, track_landmarks
    from talkface.render.compose import NativeRenderer, RenderConfig

    torch.set_num_threads(1)
    sync, detector, predictor = SyncScorer(), FaceDetector(), LandmarkDetector()
    clips = [dict(np.load(f)) for f in sorted(args.saved.glob("*.npz"))]
    for neck in args.neck:
        res: dict[str, list[float]] = {k: [] for k in ("drag", "chin", "lse_model", "lse_oracle", "lmd_oracle",
                                                       "lmdp_oracle", "open_oracle")}
        for z in clips:
            photo, photo_lm, fps = z["real"][0], z["photo_lm"], float(z["fps"])
            masks = []
            for top, bottom in ((0.35, 0.6), (-0.1, 0.1)):
                m = np.zeros(photo.shape[:2], np.uint8)
                cv2.fillPoly(m, [np.round(band(photo_lm, top, bottom)).astype(np.int32)], 1)
                masks.append(m > 0)
            for kind, key in (("model", args.model), ("oracle", args.oracle)):
                req = z[f"{key}/req"]
                renderer = NativeRenderer(photo, photo_lm, req, RenderConfig(neck=neck))
                frames = np.stack([renderer(t) for t in req])
                res[f"lse_{kind}"].append(float(sync.score(mouth_crops(frames, req), z["audio"], 16000, fps).lse_c))
                if kind == "model":
                    d = np.abs(frames.astype(np.float32) - photo.astype(np.float32)).mean(-1)
                    res["drag"].append(float(d[:, masks[0]].mean()))
                    res["chin"].append(float(d[:, masks[1]].mean()))
                else:
                    lm = track_landmarks(frames, fps=fps, detector=detector, predictor=predictor).landmarks
                    res["lmd_oracle"].append(landmark_distance(lm, z["real_lm"]))
                    res["lmdp_oracle"].append(pose_aligned_lmd(lm, z["real_lm"]))
                    res["open_oracle"].append(opening_ratio(lm, req))
        cells = [f"{k} {np.nanmean(v):.3f} ({np.nanmean(v[1:]):.3f})" for k, v in res.items()]
        print(f"neck {neck}: " + ", ".join(cells), flush=True)


if __name__ == "__main__":
    main()
