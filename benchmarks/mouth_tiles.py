"""Mouth crops of the real frames beside the painted interior, same frames, real motion (PNG tiles to look at).

For each clip that ``benchmarks/render_quality.py --save DIR`` kept, the photo (the clip's first frame)
is rendered with :class:`talkface.render.NativeRenderer` from the real frames' own dlib landmarks (the
oracle request: pixel-aligned with the real frames, so the painted interior can be compared with the
real one at the same opening), at the frames whose real opening is at several quantiles (from the
median to the widest). Rows per clip: ``real``, optionally ``before`` (the painting of another version
of ``render/mouth.py``, e.g. ``git show REV:src/talkface/render/mouth.py > before.py``), ``now``.
With ``--metrics`` it also prints, per clip and painting, over every 3rd frame: the face box's
Laplacian variance over the real frames' (``sharp_lap``), mouth-crop LPIPS against the real frames
and the interior's grey statistics over the lips' (``benchmarks/mouth_interior_sweep.py``).

Usage::

    git show 48bee98:src/talkface/render/mouth.py > /tmp/mouth_before.py
    python3 benchmarks/mouth_tiles.py --saved OUT/save --clips bbaf2n lbbc2a pwij3p \\
        --before /tmp/mouth_before.py --tile teeth.png
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("mouth_before", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mouth_before"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _render(
    photo: np.ndarray, photo_lm: np.ndarray, req: np.ndarray, idx: list[int], painting: ModuleType
) -> np.ndarray:
    """Frames ``idx`` of ``req`` rendered with ``painting``'s ``paint_mouth`` / ``MouthPalette`` (shading on)."""
    from talkface.render import compose

    saved = compose.paint_mouth, compose.MouthPalette
    compose.paint_mouth, compose.MouthPalette = painting.paint_mouth, painting.MouthPalette  # type: ignore[attr-defined]
    try:
        renderer = compose.NativeRenderer(photo, photo_lm, req, compose.RenderConfig(shading=1.0))
        return np.stack([renderer(req[i]) for i in idx])
    finally:
        compose.paint_mouth, compose.MouthPalette = saved


def _crop(frame: np.ndarray, lm: np.ndarray, size: int) -> np.ndarray:
    """The mouth (1.8 x 1.3 outer mouth widths around the lips) resized to ``size`` pixels wide."""
    pts = lm[48:60]
    c, w = pts.mean(0), float(np.ptp(pts[:, 0]))
    x0, y0 = max(0, int(c[0] - 0.9 * w)), max(0, int(c[1] - 0.65 * w))
    t = frame[y0 : int(c[1] + 0.65 * w), x0 : int(c[0] + 0.9 * w)]
    inter = cv2.INTER_CUBIC if t.shape[1] < size else cv2.INTER_AREA
    return cv2.resize(t, (size, int(size * 1.3 / 1.8)), interpolation=inter)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--saved", required=True, type=Path, help="render_quality.py --save folder")
    p.add_argument("--clips", nargs="*", default=None, help="clip names (substrings); default: all")
    p.add_argument("--before", type=Path, default=None, help="another render/mouth.py for a 'before' row")
    p.add_argument("--tile", type=Path, default=None, help="PNG to write")
    p.add_argument("--picks", type=int, default=5, help="frames per clip")
    p.add_argument("--size", type=int, default=180, help="width of one mouth crop in the tile")
    p.add_argument("--metrics", action="store_true", help="print sharpness, LPIPS and interior statistics")
    args = p.parse_args()

    from talkface.render import mouth
    from talkface.render.mouth import inner_gap

    paintings = {"now": mouth} if args.before is None else {"before": _load(args.before), "now": mouth}
    files = sorted(args.saved.glob("*.npz"))
    if args.clips:
        files = [f for f in files if any(c in f.stem for c in args.clips)]
    if not files:
        raise SystemExit(f"no saved clips in {args.saved}")
    blocks, lp = [], None
    for f in files:
        with np.load(f) as z:
            real, real_lm, photo_lm = z["real"], z["real_lm"].astype(np.float64), z["photo_lm"].astype(np.float64)
        photo = real[0]
        rel = np.array([inner_gap(lm) / max(float(np.linalg.norm(lm[64] - lm[60])), 1e-6) for lm in real_lm])
        order = np.argsort(rel)
        idx = sorted({int(order[int(q * (len(order) - 1))]) for q in np.linspace(0.55, 1.0, args.picks)})
        rows = [("real", real[idx])] + [(k, _render(photo, photo_lm, real_lm, idx, m)) for k, m in paintings.items()]
        width = float(np.linalg.norm(photo_lm[64] - photo_lm[60]))
        label = f"{f.stem[:28]} {photo.shape[1]}x{photo.shape[0]}, inner mouth {width:.0f} px"
        block = []
        for name, frames in rows:
            row = np.concatenate([_crop(fr, real_lm[i], args.size) for fr, i in zip(frames, idx, strict=True)], 1)
            row = np.ascontiguousarray(row)
            text = name + (f"  {label}" if name == "real" else "")
            cv2.putText(row, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 0), 1, cv2.LINE_AA)
            block.append(row)
        blocks.append(np.concatenate(block, 0))
        if args.metrics:
            lp = _metrics(f.stem, real, real_lm, photo, photo_lm, paintings, lp)
    if args.tile is not None:
        wmax = max(b.shape[1] for b in blocks)
        blocks = [np.pad(b, ((0, 4), (0, wmax - b.shape[1]), (0, 0))) for b in blocks]
        cv2.imwrite(str(args.tile), cv2.cvtColor(np.concatenate(blocks, 0), cv2.COLOR_RGB2BGR))


def _metrics(clip: str, real: np.ndarray, real_lm: np.ndarray, photo: np.ndarray, photo_lm: np.ndarray,
             paintings: dict[str, ModuleType], lp: object) -> object:
    """Print sharp_lap, mouth LPIPS and interior statistics per painting; returns the LPIPS net for reuse."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from mouth_interior_sweep import interior_stats

    from talkface.eval.metrics import lpips
    from talkface.eval.render_metrics import laplacian_var, mouth_crops
    from talkface.nets.vgg import LPIPS

    net = LPIPS() if lp is None else lp
    idx = list(range(0, len(real_lm), 3))
    ref = laplacian_var(real[idx], real_lm[idx])
    print(f"{clip[:24]:24s} real  interior " + " ".join(f"{x:.3f}" for x in interior_stats(real[idx], real_lm[idx])))
    for name, painting in paintings.items():
        frames = _render(photo, photo_lm, real_lm, idx, painting)
        lap = laplacian_var(frames, real_lm[idx]) / ref
        dist = lpips(mouth_crops(real[idx], real_lm[idx]), mouth_crops(frames, real_lm[idx]), model=net)  # type: ignore[arg-type]
        stats = " ".join(f"{x:.3f}" for x in interior_stats(frames, real_lm[idx]))
        print(f"{clip[:24]:24s} {name:5s} sharp_lap {lap:.3f} mouth_lpips {dist:.3f} interior {stats}", flush=True)
    return net


if __name__ == "__main__":
    main()
