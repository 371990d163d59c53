"""The ``talkface batch`` subcommand: its arguments and its handler (imported lazily by :mod:`talkface.cli`)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from typing import Any

from talkface.animate_config import AnimateConfig
from talkface.batch.runner import run_batch
from talkface.cli_groups import _FORMAT, ANIMATE, QUIET, animate_kwargs
from talkface.cli_options import Opt, add_options, source_fields

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


#: Options of ``talkface batch`` of its own: the manifest, the output folder and how the rows are run
#: (:func:`talkface.batch.runner.run_batch`'s arguments).
BATCH = [
    Opt("manifest", "jobs: .csv (header row) or .jsonl, one row per video", flag=""),
    Opt("output", "folder for the videos and results.jsonl", short="-o", required=True, metavar="OUTDIR"),
    Opt("workers", "models loaded at once: 1 = in this process; N = N worker processes (or Ray actors)",
        type=lambda t: _count(t, 1), default=1, show_range=False),
    Opt("shard", "only rows I, I+N, I+2N, ... (0-based); 'slurm' = $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT",
        type=_shard, default=None, metavar="I/N"),
    Opt("ray", "run on Ray actors: 'local' (start Ray on this machine), 'auto' (the running cluster) or a cluster "
        "address (needs the extra: pip install 'talkface[ray]')", metavar="ADDRESS"),
    Opt("retries", "times a row is tried again after its worker process (or Ray actor) died",
        type=lambda t: _count(t, 0), default=1),
    Opt("overwrite", "render rows whose video already exists", action="store_true"),
    QUIET,
]

_ROWS = {opt.name: opt for opt in ANIMATE}

#: The animation options of ``talkface batch``: ``talkface animate``'s rows (AnimateConfig fields), the defaults of
#: the rows' cells.
BATCH_ANIMATE = [
    *(_ROWS[name] for name in ("model", "person", "blink_rate", "motion_scale", "close_mouth", "head_motion",
                               "normalise_mouth", "mouth_request", "renderer", "mouth", "shading", "adaptive_mouth",
                               "size", "max_side", "seed", "max_duration_s", "crf", "device")),
    replace(_ROWS["threads"], help="torch CPU threads per worker (default: CPU cores / workers)"),
    _ROWS["backend"],
]


def _fill(parser: argparse.ArgumentParser) -> None:
    add_options(parser, BATCH)
    group = parser.add_argument_group(
        "animation", "the options of `talkface animate`, with the same defaults: each row's settings, unless the "
        "manifest gives the row its own value in a column of the same name (listed above)")
    add_options(group, BATCH_ANIMATE, source_fields("talkface.animate_config:AnimateConfig"))


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``batch`` to the ``talkface`` subcommands (:class:`talkface.cli_options.LazySubParsers`: its options are
    added when it is parsed; the per-row defaults are AnimateConfig's)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "batch", help="render a CSV/JSONL manifest of (photo, speech) jobs: models loaded once per worker, resumable, "
        "--workers / --shard i/n (SLURM) / --ray", description=DESCRIPTION, epilog=EPILOG, formatter_class=_FORMAT,
        populate=_fill,
    )
    p.set_defaults(func=run_command)
    return p


def batch_config(args: argparse.Namespace) -> AnimateConfig:
    """The run's AnimateConfig of parsed ``talkface batch`` arguments (every row of :data:`BATCH_ANIMATE` reaches
    it; ``--threads`` not given: the CPU cores shared among the workers)."""
    kwargs = animate_kwargs(BATCH_ANIMATE, args)
    if kwargs["threads"] is None:
        kwargs["threads"] = max(1, (os.cpu_count() or 1) // args.workers)
    return AnimateConfig(**kwargs)


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``talkface batch``: 0 all rows ok/skipped, 1 some row failed."""
    summary = run_batch(args.manifest, args.output, batch_config(args), workers=args.workers, shard=args.shard,
                        overwrite=args.overwrite, retries=args.retries, ray_address=args.ray,
                        progress=not args.quiet)
    print(f"talkface batch: {summary.ok} rendered, {summary.skipped} skipped (already done), {summary.failed} failed "
          f"in {summary.seconds:.1f} s; results: {summary.results}", file=sys.stdout)
    return 1 if summary.failed else 0
