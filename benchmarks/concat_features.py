"""Copy a prepared dataset with each clip's speech features concatenated with another copy's (no re-extraction).

``A`` and ``B`` are the same clips prepared (or re-featured with ``benchmarks/refeature.py``) with
two extractors; the output has features ``[A | B]`` per frame and the feature name ``A+B`` (e.g.
``whisper-tiny.en+hama``, which :func:`talkface.audio.features.get_extractor` computes the same way
at inference). Landmarks, audio, crops and splits come from ``A``; crop videos are symbolic links.
Resumable (finished clips are skipped).

    python3 benchmarks/refeature.py /work/prepared/grid_s1_all hama -o grid_s1_hama
    python3 benchmarks/concat_features.py /work/prepared/grid_s1_all grid_s1_hama -o grid_s1_mix
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from refeature import write_clip  # the sibling script (benchmarks/ is on sys.path when run)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", help="prepared dataset whose features come first (and whose clips are copied)")
    ap.add_argument("b", help="the same clips with another feature")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    src, other, dst = Path(args.a), Path(args.b), Path(args.output)
    meta_a = json.loads((src / "dataset.json").read_text())
    meta_b = json.loads((other / "dataset.json").read_text())
    name = f"{meta_a['feature']['name']}+{meta_b['feature']['name']}"
    dim = int(meta_a["feature"]["dim"]) + int(meta_b["feature"]["dim"])
    dst.mkdir(parents=True, exist_ok=True)
    for fname in ("splits.json", "mean_face.npy"):
        shutil.copy(src / fname, dst / fname)
    paths = sorted((src / "clips").rglob("*.npz"))
    start = time.time()
    for i, path in enumerate(paths):
        rel = path.relative_to(src)
        out = dst / rel
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            with np.load(other / rel, allow_pickle=False) as z:
                fb = z["features"]
            fa = arrays["features"]
            if fa.shape[0] != fb.shape[0]:
                raise SystemExit(f"{rel}: {fa.shape[0]} frames in {src}, {fb.shape[0]} in {other}")
            arrays["features"] = np.concatenate([fa.astype(np.float16), fb.astype(np.float16)], axis=1)
            write_clip(out, arrays, path)
        if i % 200 == 0:
            print(f"{i}/{len(paths)} {time.time() - start:.0f} s", flush=True)
    meta = dict(meta_a)
    meta["feature"] = {"name": name, "dim": dim}
    meta["config"] = dict(meta_a["config"], feature=name)
    (dst / "dataset.json").write_text(json.dumps(meta, indent=1))
    print(f"done: {len(paths)} clips, {name} {dim}-d, {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
