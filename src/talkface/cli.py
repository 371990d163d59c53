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
from typing import TYPE_CHECKING

from talkface import __version__
from talkface.errors import TalkfaceError

if TYPE_CHECKING:
    from talkface.train.core import TrainConfig

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


def _devices(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def _train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    from talkface.train.core import TrainConfig

    return TrainConfig(
        max_steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        accelerator=args.accelerator, devices=args.devices, strategy=args.strategy, precision=args.precision,
        num_nodes=args.num_nodes, num_workers=args.loader_workers, num_threads=args.threads,
        checkpoint_every_n_steps=args.checkpoint_every, log_every_n_steps=args.log_every,
        progress_bar=not args.quiet,
    )


def _add_train_args(p: argparse.ArgumentParser, steps: int, batch_size: int, lr: float) -> None:
    """Options of every `talkface train-*` command (fields of talkface.train.core.TrainConfig)."""
    p.add_argument("-o", "--output", required=True, help="run folder (resumed from its last.ckpt if present)")
    p.add_argument("--steps", type=int, default=steps, help="training batches in total")
    p.add_argument("--batch-size", type=int, default=batch_size, help="samples per batch per device")
    p.add_argument("--lr", type=float, default=lr, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--accelerator", default="auto", help="cpu, gpu, auto")
    p.add_argument("--devices", type=_devices, default="auto", help="device count or 'auto'")
    p.add_argument("--strategy", default="auto", help="Lightning strategy (auto, ddp, ...)")
    p.add_argument("--precision", default="auto", help="auto (32-bit), bf16-mixed, 16-mixed")
    p.add_argument("--num-nodes", type=int, default=1, help="machines (multi-node DDP)")
    p.add_argument("--loader-workers", type=int, default=0, help="data-loader worker processes")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--checkpoint-every", type=int, default=1000, help="write step=N.ckpt every N batches")
    p.add_argument("--log-every", type=int, default=50, help="log losses every N batches")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _cmd_train_motion(args: argparse.Namespace) -> int:
    train = _train_config_from_args(args)
    if args.model == "blink":
        from talkface.motion.blink import train_blink
        from talkface.motion.data import BlinkDataConfig

        last = train_blink(args.output, BlinkDataConfig(roots=tuple(args.data)), train)
    else:
        from talkface.motion.data import MotionDataConfig
        from talkface.motion.lgan import LGANConfig, train_lgan

        model = LGANConfig(regression_only=args.model == "regression", temporal_loss=args.temporal_loss)
        last = train_lgan(args.output, MotionDataConfig(roots=tuple(args.data)), train, model)
    print(last)
    return 0


def _cmd_evaluate_motion(args: argparse.Namespace) -> int:
    import torch

    from talkface.eval.motion_metrics import blink_statistics, dataset_blink_statistics, evaluate_motion
    from talkface.motion.blink import load_blink
    from talkface.motion.lgan import load_lgan

    if args.threads:
        torch.set_num_threads(args.threads)
    models: dict[str, object] = {"static-neutral": None}
    models.update({Path(p).parent.name or p: load_lgan(p) for p in args.lgan})
    for name, s in evaluate_motion(args.data, models, split=args.split).items():
        print(f"{name}: LMD {s.lmd:.3f} px (retargeted {s.lmd_person:.3f}), "
              f"mouth-opening r {s.mouth_correlation:.3f}, opening amplitude {s.opening_amplitude:.2f}, "
              f"{s.num_clips} clips")
    if args.blink:
        truth = dataset_blink_statistics(args.data, args.split)
        print(f"real clips ({args.split}): {truth.rate:.3f} blinks/s, {truth.duration:.3f} s")
        model = load_blink(args.blink)
        n = round(args.seconds * model.config.fps)
        for rate in [None, *args.blink_rate]:
            seqs = model.generate(n, args.sequences, seed=0, blink_rate=rate)
            bs = blink_statistics(seqs, model.config.fps)
            print(f"G_B ({'natural' if rate is None else f'target {rate}/s'}): {bs.rate:.3f} blinks/s, "
                  f"{bs.duration:.3f} s mean duration, {len(bs.durations)} blinks in {args.sequences} x "
                  f"{args.seconds:g} s")
    return 0


def _cmd_landmarks(args: argparse.Namespace) -> int:
    import torch

    from talkface.face.landmarks import landmarks_for_image
    from talkface.io.images import read_image
    from talkface.io.media import check_speech, read_audio
    from talkface.motion.blink import load_blink
    from talkface.motion.lgan import load_lgan
    from talkface.motion.render import plot_mouth_vs_energy, predict_landmarks, render_landmark_video

    if args.threads:
        torch.set_num_threads(args.threads)
    image = read_image(args.face)
    person = landmarks_for_image(image, args.face)
    audio = read_audio(args.speech, max_duration_s=args.max_duration + 1)
    check_speech(audio, args.speech, max_duration_s=args.max_duration)
    lgan = load_lgan(args.lgan)
    blink = load_blink(args.blink) if args.blink else None
    landmarks = predict_landmarks(image, audio, lgan, blink, seed=args.seed, blink_rate=args.blink_rate,
                                  person_landmarks=person, image_path=args.face)
    fps = float(lgan.config.fps)
    render_landmark_video(args.output, landmarks, audio, fps, image.shape[:2],
                          background=image if args.on_photo else None)
    print(f"{args.output}: {len(landmarks)} frames at {fps:g} fps")
    if args.plot:
        plot_mouth_vs_energy(args.plot, landmarks, audio, fps)
        print(args.plot)
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

    p = sub.add_parser(
        "train",
        help="train a model: motion (l-GAN), regression (its ablation) or blink",
        description="Train on prepared datasets (talkface preprocess): 'motion' = l-GAN G_L + D_L with the losses of "
        "the cascade paper's eq. 1-5, 'regression' = G_L alone (ablation), 'blink' = blink generator G_B (MMD + "
        "min-max). Writes last.ckpt, step=N.ckpt, config.json and metrics.csv into --output and resumes from "
        "last.ckpt. --devices/--strategy/--num-nodes give multi-GPU and multi-node DDP with no code change.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("model", choices=("motion", "regression", "blink"))
    p.add_argument("data", nargs="+", help="prepared dataset folder(s)")
    p.add_argument("--temporal-loss", choices=("smooth", "match"), default="smooth",
                   help="eq. 2 as written (smooth) or the identity paper's eq. 3 (match the truth's motion)")
    _add_train_args(p, steps=6000, batch_size=16, lr=2e-4)
    p.set_defaults(func=_cmd_train_motion)

    p = sub.add_parser(
        "evaluate-motion",
        help="LMD / mouth correlation of l-GAN checkpoints, blink statistics of a blink generator",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("data", nargs="+", help="prepared dataset folder(s)")
    p.add_argument("--lgan", action="append", default=[], help="l-GAN checkpoint (repeatable)")
    p.add_argument("--blink", default=None, help="blink-generator checkpoint")
    p.add_argument("--split", default="test", help="split to evaluate on")
    p.add_argument("--sequences", type=int, default=100, help="generated blink sequences")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each generated sequence")
    p.add_argument("--blink-rate", type=float, action="append", default=[], help="also test this target rate")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=_cmd_evaluate_motion)

    p = sub.add_parser(
        "landmarks",
        help="photo + speech -> video of the predicted landmarks (with the audio)",
        description="Predict the face's landmark motion for the speech (speech features -> l-GAN -> blink "
        "generator -> retargeting onto the photo's own landmarks) and render it as an mp4 with the audio muxed in.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("face", help="photo of one face (jpg/png/...)")
    p.add_argument("speech", help="speech recording (wav/mp3/flac/m4a/ogg, or a video's audio track)")
    p.add_argument("-o", "--output", required=True, help="mp4 to write")
    p.add_argument("--lgan", required=True, help="l-GAN checkpoint (talkface train motion)")
    p.add_argument("--blink", default=None, help="blink-generator checkpoint (talkface train blink); none: no blinks")
    p.add_argument("--blink-rate", type=float, default=0.35, help="blinks per second (human range 0.28-0.4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the blink noise")
    p.add_argument("--on-photo", action="store_true", help="draw the landmarks over the photo")
    p.add_argument("--plot", default=None, help="also write a PNG of mouth opening vs. audio energy")
    p.add_argument("--max-duration", type=float, default=600.0, help="longest speech accepted, seconds")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=_cmd_landmarks)
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
