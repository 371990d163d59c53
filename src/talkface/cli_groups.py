"""The ``talkface`` argument parser's pieces: option tables and the animate, data and motion command groups.

Each table below lists a command's options as :class:`talkface.cli_options.Opt` rows: the config
field, its command-line spelling and its help; defaults, types and accepted ranges come from the
config dataclass (and :data:`talkface.config_checks.LIMITS`), so that a default or a range is
written once, beside the config. A command's options are added when the command is parsed (see
:class:`talkface.cli_options.LazySubParsers`): ``talkface --help`` imports no model code. The
handlers (``talkface.cli._cmd_*``) are passed in by :func:`talkface.cli.build_parser`
(through :func:`talkface.cli_parser.build`).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from talkface.cli_options import LazySubParsers, Opt, config_kwargs, lazy_options, source_fields
from talkface.config_checks import number_arg
from talkface.render import RESAMPLE_KERNELS

Handlers = Mapping[str, Callable[[argparse.Namespace], int]]
_FORMAT = argparse.ArgumentDefaultsHelpFormatter


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected i/n (e.g. 0/4), got {text!r}") from exc
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"need 0 <= i < n, got {text!r}")
    return i, n


def _devices(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def _named_folder(text: str) -> tuple[str, str]:
    """argparse type of ``--videos NAME=DIR``."""
    name, sep, folder = text.partition("=")
    if not sep or not name.strip() or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, got {text!r}")
    return name.strip(), folder


def positive_int(text: str) -> int:
    """argparse type of a whole number >= 1."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


# Commands that build no config check these while parsing (against the same LIMITS as the configs).
_motion_scale = number_arg("motion_scale")
_head_motion = number_arg("head_motion")

HEAD_MOTION_HELP = ("strength of the generated head and brow motion (yaw/pitch/roll, small shifts, brow raises, "
                    "following the speech's loudness; seeded by --seed): 0 = the head keeps the photo's pose, "
                    "1 = natural, up to 3 = livelier")
RAW_MOUTH_HELP = ("use the motion model's mouth amplitude as predicted; by default each utterance's mouth motion is "
                  "scaled (x1-2.5) to vary as much as real speech does, since the model under-shoots on unseen voices")
KEEP_OPEN_HELP = ("keep an open mouth in the photo as the neutral face (it then stays open throughout); by default "
                  "it is closed for the animation")
RENDERER_HELP = ("native: the photo warped at its own resolution by the landmarks, mouth interior and closing lids "
                 "painted (sharp, no seam); crop: the texture generator's 128 px face crop pasted back (previous "
                 "default, blurrier)")
MOUTH_HELP = ("native renderer's mouth interior: painted (dark cavity + teeth in the photo's colours), cavity (no "
              "teeth), warp (nothing painted), generator (the crop generator's mouth inside the lips), retrieved "
              "(real mouth interiors of GRID s1 recoloured to the photo); auto: "
              "generator with --person (the person model learned their teeth), else painted")
SHADING_HELP = ("native renderer: strength of the learned lower-face shading (the lip-chin crease and the skin "
                "around the mouth darkening as the jaw drops; learned on GRID s1, faded out where a request "
                "leaves its training range); 1 = as learned, 0 = off (the photo's own shading only)")
ADAPTIVE_MOUTH_HELP = ("native renderer: take the painted mouth interior's darkness and teeth brightness from the "
                       "photo's own contrast instead of fixed levels (closer to real mouths on low-contrast video "
                       "like GRID, duller teeth on HD photos)")
MOUTH_REQUEST_HELP = ("how the predicted motion becomes the requested mouth: centred (amplified about its mean "
                      "posture in speech, a running mean in `talkface live`; an open photo mouth is closed to the "
                      "model's rest gap; the mouth corners keep the photo's posture on average, section 6a), "
                      "model_corners (the same with the motion model's own mean corner posture) or neutral (about "
                      "the closed neutral face, to a zero gap: the behaviour before 2026-12-01; docs/motion.md "
                      "section 6)")
MOTION_SCALE_HELP = ("gain on the speech motion: 1 = as the motion model predicts, >1 wider mouth movements "
                     "(a livelier style, e.g. 1.3), 0 = still mouth; blinks unchanged")

FACE = Opt("face", "photo of one face (jpg/png/...)", flag="")
SPEECH = Opt("speech", "speech recording (wav/mp3/flac/m4a/ogg, or a video's audio track)", flag="")
QUIET = Opt("quiet", "no progress bar", flag="--quiet", short="-q", action="store_true")
THREADS = Opt("threads", "torch CPU threads", show_range=False)
MODEL = Opt("model", "model bundle folder (default: the bundled default model)")
RENDERER = Opt("renderer", RENDERER_HELP, choices=("native", "crop"))


def animate_kwargs(opts: Iterable[Opt], args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~talkface.animate_config.AnimateConfig` keyword arguments of the rows ``opts``, read back from
    the parsed ``args``: every row that names a field reaches the config (an option cannot be parsed and then
    dropped); a negative ``--blink-rate`` means the blink model's natural rate (None)."""
    kwargs = config_kwargs(source_fields(_ANIMATE), opts, args)
    rate = kwargs.get("blink_rate")
    if isinstance(rate, float) and math.isfinite(rate) and rate < 0:
        kwargs["blink_rate"] = None
    return kwargs


def out_opt(help_text: str, **kw: Any) -> Opt:
    return Opt("output", help_text, short="-o", required=True, **kw)


def motion_opts(prefix: str = "", checked: bool = False) -> list[Opt]:
    """The speech-motion options of AnimateConfig (``checked``: range-checked while parsing, for commands that
    build no AnimateConfig)."""
    return [
        Opt("motion_scale", prefix + MOTION_SCALE_HELP, type=_motion_scale if checked else None),
        Opt("close_mouth", prefix + KEEP_OPEN_HELP, flag="--keep-open-mouth", action="store_true"),
        Opt("head_motion", prefix + HEAD_MOTION_HELP, type=_head_motion if checked else None),
        Opt("normalise_mouth", prefix + RAW_MOUTH_HELP, flag="--raw-mouth", action="store_true"),
    ]


ANIMATE = [
    Opt("face", "photo of one face (jpg/png/webp/...; gray, RGBA, CMYK, 16-bit are converted)", flag=""),
    Opt("speech", "speech recording (wav/mp3/flac/ogg/m4a, or a video's audio track)", flag=""),
    out_opt("video file to write (.mp4); an existing file is replaced atomically when the run succeeds, kept "
            "when it fails"), MODEL,
    Opt("person", "person model from 'talkface adapt' (texture fine-tuned to them)"),
    Opt("blink_rate", "blinks per second (humans 0.28-0.4); negative: the blink model's natural rate", type=float,
        show_range=False),
    *motion_opts(),
    # the names of motion.amplitude.MOUTH_REQUESTS
    Opt("mouth_request", MOUTH_REQUEST_HELP, choices=("centred", "model_corners", "neutral")),
    RENDERER,
    Opt("mouth", MOUTH_HELP, choices=("auto", "painted", "cavity", "warp", "generator", "retrieved")),
    Opt("shading", SHADING_HELP),
    Opt("adaptive_mouth", ADAPTIVE_MOUTH_HELP, action="store_true"),
    Opt("resample", "native renderer: how the photo is sampled as the face moves: cubic2x (keeps the photo's fine "
        "detail at sub-pixel head motion), lanczos (the same, slower), cubic (softer, the earlier default)",
        choices=RESAMPLE_KERNELS),
    Opt("size", "0: the whole photo with the face animated; N: only the N x N aligned face crop"),
    Opt("max_side", "downscale larger photos to this longer side first"),
    Opt("seed", "seed of the blink and head-motion noise (same seed, same video)"),
    Opt("max_duration_s", "longest speech accepted, seconds", flag="--max-duration"),
    Opt("device", "torch device (cpu, cuda)"), THREADS,
    Opt("crf", "H.264 quality (lower = better, bigger)"),
    Opt("backend", "texture network on the CPU: onnxruntime (faster) or PyTorch; auto = onnx when available",
        choices=("auto", "onnx", "torch")),
    QUIET,
]

LANDMARKS = [
    FACE, SPEECH, out_opt("mp4 to write"),
    Opt("lgan", "l-GAN checkpoint (talkface train motion) or model bundle folder; default: the shipped model's "
        "motion and blink generators"),
    Opt("blink", "blink-generator checkpoint (talkface train blink); default: the shipped model's when --lgan is "
        "not given, else no blinks"),
    Opt("no_blink", "no blinks", action="store_true"),
    Opt("blink_rate", "blinks per second (human range 0.28-0.4)", type=float),
    *motion_opts(checked=True),
    Opt("seed", "seed of the blink and head-motion noise"),
    Opt("on_photo", "draw the landmarks over the photo", action="store_true"),
    Opt("plot", "also write a PNG of mouth opening vs. audio energy (and the real opening when the speech is a "
        "video of the speaker, e.g. the clip the photo was taken from)"),
    Opt("strip", "also write a PNG strip of the predicted landmarks every 5th frame (above the real ones when the "
        "speech is a video of the speaker)"),
    Opt("max_duration_s", "longest speech accepted, seconds", flag="--max-duration", dest="max_duration_s"),
    THREADS,
]

ANIMATE_E2E = [
    FACE, SPEECH, out_opt("mp4 to write"),
    Opt("checkpoint", "temporal-GAN checkpoint (talkface train e2e) or generator file (default: the bundled "
        "GRID-trained generator, talkface/assets/e2e)"),
    Opt("seed", "noise seed (spontaneous expressions)"),
    Opt("chunk_frames", "frames generated per network call"),
    Opt("max_duration_s", "use at most this many seconds of the speech", flag="--max-duration",
        dest="max_duration_s", default=None),
    Opt("crop_only", "write the aligned face crops, not the whole photo", action="store_true"),
    Opt("device", "torch device (cpu, cuda, cuda:1, ...)"), THREADS, QUIET,
]

#: Where the ADAPT rows take their defaults (and config_kwargs its keywords) from.
ADAPT_SOURCE = "talkface.person:adapt_person"

ADAPT = [
    Opt("inputs", "one video of the person, or several photos", flag="", nargs="+"),
    out_opt("person model file to write (.pt)"), MODEL,
    Opt("frames", "K: frames taken from a video"),
    Opt("steps", "fine-tuning steps (4 frames each)"),
    Opt("lr", "Adam learning rate"),
    Opt("seed", "seed of the batch order"), THREADS, QUIET,
]

BUNDLE = [
    out_opt("bundle folder to create (replaced if present)"),
    Opt("lgan", "l-GAN checkpoint (talkface train motion)", required=True),
    Opt("texture", "texture checkpoint (talkface train texture)", required=True),
    Opt("blink", "blink checkpoint (talkface train blink); none: no blinks"),
    Opt("name", "model name recorded in the bundle", default="talkface"),
    Opt("fp32", "keep float32 weights (default: float16, half the size)", action="store_true"),
    Opt("card", "Markdown model card to include as MODEL_CARD.md"),
    Opt("stream_motion", "streaming motion checkpoint (python -m talkface.live.train) for 'talkface live'"),
]

PREPROCESS = [
    Opt("inputs", "video files or folders (searched recursively)", flag="", nargs="+"),
    out_opt("dataset folder to create or resume"),
    Opt("crop_size", "aligned crop side, pixels", choices=(128, 256), show_range=False),
    Opt("feature", "speech feature: whisper-tiny.en (default, speaker-invariant), whisper-base (multilingual, extra "
        "'multilingual'), mfcc, logmel, raw, hama (extra 'phonemes'), whisper-tiny.en+hama (both side by side)"),
    Opt("workers", "processes working on different files", type=int, default=max(1, (os.cpu_count() or 2) // 2)),
    Opt("shard", "only the I-th of N shares of the files (for SLURM arrays / many machines)", type=_shard,
        default=(0, 1), metavar="I/N"),
    Opt("detect_every", "run the face detector every k frames"),
    Opt("max_duration_s", "skip clips longer than this, seconds", flag="--max-duration"),
    Opt("val_fraction", "share of speakers held out for validation"),
    Opt("test_fraction", "share of speakers held out for testing"),
    Opt("speaker_regex", "regex on the file stem whose group 1 names the speaker (default: sub-folder, else stem)"),
    Opt("split_seed", "seed of the speaker split", flag="--seed"),
    Opt("preview", "also write previews/<speaker>/<clip>.png", action="store_true"),
    Opt("retry_failed", "try again the clips an earlier run could not use (by default they are skipped while the "
        "source file is unchanged)", action="store_true"),
    QUIET,
]

INSPECT = [
    Opt("target", "a prepared dataset folder or one clip's .npz", flag=""),
    Opt("clip", "clip id <speaker>/<utterance> (repeatable; default: the first)", action="append", default=None),
    Opt("frame", "frame to show (default: the neutral frame)", type=int),
    Opt("output", "PNG file (one clip) or folder", short="-o"),
]


@dataclass(frozen=True)
class Command:
    """A ``talkface`` subcommand: its options, where their defaults come from, and its help.

    Attributes:
        name: the command (its handler is ``handlers[name with underscores]``).
        opts: its options.
        sources: ``"module:name"`` of the configs (or functions) giving the defaults, imported when the command
            is parsed; or a populate function of its own (``fill``).
        help, description: the one-line summary and the ``--help`` text.
    """

    name: str
    opts: list[Opt]
    help: str
    description: str | None = None
    sources: tuple[str, ...] = ()
    fill: Callable[[argparse.ArgumentParser], None] | None = None


def add_commands(sub: LazySubParsers, handlers: Handlers, commands: list[Command]) -> None:
    """Add ``commands`` to the subparsers ``sub``; their options are added when a command is parsed."""
    for c in commands:
        kw = {"description": c.description} if c.description else {}
        p = sub.add_parser(c.name, formatter_class=_FORMAT, populate=c.fill or lazy_options(c.opts, *c.sources),
                           help=c.help, **kw)
        p.set_defaults(func=handlers[c.name.replace("-", "_")])


_ANIMATE = "talkface.animate_config:AnimateConfig"

#: animate, adapt, bundle, preprocess, inspect.
COMMANDS = [
    Command(
        "animate", ANIMATE, sources=(_ANIMATE,),
        help="photo of a face + speech -> talking-head mp4 (the default model ships with talkface)",
        description="Animate the face in a photo with a speech recording: speech features -> l-GAN landmark motion -> "
        "blink generator -> retargeting onto the photo's landmarks -> the photo warped at its own resolution by "
        "those landmarks, mouth interior and closing lids painted (--renderer crop: the texture generator's face "
        "crop pasted back), H.264 video with the speech muxed in (AAC). Works offline with the model bundled in the "
        "package; --model picks another bundle (see talkface.pipeline.make_bundle). Bad input (no face or several, "
        "silent/corrupt/empty audio, ...) gives a one-line error and no output file."),
    Command(
        "adapt", ADAPT, sources=(ADAPT_SOURCE,),
        help="fine-tune the texture generator to one person from a short video or a few photos",
        description="Few-shot adaptation (cascade paper Sec. 3.5): take K frames of the person (evenly spaced from "
        "one video, or K photos), fine-tune the texture generator on them and write a person model; then "
        "'talkface animate PHOTO SPEECH --person person.pt' uses it. Takes about a minute on a CPU for K=20."),
    Command(
        "bundle", BUNDLE, help="pack trained checkpoints into a model bundle for 'talkface animate --model'",
        description="Export the l-GAN, blink-generator and texture checkpoints (generators only, fp16) into one "
        "folder with a talkface-model.json; the bundle is checked by loading it before it is written."),
    Command(
        "preprocess", PREPROCESS, sources=("talkface.data.preprocess:PreprocessConfig",),
        help="prepare talking videos into a training dataset",
        description="Turn folders of talking-head videos (GRID sN/*.mpg, or any folder of mp4/avi/mov/webm, with the "
        "speech in the video or in a same-named .wav beside it) into a prepared dataset: aligned face crops (H.264), "
        "68 landmarks per frame in image, crop and canonical coordinates, eye aspect ratio, the neutral frame, "
        "per-frame speech features, and a train/val/test split by speaker. Resumable (finished clips are skipped), "
        "parallel (--workers), shardable across machines (--shard i/n). Clips that cannot be used are listed with "
        "the reason and do not stop the run."),
    Command(
        "inspect", INSPECT, help="PNG of a prepared clip: frame, landmarks, EAR curve",
        description="Write a PNG showing a prepared clip's aligned crop with its landmarks, its landmark image and "
        "its eye-aspect-ratio curve with detected blinks."),
]

#: landmarks, animate-e2e.
MOTION_COMMANDS = [
    Command(
        "landmarks", LANDMARKS, sources=(_ANIMATE,),
        help="photo + speech -> video of the predicted landmarks (with the audio)",
        description="Predict the face's landmark motion for the speech (speech features -> l-GAN -> mouth-amplitude "
        "normalisation -> blink generator -> retargeting onto the photo's own landmarks -> head and brow motion) with "
        "the shipped model (or --lgan) and render it as an mp4 with the audio muxed in."),
    Command(
        "animate-e2e", ANIMATE_E2E, sources=(_ANIMATE,),
        help="photo + speech -> talking-head video with the end-to-end temporal GAN",
        description="Animate the face of a photo with speech using an end-to-end temporal GAN checkpoint (talkface "
        "train e2e): the aligned face crop and the raw speech go through the generator frame by frame (constant "
        "memory for any length), the generated crops are pasted back into the photo, and the speech is muxed in. "
        "Writes exactly round(duration x fps) frames."),
]
