"""Copy a prepared dataset with its speech features re-extracted by another extractor (faces are not re-tracked).

The landmarks, crops and splits stay; each clip's ``features`` are computed from its ``audio`` with
``talkface.audio.get_extractor(FEATURE)``; ``dataset.json`` names the new feature. Crop videos are
symbolic links to the source's. Resumable (finished clips are skipped).

    python3 benchmarks/refeature.py /work/prepared/grid_s1_all hama -o /work/scratch/grid_s1_hama
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np


def write_clip(out: Path, arrays: dict[str, np.ndarray], source: Path) -> None:
    """Write a re-featured clip atomically and link the source clip's video beside it."""
    tmp = out.with_name("." + out.stem + ".part.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, out)
    mp4 = source.with_suffix(".mp4")
    if mp4.exists() and not out.with_suffix(".mp4").exists():
        out.with_suffix(".mp4").symlink_to(mp4.resolve())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("feature")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from talkface.audio.features import get_extractor

    src, dst = Path(args.data), Path(args.output)
    dst.mkdir(parents=True, exist_ok=True)
    extractor = get_extractor(args.feature)
    meta = json.loads((src / "dataset.json").read_text())
    for name in ("splits.json", "mean_face.npy"):
        shutil.copy(src / name, dst / name)
    paths = sorted((src / "clips").rglob("*.npz"))
    start = time.time()
    dim = None
    for i, path in enumerate(paths):
        out = dst / path.relative_to(src)
        if out.exists():
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        audio = arrays["audio"].astype(np.float32) / 32767.0
        feats = extractor(audio, len(arrays["landmarks"]), float(arrays["fps"]))
        dim = feats.shape[1]
        arrays["features"] = feats.astype(np.float16)
        write_clip(out, arrays, path)
        if i % 50 == 0:
            print(f"{i}/{len(paths)} {time.time() - start:.0f} s", flush=True)
    if dim is None:
        with np.load(next((dst / "clips").rglob("*.npz"))) as z:
            dim = int(z["features"].shape[1])
    meta["feature"] = {"name": extractor.name, "dim": int(dim)}
    meta["config"]["feature"] = extractor.name
    (dst / "dataset.json").write_text(json.dumps(meta, indent=1))
    print(f"done: {len(paths)} clips, {extractor.name} {dim}-d, {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
