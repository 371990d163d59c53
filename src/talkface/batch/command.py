"""The ``talkface batch`` subcommand: its arguments and its handler (imported lazily by :mod:`talkface.cli`)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from talkface.animate_config import animate_default
from talkface.batch.runner import run_batch
from talkface.config_checks import number_arg

DESCRIPTION = (
    "Render many (photo, speech) pairs listed in a manifest, loading the models once per worker. MANIFEST is a "
    "CSV with a header row, or JSON lines, with the columns photo, speech (paths relative to the manifest) and "
    "optionally output (video name inside OUTDIR; default PHOTO-SPEECH.mp4), id, blink_rate (or 'natural'), "
    "motion_scale, head_motion, seed, size, person, close_mouth, max_side, max_duration_s, crf, preset; an empty "
    "cell takes "
    "the default given by the options below. Rows whose video already exists in OUTDIR are skipped, so a run "
    "that was stopped is resumed by running it again (videos are written atomically: a killed run leaves no "
    "half-written video). A bad row (a missing or unusable file, no face, a bad value, an output name used "
    "twice) fails alone. Every row's outcome is written to OUTDIR/results.jsonl (with --shard: "
    "results.shard-I-of-N.jsonl): id, line, output, status (ok / skipped / error), error (one line), seconds, "
    "frames. Exit status: 0 when every row is ok or skipped, 1 when any row failed, 2 when the manifest itself "
    "is unusable (a one-line error naming the file and line)."
)

EPILOG = (
    "examples:  talkface batch jobs.csv -o out/ --workers 2  |  SLURM array: talkface batch jobs.csv -o out/ "
    "--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT (or --shard slurm)  |  Ray: talkface batch jobs.csv "
    "-o out/ --ray auto --workers 8 (needs pip install 'talkface[ray]'; files on a folder every node sees)"
)


def _shard(text: str) -> tuple[int, int]:
    if text == "slurm":
        try:
            text = f"{os.environ['SLURM_ARRAY_TASK_ID']}/{os.environ['SLURM_ARRAY_TASK_COUNT']}"
        except KeyError:
            raise argparse.ArgumentTypeError("--shard slurm: SLURM_ARRAY_TASK_ID/COUNT are not set") from None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/n (e.g. 0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"need 0 <= i < n, got {text!r}")
    return i, n


def _count(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be >= {least}, got {value}")
    return value


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``batch`` to the ``talkface`` subcommands (the defaults of the per-row options are AnimateConfig's)."""
    d = animate_default
    p: argparse.ArgumentParser = sub.add_parser(
        "batch", help="render a CSV/JSONL manifest of (photo, speech) jobs: models loaded once per worker, resumable, "
        "--workers / --shard i/n (SLURM) / --ray", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("manifest", help="jobs: .csv (header row) or .jsonl, one row per video")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the videos and results.jsonl")
    p.add_argument("--workers", type=lambda t: _count(t, 1), default=1,
                   help="models loaded at once: 1 = in this process; N = N worker processes (or Ray actors)")
    p.add_argument("--shard", type=_shard, default=None, metavar="I/N",
                   help="only rows I, I+N, I+2N, ... (0-based); 'slurm' = $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run on Ray actors: 'local' (start Ray on this machine), 'auto' (the running cluster) or a "
                   "cluster address (needs the extra: pip install 'talkface[ray]')")
    p.add_argument("--retries", type=lambda t: _count(t, 0), default=1,
                   help="times a row is tried again after its worker process (or Ray actor) died")
    p.add_argument("--overwrite", action="store_true", help="render rows whose video already exists")
    p.add_argument("--model", default=None, help="model bundle folder (default: the bundled model)")
    p.add_argument("--person", default=None, help="default person model (rows may name their own)")
    p.add_argument("--blink-rate", type=float, default=d("blink_rate"),
                   help="default blinks per second; negative: natural rate")
    p.add_argument("--motion-scale", type=number_arg("motion_scale"), default=d("motion_scale"),
                   help="default gain on the speech motion (0-3)")
    p.add_argument("--keep-open-mouth", action="store_true", help="default: keep an open mouth in the photo open")
    p.add_argument("--head-motion", type=number_arg("head_motion"), default=d("head_motion"),
                   help="default strength of the head and brow motion (0 = still head, 1 = natural, up to 3)")
    p.add_argument("--raw-mouth", action="store_true",
                   help="the motion model's mouth amplitude as predicted (no per-utterance normalisation)")
    p.add_argument("--size", type=lambda t: _count(t, 0), default=d("size"),
                   help="default: 0 whole photo, N an N x N crop")
    p.add_argument("--seed", type=int, default=d("seed"), help="default seed of the blink noise")
    p.add_argument("--max-side", type=lambda t: _count(t, 0), default=d("max_side"),
                   help="downscale larger photos first")
    p.add_argument("--max-duration", type=float, default=d("max_duration_s"), help="longest speech accepted, seconds")
    p.add_argument("--crf", type=int, default=d("crf"), help="H.264 quality (lower = better, bigger)")
    p.add_argument("--device", default=d("device"), help="torch device (cpu, cuda)")
    p.add_argument("--threads", type=lambda t: _count(t, 1), default=None,
                   help="torch CPU threads per worker (default: CPU cores / workers)")
    p.add_argument("--backend", choices=("auto", "onnx", "torch"), default=d("backend"),
                   help="texture network on the CPU")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_command)
    return p


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``talkface batch``: 0 all rows ok/skipped, 1 some row failed."""
    from talkface.pipeline import AnimateConfig  # lazy: loads torch

    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    config = AnimateConfig(
        model=args.model, person=args.person, blink_rate=None if args.blink_rate < 0 else args.blink_rate,
        motion_scale=args.motion_scale, close_mouth=not args.keep_open_mouth, head_motion=args.head_motion,
        normalise_mouth=not args.raw_mouth, size=args.size, max_side=args.max_side,
        seed=args.seed, max_duration_s=args.max_duration, device=args.device, threads=threads, crf=args.crf,
        backend=args.backend,
    )
    summary = run_batch(args.manifest, args.output, config, workers=args.workers, shard=args.shard,
                        overwrite=args.overwrite, retries=args.retries, ray_address=args.ray,
                        progress=not args.quiet)
    print(f"talkface batch: {summary.ok} rendered, {summary.skipped} skipped (already done), {summary.failed} failed "
          f"in {summary.seconds:.1f} s; results: {summary.results}", file=sys.stdout)
    return 1 if summary.failed else 0
