"""``talkface live``: animate a photo while speech arrives (a file played at real speed, or PCM on stdin).

Its options are two tables of :class:`talkface.cli_options.Opt` rows: :data:`LIVE`, how the speech is
fed (:class:`talkface.live.config.LiveConfig`), and :data:`LIVE_ANIMATE`, the animation, which are
``talkface animate``'s own rows (same spelling, help, default and range; :class:`AnimateConfig`).
Both configs are built from the parsed arguments by :func:`live_configs`, so every option reaches
the config it drives and is checked there, once.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from talkface.animate_config import AnimateConfig
from talkface.cli_groups import _FORMAT, ANIMATE, QUIET, animate_kwargs
from talkface.cli_options import Opt, add_options, config_kwargs, source_fields
from talkface.errors import InputError
from talkface.live.config import LiveConfig

__all__ = ["LIVE", "LIVE_ANIMATE", "add_parser", "live_configs", "run"]

DESCRIPTION = (
    "Live mode: the face talks while the speech arrives. The speech is a file played at real speed (--audio-from "
    "speech.wav; any format talkface reads) or raw 16-bit little-endian PCM, 16 kHz mono, on stdin (--audio-from -, "
    "e.g. from a TTS engine or `arecord -f S16_LE -r 16000 -c 1`). Frames are made with a 120-ms look-ahead by the "
    "streaming motion model of the bundle and written, with the audio, to an mp4 as they come (-o). The animation "
    "options are those of `talkface animate` (same defaults and ranges); the head motion and the mouth amplitude are "
    "estimated online from the speech received so far. For a browser or a program that wants the frames themselves, "
    "use the live page and WebSocket of `talkface serve` (/live, /v1/live). Prints frames/s and latency at the end."
)

_LIVE_CONFIG = "talkface.live.config:LiveConfig"
_ANIMATE_CONFIG = "talkface.animate_config:AnimateConfig"

#: Options of ``talkface live`` of its own: the inputs, the output and how the speech is fed (LiveConfig).
LIVE = [
    Opt("face", "photo of one face (jpg/png/webp/...; gray, RGBA, CMYK, 16-bit are converted)", flag=""),
    Opt("audio_from", "speech file, or - for raw s16le 16 kHz mono PCM on stdin", required=True, metavar="FILE|-"),
    Opt("output", "mp4 to write (frames + audio, written as they come)", short="-o", required=True),
    Opt("realtime", "play a file at real speed (--no-realtime: as fast as frames can be made)", flag="--realtime",
        action=argparse.BooleanOptionalAction),
    Opt("chunk_ms", "audio chunk length fed at a time, ms"),
    Opt("max_duration_s", "longest speech file accepted, seconds", flag="--max-duration"),
    replace(QUIET, help="no summary line"),
]

_RAW_MOUTH_LIVE = ("use the streaming model's mouth amplitude as predicted; by default a running estimate of the "
                   "mouth opening's variability scales the mouth motion (x1-2.5) as `animate` does per utterance")
_ROWS = {opt.name: opt for opt in ANIMATE}

#: The animation options of ``talkface live``: ``talkface animate``'s rows (AnimateConfig fields) that the stream
#: honours (not crf / chunk_frames / max_duration_s: the mp4 sink and the speech limit are live's own).
LIVE_ANIMATE = [
    *(_ROWS[name] for name in ("model", "person", "blink_rate", "motion_scale", "close_mouth", "head_motion")),
    replace(_ROWS["normalise_mouth"], help=_RAW_MOUTH_LIVE),
    *(_ROWS[name] for name in ("mouth_request", "renderer", "mouth", "shading", "adaptive_mouth", "size", "max_side",
                               "seed", "device", "threads", "backend")),
]


def _fill(parser: argparse.ArgumentParser) -> None:
    add_options(parser, LIVE, source_fields(_LIVE_CONFIG))
    group = parser.add_argument_group("animation", "the options of `talkface animate`, with the same defaults")
    add_options(group, LIVE_ANIMATE, source_fields(_ANIMATE_CONFIG))


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``live`` subcommand to the ``talkface`` subparsers (:class:`talkface.cli_options.LazySubParsers`:
    its options are added when it is parsed)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "live", populate=_fill, formatter_class=_FORMAT, description=DESCRIPTION,
        help="animate a photo while the speech arrives (file at real speed or raw PCM on stdin) -> mp4",
    )
    return p


def live_configs(args: argparse.Namespace) -> tuple[AnimateConfig, LiveConfig]:
    """The animation's and the session's configs of parsed ``talkface live`` arguments (every row of
    :data:`LIVE_ANIMATE` and :data:`LIVE` that names a field reaches its config, which checks it)."""
    return AnimateConfig(**animate_kwargs(LIVE_ANIMATE, args)), LiveConfig(**config_kwargs(LiveConfig, LIVE, args))


def run(args: argparse.Namespace) -> int:
    """Run ``talkface live``."""
    from talkface.live.run import LiveRunner, file_source, pcm_source, run_threaded  # lazy: loads torch
    from talkface.live.sink import Mp4Sink  # lazy: loads numpy
    from talkface.live.stream import FaceStream  # lazy: loads torch
    from talkface.pipeline import Animator, check_paths, read_bundle_info  # lazy: loads torch

    config, live = live_configs(args)
    speech = None if args.audio_from == "-" else args.audio_from
    out = check_paths(args.face, speech, args.output, config.person)  # before any model loads
    if config.model is not None:
        read_bundle_info(Path(config.model))
    audio = None
    if speech is not None:
        from talkface.io.media import check_speech, read_audio  # lazy: loads av

        audio = read_audio(speech, sample_rate=16000, max_duration_s=live.max_duration_s + 1)
        check_speech(audio, speech, sample_rate=16000, max_duration_s=live.max_duration_s)
    animator = Animator(config)
    face = FaceStream(animator, args.face)
    sink = Mp4Sink(out, face.fps, face.sample_rate)

    def on_frame(index: int, ts: float, frame: Any, latency: float) -> None:
        sink.add_frame(frame)

    runner = LiveRunner(face, on_frame, on_audio=sink.add_audio)
    chunk_s = live.chunk_ms / 1000.0
    source = (file_source(audio, chunk_s, realtime=live.realtime) if audio is not None
              else pcm_source(chunk_s=chunk_s))
    try:
        stats = run_threaded(runner, source)
        if stats.frames == 0:
            raise InputError(args.audio_from, "no audio arrived")
        sink.close()
    except BaseException:
        sink.abort()
        raise
    if not args.quiet:
        s = stats.summary()
        print(f"{out}: {int(s['frames'])} frames, {s['audio_s']:.1f} s of speech in {s['wall_s']:.1f} s "
              f"({s['fps']:.1f} frames/s); latency median {s['latency_median_ms']:.0f} ms, "
              f"p95 {s['latency_p95_ms']:.0f} ms, max {s['latency_max_ms']:.0f} ms", file=sys.stderr)
    return 0
