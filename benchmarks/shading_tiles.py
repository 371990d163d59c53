"""Lower-face tiles of saved renders: real / native / native + shading / the shading's change, to look at.

    python3 benchmarks/shading_tiles.py --saved OUT/save --out tiles.png --variants native@0 native:shade@0

Reads the ``--save`` folder of ``benchmarks/render_quality.py`` (``<clip>.npz``: the real frames, their
tracked landmarks and each variant's frames). Per clip one block: a column per picked frame (the widest
requested openings of the first variant and a closed-mouth frame), a row per variant (real first), and a
last row with the difference of the last two variants' grey levels, amplified (``--gain``) around mid
grey, so a smudge or a patch that moves shows. The tile is the lower face: cheek to cheek, nose to below
the chin, from the real frame's landmarks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def _box(lm: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    pts = lm[[*range(1, 16), 29]]
    lo, hi = pts.min(0), pts.max(0)
    pad = 0.12 * float(hi[0] - lo[0])
    x0, y0 = max(0, int(lo[0] - pad)), max(0, int(lo[1] - pad))
    x1, y1 = min(shape[1], int(hi[0] + pad)), min(shape[0], int(hi[1] + 2 * pad))
    return x0, y0, x1, y1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--saved", type=Path, required=True, help="render_quality.py --save folder")
    ap.add_argument("--out", type=Path, required=True, help="PNG to write")
    ap.add_argument("--variants", nargs="+", default=["native@0", "native:shade@0"])
    ap.add_argument("--clips", nargs="*", default=None, help="clip names (default: all saved)")
    ap.add_argument("--frames", type=int, default=4, help="columns per clip")
    ap.add_argument("--height", type=int, default=150, help="tile height, pixels")
    ap.add_argument("--gain", type=float, default=6.0, help="amplification of the difference row")
    args = ap.parse_args()
    blocks = []
    files = sorted(args.saved.glob("*.npz"))
    for path in files:
        if args.clips and path.stem not in args.clips:
            continue
        with np.load(path) as z:
            real, real_lm = z["real"], z["real_lm"]
            frames = [z[v] for v in args.variants]
            req = z[f"{args.variants[0]}/req"]
        gap = np.linalg.norm(req[:, 66] - req[:, 62], axis=1)
        picks = [int(i) for i in np.argsort(gap)[::-1][: args.frames - 1]] + [int(np.argmin(gap[1:]) + 1)]
        rows = []
        names = ["real", *args.variants, f"diff x{args.gain:g}"]
        for name, video in zip(names, [real, *frames, None], strict=True):
            tiles = []
            for i in picks:
                x0, y0, x1, y1 = _box(real_lm[i], real.shape[1:])
                if video is None:
                    a = cv2.cvtColor(frames[-1][i], cv2.COLOR_RGB2GRAY).astype(np.float32)
                    b = cv2.cvtColor(frames[-2][i], cv2.COLOR_RGB2GRAY).astype(np.float32)
                    d = np.clip(128 + args.gain * (a - b), 0, 255).astype(np.uint8)[y0:y1, x0:x1]
                    tile = cv2.cvtColor(d, cv2.COLOR_GRAY2RGB)
                else:
                    tile = video[i, y0:y1, x0:x1]
                w = round(tile.shape[1] * args.height / tile.shape[0])
                tiles.append(cv2.resize(tile, (w, args.height), interpolation=cv2.INTER_CUBIC))
            width = max(t.shape[1] for t in tiles)
            tiles = [cv2.copyMakeBorder(t, 0, 0, 0, width - t.shape[1] + 2, cv2.BORDER_CONSTANT) for t in tiles]
            row = np.concatenate(tiles, 1).copy()
            cv2.putText(row, f"{path.stem} {name}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1,
                        cv2.LINE_AA)
            rows.append(row)
        width = max(r.shape[1] for r in rows)
        blocks.append(np.concatenate([cv2.copyMakeBorder(r, 0, 2, 0, width - r.shape[1], cv2.BORDER_CONSTANT)
                                      for r in rows], 0))
    if not blocks:
        raise SystemExit(f"no saved clips in {args.saved}")
    width = max(b.shape[1] for b in blocks)
    sheet = np.concatenate([cv2.copyMakeBorder(b, 0, 6, 0, width - b.shape[1], cv2.BORDER_CONSTANT) for b in blocks], 0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(args.out, sheet.shape)


if __name__ == "__main__":
    main()
