"""How bright real teeth are over a photo's light estimates: the rule for the painted teeth's brightness.

For each clip of a prepared dataset (its ``manifest*.jsonl`` names each clip's source video) the first
frame is the photo, as ``talkface animate`` and ``benchmarks/render_quality.py`` take it. On the photo:
the cheeks' median luminance (:class:`talkface.render.mouth.MouthPalette`), the painted teeth's level
(its ``enamel``, with and without :func:`talkface.render.mouth.teeth_light`), the face's 99th luminance
percentile, the whole photo's, and the eye whites' (90th percentile inside the eye polygons). On the
real frames (the clip's tracked landmarks, source pixels) where the inner lips are apart by at least 15 %
of the inner mouth width: the 95th percentile of the inner mouth's luminance (the brightest teeth),
median over those frames. A clip with fewer than 3 such frames is left out.

Prints per clip the ratios to the cheeks and, per estimate, the spread (standard deviation of the log of
real teeth over the estimate, over clips: the smaller, the better the estimate predicts the teeth) and
the median ratio.

Usage::

    python3 benchmarks/teeth_light.py --data /work/prepared/wild --json wild.json
    python3 benchmarks/teeth_light.py --data /work/prepared/grid_s1_all --every 80 --json s1.json
    python3 benchmarks/teeth_light.py --data /work/prepared/grid7 --json grid7.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import av
import cv2
import numpy as np

from talkface.io.colour import LUMA
from talkface.render import mouth, mouth_light
from talkface.render.mouth import MouthPalette, face_bright

#: Inner-lip gap (share of the inner mouth width) from which a real frame counts as showing its teeth.
OPEN_FROM = 0.15


def _frames(path: str, count: int) -> list[np.ndarray]:
    """The first ``count`` frames of a video, RGB.

    Args:
        path: the video.
        count: how many frames at most.

    Returns:
        The frames, (H, W, 3) uint8 each.
    """
    out: list[np.ndarray] = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="rgb24"))
            if len(out) >= count:
                break
    return out


def _polygon(shape: tuple[int, ...], points: np.ndarray) -> np.ndarray:
    """A filled polygon's mask.

    Args:
        shape: the image's shape.
        points: (N, 2) the polygon.

    Returns:
        (H, W) bool mask.
    """
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask > 0


def photo_estimates(photo: np.ndarray, lm: np.ndarray) -> dict[str, float]:
    """The photo's light estimates.

    Args:
        photo: (H, W, 3) RGB uint8.
        lm: (68, 2) its landmarks.

    Returns:
        ``skin``, ``painted_skin_lit`` / ``painted`` (the palette's enamel luminance without / with the eye
        light), ``face99``, ``photo99``, ``sclera90``, ``width`` (inner mouth, pixels).
    """
    luma = photo.astype(np.float64) @ LUMA
    saved = mouth_light.SCLERA_LIGHT
    try:
        mouth_light.SCLERA_LIGHT = False
        skin_lit = MouthPalette.from_photo(photo, lm)
        mouth_light.SCLERA_LIGHT = True
        relit = MouthPalette.from_photo(photo, lm)
    finally:
        mouth_light.SCLERA_LIGHT = saved
    assert skin_lit.enamel is not None and relit.enamel is not None
    eyes = _polygon(photo.shape, lm[36:42]) | _polygon(photo.shape, lm[42:48])
    return {
        "skin": float(skin_lit.skin @ LUMA),
        "painted_skin_lit": float(skin_lit.enamel @ LUMA),
        "painted": float(relit.enamel @ LUMA),
        "face99": face_bright(photo, lm),
        "photo99": float(np.percentile(luma, 99)),
        "sclera90": float(np.percentile(luma[eyes], 90)) if eyes.sum() > 20 else float("nan"),
        "width": float(np.linalg.norm(lm[64] - lm[60])),
    }


def real_teeth(frames: list[np.ndarray], lms: np.ndarray) -> tuple[float, int] | None:
    """The real teeth's brightness: median over open frames of the inner mouth's 95th luminance percentile.

    Args:
        frames: the clip's frames.
        lms: (T, 68, 2) their landmarks.

    Returns:
        ``(level, frames used)``, None with fewer than 3 open frames.
    """
    levels = []
    for image, lm in zip(frames, lms, strict=True):
        width = max(float(np.linalg.norm(lm[64] - lm[60])), 1.0)
        if mouth.inner_gap(lm) / width < OPEN_FROM:
            continue
        values = image[_polygon(image.shape, lm[60:68])].astype(np.float64) @ LUMA
        if values.size >= 20:
            levels.append(float(np.percentile(values, 95)))
    return (float(np.median(levels)), len(levels)) if len(levels) >= 3 else None


def main() -> None:
    """Measure a prepared dataset's clips and print the estimates' spreads."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="prepared dataset (talkface preprocess)")
    parser.add_argument("--every", type=int, default=1, help="every n-th clip (sorted ids; 80 on GRID s1)")
    parser.add_argument("--frames", type=int, default=250, help="real frames read per clip at most")
    parser.add_argument("--json", type=Path, help="write the per-clip numbers here")
    args = parser.parse_args()
    sources: dict[str, str] = {}
    for manifest in sorted(args.data.glob("manifest*.jsonl")):
        for line in manifest.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("status") == "ok":
                sources[entry["id"]] = entry["source"]
    rows: dict[str, dict[str, float]] = {}
    for clip in sorted(sources)[:: args.every]:
        arrays = np.load(args.data / "clips" / f"{clip}.npz")
        lms = arrays["landmarks"].astype(np.float64)
        frames = _frames(sources[clip], min(args.frames, len(lms)))
        row = photo_estimates(frames[0], lms[0])
        teeth = real_teeth(frames, lms[: len(frames)])
        if teeth is None:
            continue
        row["real"], row["open_frames"] = teeth
        rows[clip] = row
        skin = row["skin"]
        print(f"{clip:48s} width {row['width']:5.1f}  real/skin {row['real'] / skin:.2f}  painted/skin "
              f"{row['painted_skin_lit'] / skin:.2f} -> {row['painted'] / skin:.2f}  sclera/skin "
              f"{row['sclera90'] / skin:.2f}", flush=True)
    print("| estimate | clips | sd of log(real / estimate) | median real / estimate |\n|---|---|---|---|")
    for key in ("painted_skin_lit", "painted", "skin", "face99", "photo99", "sclera90"):
        ratios = np.log([r["real"] / r[key] for r in rows.values() if np.isfinite(r[key]) and r[key] > 0])
        if ratios.size:
            print(f"| {key} | {ratios.size} | {np.std(ratios):.3f} | {np.exp(np.median(ratios)):.2f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
