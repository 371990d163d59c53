"""The cascade papers' comparison table: ground truth, still, cascade, end-to-end temporal GAN (+ SPP).

    nice -n 10 python3 benchmarks/e2e_table.py --out /work/scratch/e2e/table \\
        --e2e /work/scratch/e2e/main/last.ckpt --e2e-spp /work/scratch/e2e/spp/last.ckpt \\
        --set "unseen GRID speakers=/work/prepared/grid7:all:bbaf2n/bbaf2n" \\
        --set "s1 test=/work/prepared/grid_s1_all:test:20" \\
        --set "in the wild=/work/prepared/wild:all:"

Every row is scored by :func:`talkface.eval.report.evaluate_videos` (what ``talkface evaluate``
runs): each clip's aligned face crop at its still frame and its speech go to every method, and the
output is compared with the real crops (PSNR, SSIM, CPBD, LMD, mouth correlation, ACD, AV offset,
LSE-D/C with talkface's sync model, blinks, GRID lip-reader WER). Rows: ground truth, still
baseline (both always added), the cascade with the bundled default model, the e2e generator(s)
(``--e2e NAME=CKPT`` style via ``--e2e`` / ``--e2e-spp``; training checkpoints or generator files).
Generators with the ``"residual"`` output are composed onto the full-resolution still
(:func:`talkface.e2e.stream.compose_full_resolution`, as ``animate-e2e`` does); ``"direct"`` ones are
upsampled whole unless given with ``--extra-composed``.

A set is ``LABEL=DATASET:SPLIT:SPEC`` where SPEC is a number (the first N clips of the split),
empty (all), or comma-separated clip ids to leave out (e.g. ``bbaf2n/bbaf2n``, s1's own clip in
grid7, to keep only unseen speakers): a view of the dataset with those clips removed is made under
``OUT/views`` (symlinks; the prepared dataset is not written to). Each set's full report
(report.md, summary.csv, per_clip.csv, strip.png) goes to ``OUT/<label>/``; the papers' table of
all sets is printed and written to ``OUT/table.md``. Not a test: minutes per clip on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = [  # (summary key, header, digits)
    ("psnr", "PSNR ↑", 2), ("ssim", "SSIM ↑", 3), ("cpbd", "CPBD ↑", 3), ("lmd", "LMD ↓", 2),
    ("mouth_corr", "Mouth corr. ↑", 2), ("acd", "ACD ↓", 3), ("av_offset", "|AV off.| ↓", 2),
    ("lse_d", "LSE-D ↓", 2), ("lse_c", "LSE-C ↑", 2), ("wer", "WER % ↓", 1), ("blink_rate", "Blinks/s", 2),
    ("blink_dur", "Blink dur. s", 2),
]


class E2EMethod:
    """A temporal-GAN generator as a ``talkface evaluate`` method: ``(still crop, 16-kHz speech) -> crops``."""

    def __init__(self, checkpoint: str | None, seed: int = 0, full_res: bool | None = None) -> None:
        from talkface.e2e.bundle import load_e2e_generator
        from talkface.e2e.stream import uses_full_resolution

        self.generator = load_e2e_generator(checkpoint)
        self.seed = seed
        self.full_res = uses_full_resolution(self.generator, full_res)

    def __call__(self, still: np.ndarray, audio: np.ndarray) -> np.ndarray:
        from talkface.e2e.data import resize_frames
        from talkface.e2e.stream import compose_full_resolution, generate_batch

        cfg = self.generator.config
        a = np.asarray(audio, np.float32).reshape(-1)
        if cfg.sample_rate != 16000:
            import librosa

            a = np.asarray(librosa.resample(a, orig_sr=16000, target_sr=cfg.sample_rate), np.float32)
        small = resize_frames(np.asarray(still)[None], cfg.image_size)[0]
        frames = generate_batch(self.generator, small, a, seed=self.seed)
        if self.full_res:  # only the generator's change is upsampled onto the full-resolution still
            return compose_full_resolution(np.asarray(still), frames)
        return resize_frames(frames, still.shape[0])


def dataset_view(dataset: Path, split: str, exclude: list[str], views: Path) -> tuple[Path, str]:
    """A view of ``dataset`` whose split ``test`` is ``split`` without ``exclude`` (symlinks, own splits.json)."""
    from talkface.eval.report import dataset_clip_ids

    _, ids = dataset_clip_ids(dataset, split)
    keep = [c for c in ids if c not in set(exclude)]
    view = views / re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{dataset.name}_{split}_minus_{'_'.join(exclude)}")
    view.mkdir(parents=True, exist_ok=True)
    for entry in dataset.iterdir():
        if entry.name == "splits.json":
            continue
        link = view / entry.name
        if not link.exists():
            link.symlink_to(entry.resolve())
    (view / "splits.json").write_text(json.dumps({"test": keep}, indent=1))
    return view, "test"


def read_summary(path: Path) -> dict[str, dict[str, tuple[float, float, int]]]:
    """method -> metric -> (mean, std, n) from a report's summary.csv ({} if there is none)."""
    import csv

    out: dict[str, dict[str, tuple[float, float, int]]] = {}
    if not path.is_file():
        return out
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            mean = float(row["mean"]) if row["mean"] else float("nan")
            std = float(row["std"]) if row["std"] else float("nan")
            out.setdefault(row["method"], {})[row["metric"]] = (mean, std, int(row["n"]))
    return out


def fmt(stat: tuple[float, float, int] | None, digits: int) -> str:
    if stat is None or stat[2] == 0 or not np.isfinite(stat[0]):
        return "–"
    return f"{stat[0]:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--set", dest="sets", action="append", required=True, metavar="LABEL=DATASET:SPLIT:SPEC")
    ap.add_argument("--e2e", help="main temporal-GAN checkpoint / generator file (default: the bundled one)")
    ap.add_argument("--e2e-spp", help="SPP-variant checkpoint (row e2e-SPP)")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=CKPT",
                    help="another temporal-GAN row (e.g. an earlier checkpoint of the main run); repeatable")
    ap.add_argument("--extra-composed", action="append", default=[], metavar="NAME=CKPT",
                    help="as --extra, but the frames are always composed onto the full-resolution still "
                    "(residual generators are by default, direct ones are not)")
    ap.add_argument("--no-e2e", action="store_true", help="leave out the e2e row (e.g. to score the cascade once)")
    ap.add_argument("--no-cascade", action="store_true", help="leave out the cascade row")
    ap.add_argument("--reuse", type=Path, help="an earlier OUT of this script: rows not computed now (e.g. the "
                    "cascade with --no-cascade) are taken from its OUT/<label>/summary.csv, set by set")
    ap.add_argument("--still", choices=("first", "neutral"), default="neutral",
                    help="identity frame (neutral: what the e2e model was trained with)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lpips", action="store_true", help="also LPIPS (slow on CPU)")
    ap.add_argument("--identity-stride", type=int, default=5)
    args = ap.parse_args(argv)

    import torch

    from talkface.eval.report import EvalConfig, evaluate_videos

    torch.set_num_threads(args.threads)
    models: dict[str, Any] = {}
    if not args.no_cascade:
        from talkface.pipeline import AnimateConfig, Animator

        cascade = Animator(AnimateConfig(model=None, seed=args.seed, threads=args.threads))
        models["cascade (default)"] = cascade.talking_head
    if not args.no_e2e:
        models["e2e"] = E2EMethod(args.e2e, args.seed)
    for extra in args.extra:
        name, _, ckpt = extra.partition("=")
        models[name] = E2EMethod(ckpt, args.seed)
    for extra in args.extra_composed:
        name, _, ckpt = extra.partition("=")
        models[name] = E2EMethod(ckpt, args.seed, full_res=True)
    if args.e2e_spp:
        models["e2e-SPP"] = E2EMethod(args.e2e_spp, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    results: dict[str, dict[str, Any]] = {}
    for spec in args.sets:
        label, _, rest = spec.partition("=")
        dataset, split, sel = (rest.split(":", 2) + ["", ""])[:3]
        data, max_clips = Path(dataset), None
        if sel.isdigit():
            max_clips = int(sel)
        elif sel:
            data, split = dataset_view(data, split, sel.split(","), args.out / "views")
        gridlike = "grid" in data.name
        config = EvalConfig(still=args.still, max_clips=max_clips, seed=args.seed, lpips=args.lpips,
                            identity_stride=args.identity_stride, lipread=gridlike, render=False)
        t0 = time.perf_counter()
        table = evaluate_videos(dataset=data, split=split, models=models, out_dir=args.out / label.replace(" ", "_"),
                                config=config, command=command, progress=False)
        results[label] = {"summary": table.summary(), "clips": table.header["clips"],
                          "seconds": time.perf_counter() - t0}
        print(f"{label}: {table.header['clips']} clips, {results[label]['seconds']:.0f} s", flush=True)
    if args.reuse is not None:
        for label, res in results.items():
            earlier = read_summary(args.reuse / label.replace(" ", "_") / "summary.csv")
            if not earlier:
                continue
            merged = {m: res["summary"].get(m, st) for m, st in earlier.items()}
            merged.update({m: st for m, st in res["summary"].items() if m not in merged})
            res["summary"] = merged
            res["reused_from"] = os.fspath(args.reuse)
    lines = []
    for label, res in results.items():
        reused = f"; rows not in this run from {res['reused_from']}" if "reused_from" in res else ""
        lines += [f"**{label}** ({res['clips']} clips{reused})", "",
                  "| method | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
                  "|---|" + "---|" * len(COLUMNS)]
        for method, stats in res["summary"].items():
            lines.append(f"| {method} | " + " | ".join(fmt(stats.get(k), d) for k, _, d in COLUMNS) + " |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    (args.out / "table.md").write_text(f"<!-- {command} -->\n\n{text}\n")
    (args.out / "table.json").write_text(json.dumps(
        {k: {**v, "summary": {m: {key: list(s) for key, s in st.items()} for m, st in v["summary"].items()}}
         for k, v in results.items()}, indent=1))
    print(f"-> {os.fspath(args.out / 'table.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
