"""Speed and temporal continuity of ``mouth="retrieved"`` vs ``"painted"`` on prepared clips.

    python3 benchmarks/bench_mouth_bank.py --data /work/prepared/grid7 --videos /work/shared/data/grid

Each clip's neutral frame is the photo and its tracked landmarks the requested frames (the real
mouth motion, head motion included). Reports per style the mean render time per frame (same run,
so the ratio is what counts on a shared machine), and for ``retrieved`` the frames with an interior,
the distinct entries used and the entry switches per second.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from talkface.io.media import iter_video_frames
from talkface.render.compose import NativeRenderer, RenderConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="prepared folder (clips/<id>/<id>.npz)")
    ap.add_argument("--videos", type=Path, required=True, help="folder of the source videos (<id>.mpg/.mp4)")
    ap.add_argument("--styles", nargs="+", default=["painted", "retrieved"])
    ap.add_argument("--max-clips", type=int, default=0)
    args = ap.parse_args()
    npzs = sorted(args.data.glob("clips/*/*.npz"))[: args.max_clips or None]
    for npz in npzs:
        clip = npz.stem
        video = next((v for v in sorted(args.videos.glob(f"{clip}.*")) if v.suffix in (".mpg", ".mp4", ".mov")), None)
        if video is None:
            continue
        with np.load(npz) as z:
            lm, n, fps = z["landmarks"].astype(np.float64), int(z["neutral_index"]), float(z["fps"])
        photo = next(f for t, f in enumerate(iter_video_frames(video)) if t == n)
        row: dict[str, object] = {"clip": clip, "frames": len(lm)}
        for style in args.styles:
            renderer = NativeRenderer(photo, lm[n], lm, RenderConfig(mouth=style))
            renderer(lm[0])  # warm-up
            if renderer._retrieved is not None:
                renderer._retrieved.choices.clear()
                renderer._retrieved.reset()
            t0 = time.perf_counter()
            for frame in lm:
                renderer(frame)
            row[f"ms_{style}"] = round(1000 * (time.perf_counter() - t0) / len(lm), 2)
            if renderer._retrieved is not None:
                ch = renderer._retrieved.choices
                row["retrieved_frames"] = len(ch)
                row["entries"] = len(set(ch))
                row["switches_per_s"] = round(sum(a != b for a, b in zip(ch, ch[1:], strict=False)) * fps / len(lm), 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
