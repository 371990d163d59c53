"""Ablation of the end-to-end temporal GAN (the paper's Table 2) on held-out GRID clips.

    python3 benchmarks/e2e_ablation.py --train /work/prepared/grid_s1 --unseen /work/prepared/grid7 \\
        --exclude bbaf2n/bbaf2n --out runs/e2e --steps 100 --threads 1
    python3 benchmarks/e2e_ablation.py --out runs/e2e --table-only      # print the table again

For each variant it trains the model with ``talkface train e2e`` (skipped when
``OUT/run_<variant>/step=<steps>.ckpt`` exists; the exact command is printed and stored), then
evaluates that checkpoint with :func:`talkface.e2e.evaluate_e2e` on two held-out sets: the first
``--test-clips`` clips of the training dataset's test split (unseen utterances of the training
speakers) and every clip of ``--unseen`` (speakers never trained on) except ``--exclude``. One JSON
line per variant and set goes to ``OUT/ablation.jsonl`` (a variant already there for the same number
of steps is not evaluated again unless ``--force``). Two reference rows need no model: the
clip's still frame repeated for every frame (a sanity check of the metrics) and the real frames
(sharpness and identity distance of the ground truth).

Finally it prints the Markdown tables of docs/e2e.md. Not a test: training and evaluation take
minutes per variant on a CPU (``--model-size cpu``: 64² frames, narrow networks).
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

VARIANTS: dict[str, tuple[str, list[str]]] = {
    # name -> (run folder, `talkface train e2e` options)
    "l1": ("run_l1", ["--ablation", "l1"]),
    "l1-lower": ("run_l1_lowerhalf", ["--ablation", "l1", "--l1-region", "lower"]),
    "l1+img": ("run_l1_img", ["--ablation", "l1+img"]),
    "l1+img+seq": ("run_l1_img_seq", ["--ablation", "l1+img+seq"]),
    "l1+img+spp": ("run_l1_img_spp", ["--ablation", "l1+img+spp"]),
}
LABELS = {
    "l1": "L1 only (whole frame)",
    "l1-lower": "L1 only (lower half)",
    "l1+img": "L1 + D_img",
    "l1+img+seq": "L1 + D_img + D_seq (full model)",
    "l1+img+spp": "L1 + D_img + D_seq-SPP",
    "still": "still frame repeated (reference)",
    "real": "real frames (ground truth)",
}
CPU_SIZE = ["--image-size", "64", "--base-channels", "16", "--audio-base-channels", "8", "--audio-code-size", "128",
            "--context-size", "128", "--disc-frame-code-size", "64", "--disc-audio-code-size", "64",
            "--disc-rnn-size", "128"]
"""The CPU-sized model of the recorded runs (the paper's sizes: no options)."""
SETS = ("s1_test", "unseen_speakers")


def train_command(args: argparse.Namespace, variant: str, run: Path) -> list[str]:
    """The `talkface train e2e` arguments that train one variant."""
    return [
        "train", "e2e", args.train, "-o", str(run), *VARIANTS[variant][1],
        *(CPU_SIZE if args.model_size == "cpu" else []),
        "--min-frames", "12", "--max-frames", "20", "--max-val-clips", "0",
        "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--seed", "0",
        "--accelerator", args.accelerator, "--threads", str(args.threads),
        "--checkpoint-every", str(args.steps), "--log-every", "10", "-q",
    ]


def eval_sets(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Keyword arguments of :func:`evaluate_e2e` / :func:`load_clips` for each held-out set."""
    from talkface.data.dataset import PreparedDataset

    unseen = [c for c in PreparedDataset(args.unseen).ids() if c not in set(args.exclude)]
    return {
        "s1_test": {"dataset": args.train, "split": "test", "max_clips": args.test_clips},
        "unseen_speakers": {"dataset": args.unseen, "split": None, "clip_ids": unseen},
    }


def reference_rows(sets: dict[str, dict[str, Any]], image_size: int) -> list[dict[str, Any]]:
    """The still frame repeated as the "generated" video, scored like a model (no ACD: it would be 0)."""
    from talkface.e2e.data import load_clips
    from talkface.eval import metrics

    rows = []
    for name, kw in sets.items():
        clips = load_clips(kw["dataset"], kw["split"], image_size, max_clips=kw.get("max_clips"),
                           clip_ids=kw.get("clip_ids"))
        scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "psnr_lower": [], "cpbd": []}
        half = image_size // 2
        for c in clips:
            fake = np.repeat(c.frames[c.still_index][None], c.num_frames, 0)
            scores["psnr"].append(metrics.psnr(c.frames, fake))
            scores["ssim"].append(metrics.ssim(c.frames, fake))
            scores["psnr_lower"].append(metrics.psnr(c.frames[:, half:], fake[:, half:]))
            scores["cpbd"].append(metrics.cpbd(fake[:1]))
        rows.append({"variant": "still", "set": name, "clips": len(clips),
                     **{k: float(np.mean(v)) for k, v in scores.items()}})
    return rows


def load_results(path: Path) -> list[dict[str, Any]]:
    """The JSON lines written so far."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _fmt(value: Any, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(rows: list[dict[str, Any]], steps: int) -> str:
    """Markdown tables (one per held-out set) of the latest row of every variant."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if r["variant"] in ("still", "real") or r.get("steps") == steps:
            latest[(r["variant"], r["set"])] = r
    out = []
    for name in SETS:
        out += [f"**{name}**", "",
                "| model | PSNR (dB) ↑ | SSIM ↑ | PSNR lower half (dB) ↑ | CPBD ↑ | ACD ↓ | train wall (s) |",
                "|---|---|---|---|---|---|---|"]
        real = None
        for variant in [*VARIANTS, "still"]:
            r = latest.get((variant, name))
            if r is None:
                continue
            real = real or (r if "acd_real" in r else None)
            out.append(f"| {LABELS[variant]} | {_fmt(r['psnr'], 2)} | {_fmt(r['ssim'], 3)} | "
                       f"{_fmt(r['psnr_lower'], 2)} | {_fmt(r.get('cpbd'), 3)} | {_fmt(r.get('acd'), 3)} | "
                       f"{_fmt(r.get('train_s'), 0)} |")
        if real is not None:
            out.append(f"| {LABELS['real']} | ∞ | 1 | ∞ | {_fmt(real.get('cpbd_real'), 3)} | "
                       f"{_fmt(real.get('acd_real'), 3)} | |")
        clips = next((r for (v, s), r in latest.items() if s == name), {}).get("clips")
        out += ["", f"{clips} clips.", ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", default="/work/prepared/grid_s1", help="prepared dataset to train on")
    parser.add_argument("--unseen", default="/work/prepared/grid7", help="prepared dataset of unseen speakers")
    parser.add_argument("--exclude", nargs="*", default=[], help="clips of --unseen to leave out (seen speakers)")
    parser.add_argument("--test-clips", type=int, default=20, help="clips of the training dataset's test split")
    parser.add_argument("--out", type=Path, default=Path("runs/e2e"), help="folder of the runs and ablation.jsonl")
    parser.add_argument("--steps", type=int, default=100, help="training batches per variant")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--model-size", choices=("cpu", "paper"), default="cpu")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--no-reference", action="store_true", help="skip the still-frame reference rows")
    parser.add_argument("--force", action="store_true", help="evaluate again variants already in the results")
    parser.add_argument("--table-only", action="store_true", help="only print the table of the results so far")
    args = parser.parse_args()

    results = args.out / "ablation.jsonl"
    if args.table_only:
        print(table(load_results(results), args.steps))
        return
    from talkface.cli import main as talkface
    from talkface.e2e import evaluate_e2e

    torch.set_num_threads(args.threads)
    sets = eval_sets(args)
    done = {(r["variant"], r["set"]) for r in load_results(results) if r.get("steps") == args.steps}
    args.out.mkdir(parents=True, exist_ok=True)
    for variant in args.variants:
        run = args.out / VARIANTS[variant][0]
        ckpt = run / f"step={args.steps:07d}.ckpt"
        command = train_command(args, variant, run)
        train_s = None
        if not ckpt.is_file():
            print("talkface " + shlex.join(command), flush=True)
            t0 = time.perf_counter()
            if talkface(command) != 0:
                raise SystemExit(f"training {variant} failed")
            train_s = round(time.perf_counter() - t0, 1)
        for name, kw in sets.items():
            if (variant, name) in done and not args.force:
                continue
            t0 = time.perf_counter()
            scores = evaluate_e2e(ckpt, kw["dataset"], split=kw["split"], max_clips=kw.get("max_clips"),
                                  clip_ids=kw.get("clip_ids"))
            row = {"variant": variant, "set": name, "steps": args.steps, "checkpoint": str(ckpt),
                   "command": "talkface " + shlex.join(command), "train_s": train_s,
                   "eval_s": round(time.perf_counter() - t0, 1), **scores}
            print(json.dumps(row), flush=True)
            with open(results, "a") as fh:
                fh.write(json.dumps(row) + "\n")
    if not args.no_reference and not any(r["variant"] == "still" for r in load_results(results)):
        size = 64 if args.model_size == "cpu" else 128
        with open(results, "a") as fh:
            for row in reference_rows(sets, size):
                print(json.dumps(row), flush=True)
                fh.write(json.dumps(row) + "\n")
    print(table(load_results(results), args.steps))


if __name__ == "__main__":
    main()
