"""The ``talkface`` command: parses arguments and calls the package; no logic of its own.

Any problem with the user's input is printed as one line (``talkface: error: <file>: <problem>``)
with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from talkface import __version__
from talkface.errors import TalkfaceError

Handler = Callable[[argparse.Namespace], int]


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected i/n (e.g. 0/4), got {text!r}") from exc
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"need 0 <= i < n, got {text!r}")
    return i, n


def _cmd_preprocess(args: argparse.Namespace) -> int:
    from talkface.data.dataset import PreparedDataset
    from talkface.data.preprocess import PreprocessConfig, preprocess
    from talkface.data.preview import render_preview

    config = PreprocessConfig(
        crop_size=args.crop_size,
        feature=args.feature,
        detect_every=args.detect_every,
        max_duration_s=args.max_duration,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        split_seed=args.seed,
        speaker_regex=args.speaker_regex,
    )
    summary = preprocess(args.inputs, args.output, config, workers=args.workers, shard=args.shard,
                         progress=not args.quiet)
    print(
        f"prepared {summary.done} clip(s), {summary.skipped_existing} already done, {summary.failed} failed; "
        f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.frames_per_second:.1f} frames/s) "
        f"-> {args.output}"
    )
    for err in summary.errors:
        print(f"  skipped: {err}")
    if args.preview:
        ds = PreparedDataset(args.output)
        for clip in ds.clips():
            render_preview(clip, Path(args.output) / "previews" / f"{clip.clip_id}.png")
        print(f"previews: {Path(args.output) / 'previews'}")
    return 0 if summary.done + summary.skipped_existing > 0 or summary.total == 0 else 1


def _cmd_inspect(args: argparse.Namespace) -> int:
    from talkface.data.dataset import PreparedDataset, load_clip
    from talkface.data.preview import render_preview

    target = Path(args.target)
    if target.suffix == ".npz":
        clips = [load_clip(target)]
    else:
        ds = PreparedDataset(target)
        ids = args.clip or ds.ids()[:1]
        clips = [load_clip(ds.clip_path(c)) for c in ids]
    for clip in clips:
        out = Path(args.output) if len(clips) == 1 and args.output else Path(args.output or ".") / (
            clip.clip_id.replace("/", "_") + ".png")
        render_preview(clip, out, frame=args.frame)
        print(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full ``talkface`` argument parser (every subcommand)."""
    parser = argparse.ArgumentParser(
        prog="talkface",
        description="talkface: one still photo of a face + a speech recording -> a talking-head video. "
        "Subcommands prepare data, train the models, animate faces and evaluate results.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"talkface {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "preprocess",
        help="prepare talking videos into a training dataset",
        description="Turn folders of talking-head videos (GRID sN/*.mpg, or any folder of mp4/avi/mov/webm, "
        "with the speech in the video or in a same-named .wav beside it) into a prepared dataset: aligned face "
        "crops (H.264), 68 landmarks per frame in image, crop and canonical coordinates, eye aspect ratio, the "
        "neutral frame, per-frame speech features, and a train/val/test split by speaker. Resumable (finished "
        "clips are skipped), parallel (--workers), shardable across machines (--shard i/n). Clips that cannot be "
        "used are listed with the reason and do not stop the run.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", help="video files or folders (searched recursively)")
    p.add_argument("-o", "--output", required=True, help="dataset folder to create or resume")
    p.add_argument("--crop-size", type=int, default=128, choices=(128, 256), help="aligned crop side, pixels")
    p.add_argument("--feature", default="whisper-tiny.en",
                   help="speech feature: whisper-tiny.en (default, speaker-invariant), whisper-base (multilingual, "
                   "extra 'multilingual'), mfcc, logmel, raw, hama (extra 'phonemes')")
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                   help="processes working on different files")
    p.add_argument("--shard", type=_shard, default=(0, 1), metavar="I/N",
                   help="only the I-th of N shares of the files (for SLURM arrays / many machines)")
    p.add_argument("--detect-every", type=int, default=5, help="run the face detector every k frames")
    p.add_argument("--max-duration", type=float, default=600.0, help="skip clips longer than this, seconds")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of speakers held out for validation")
    p.add_argument("--test-fraction", type=float, default=0.1, help="share of speakers held out for testing")
    p.add_argument("--speaker-regex", default=None,
                   help="regex on the file stem whose group 1 names the speaker (default: sub-folder, else stem)")
    p.add_argument("--seed", type=int, default=0, help="seed of the speaker split")
    p.add_argument("--preview", action="store_true", help="also write previews/<speaker>/<clip>.png")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_preprocess)

    p = sub.add_parser(
        "inspect",
        help="PNG of a prepared clip: frame, landmarks, EAR curve",
        description="Write a PNG showing a prepared clip's aligned crop with its landmarks, its landmark image "
        "and its eye-aspect-ratio curve with detected blinks.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("target", help="a prepared dataset folder or one clip's .npz")
    p.add_argument("--clip", action="append", help="clip id <speaker>/<utterance> (repeatable; default: the first)")
    p.add_argument("--frame", type=int, default=None, help="frame to show (default: the neutral frame)")
    p.add_argument("-o", "--output", default=None, help="PNG file (one clip) or folder")
    p.set_defaults(func=_cmd_inspect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``talkface`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.func
    try:
        return handler(args)
    except TalkfaceError as exc:
        print(f"talkface: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("talkface: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
