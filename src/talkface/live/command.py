"""``talkface live``: animate a photo while speech arrives (a file played at real speed, or PCM on stdin)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from talkface.animate_config import animate_default
from talkface.config_checks import MAX_LIVE_S, number_arg
from talkface.errors import InputError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, positive_int: Any) -> argparse.ArgumentParser:
    """Add the ``live`` subcommand to the ``talkface`` parser (shared defaults: AnimateConfig's)."""
    d = animate_default
    p: argparse.ArgumentParser = sub.add_parser(
        "live",
        help="animate a photo while the speech arrives (file at real speed or raw PCM on stdin) -> mp4",
        description="Live mode: the face talks while the speech arrives. The speech is a file played at real "
        "speed (--audio-from speech.wav; any format talkface reads) or raw 16-bit little-endian PCM, 16 kHz mono, "
        "on stdin (--audio-from -, e.g. from a TTS engine or `arecord -f S16_LE -r 16000 -c 1`). Frames are made "
        "with a 120-ms look-ahead by the streaming motion model of the bundle and written, with the audio, to an "
        "mp4 as they come (-o). For a browser or a program that wants the frames themselves, use the live page "
        "and WebSocket of `talkface serve` (/live, /v1/live). Prints frames/s and latency at the end.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("face", help="photo of one face (JPEG, PNG, WebP, ...)")
    p.add_argument("--audio-from", required=True, metavar="FILE|-",
                   help="speech file, or - for raw s16le 16 kHz mono PCM on stdin")
    p.add_argument("-o", "--output", required=True, help="mp4 to write (frames + audio, written as they come)")
    p.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=True,
                   help="play a file at real speed (--no-realtime: as fast as frames can be made)")
    p.add_argument("--chunk-ms", type=float, default=40.0, help="audio chunk length fed at a time, ms")
    p.add_argument("--size", type=int, default=0, help="0 = whole photo; N = N x N face crop")
    p.add_argument("--blink-rate", type=float, default=d("blink_rate"),
                   help="blinks per second (negative: natural rate)")
    p.add_argument("--motion-scale", type=number_arg("motion_scale"), default=d("motion_scale"),
                   help="gain on the mouth motion")
    p.add_argument("--head-motion", type=number_arg("head_motion"), default=d("head_motion"),
                   help="strength of the head and brow motion, generated online from the speech received so far "
                   "(the same seeded prior as `talkface animate`; seeded by --seed): 0 = the head keeps the photo's "
                   "pose, 1 = natural, up to 3 = livelier")
    p.add_argument("--raw-mouth", action="store_true",
                   help="use the streaming model's mouth amplitude as predicted; by default a running estimate of "
                   "the mouth opening's variability scales the mouth motion (x1-2.5) as `animate` does per utterance")
    p.add_argument("--shading", type=number_arg("shading"), default=d("shading"),
                   help="strength of the learned lower-face shading (as `talkface animate --shading`): 1 = as "
                   "learned, 0 = off")
    p.add_argument("--seed", type=int, default=0, help="blink and head-motion seed")
    p.add_argument("--model", default=None, help="model bundle folder (default: the bundled model)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--max-duration", type=float, default=MAX_LIVE_S, help="longest speech file accepted, seconds")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``talkface live``."""
    from talkface.live.run import LiveRunner, file_source, pcm_source, run_threaded  # lazy: loads torch
    from talkface.live.sink import Mp4Sink  # lazy: loads numpy
    from talkface.live.stream import FaceStream  # lazy: loads torch
    from talkface.pipeline import VIDEO_SUFFIXES, AnimateConfig, Animator  # lazy: loads torch

    out = Path(args.output)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(out, f"output must be a video file ({', '.join(VIDEO_SUFFIXES)})")
    if not out.parent.is_dir():
        raise InputError(out, "output folder does not exist")
    if args.chunk_ms <= 0:
        raise InputError(None, f"--chunk-ms must be > 0, got {args.chunk_ms}")
    audio = None
    if args.audio_from != "-":
        from talkface.io.media import check_speech, read_audio  # lazy: loads av

        audio = read_audio(args.audio_from, sample_rate=16000, max_duration_s=args.max_duration + 1)
        check_speech(audio, args.audio_from, sample_rate=16000, max_duration_s=args.max_duration)
    animator = Animator(AnimateConfig(model=args.model, threads=args.threads, motion_scale=args.motion_scale,
                                      blink_rate=None if args.blink_rate < 0 else args.blink_rate, seed=args.seed,
                                      size=args.size, head_motion=args.head_motion,
                                      normalise_mouth=not args.raw_mouth, shading=args.shading))
    face = FaceStream(animator, args.face)
    sink = Mp4Sink(out, face.fps, face.sample_rate)

    def on_frame(index: int, ts: float, frame: Any, latency: float) -> None:
        sink.add_frame(frame)

    runner = LiveRunner(face, on_frame, on_audio=sink.add_audio)
    source = (file_source(audio, args.chunk_ms / 1000.0, realtime=args.realtime) if audio is not None
              else pcm_source(chunk_s=args.chunk_ms / 1000.0))
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
