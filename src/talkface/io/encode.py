"""Video out through PyAV: H.264 (libx264, yuv420p) with AAC speech muxed in, frame by frame, atomically.

:func:`write_video` streams frames as they arrive, so a generator of frames is encoded in constant
memory; :mod:`talkface.io.media` (reading) re-exports it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from talkface.io.atomic import atomic_path

__all__ = ["AAC_FRAME_SIZE", "write_video"]

PathLike = str | os.PathLike[str]

#: AAC encodes audio in frames of this many samples.
AAC_FRAME_SIZE = 1024


def _as_audio_samples(audio: np.ndarray) -> np.ndarray:
    """Audio to (N,) float32 in [-1, 1]; integer PCM is scaled by its full range."""
    a = np.asarray(audio)
    if a.ndim == 2 and 1 in a.shape:
        a = a.reshape(-1)
    if a.ndim != 1:
        raise ValueError(f"audio must be (N,) mono, got shape {a.shape}")
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max + 1)
    a = np.nan_to_num(a.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(a, -1.0, 1.0)


def _even_frame(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad an (h, w, 3) frame by edge replication to (height, width, 3), both even."""
    h, w = frame.shape[:2]
    if (h, w) == (height, width):
        return frame
    return np.pad(frame, ((0, height - h), (0, width - w), (0, 0)), mode="edge")


def _check_frame(frame: Any, index: int) -> np.ndarray:
    f = np.asarray(frame)
    if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
        raise ValueError(f"frame {index}: expected (H, W, 3) uint8 RGB, got {f.shape} {f.dtype}")
    return f


def write_video(
    path: PathLike,
    frames: Iterable[np.ndarray] | np.ndarray,
    fps: float,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    crf: int = 18,
    preset: str = "medium",
) -> int:
    """Encode frames (and optional speech) to an H.264 + AAC file, atomically.

    Frames are encoded as they arrive, so a generator is written in constant memory; audio is
    encoded alongside, in step with the video, so packets are interleaved in the file. Odd
    frame sizes are padded (edge pixels repeated) to even, as yuv420p requires. The file
    appears under ``path`` only when complete (see :func:`talkface.io.atomic.atomic_path`).

    Args:
        path: output file; ``.mp4`` (also ``.mov``/``.mkv``).
        frames: (T, H, W, 3) uint8 RGB array, or an iterable of (H, W, 3) uint8 RGB frames of
            one size.
        fps: frame rate, frames/s.
        audio: (N,) float mono in [-1, 1] at ``sample_rate`` (integer PCM is scaled), or None
            for a silent video. All of it is written, even past the last frame.
        sample_rate: rate of ``audio``, Hz.
        crf: libx264 constant rate factor (0 lossless .. 51; 18 is visually lossless).
        preset: libx264 speed/size preset ("ultrafast" .. "veryslow").

    Returns:
        Number of video frames written.

    Raises:
        ValueError: no frames, frames of the wrong shape/dtype or changing size, bad fps.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    rate = Fraction(fps).limit_denominator(1001)
    samples = None if audio is None else _as_audio_samples(audio)
    if samples is not None and samples.size == 0:
        samples = None
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError("write_video: no frames to write")
    first = _check_frame(first, 0)
    h0, w0 = first.shape[:2]
    height, width = h0 + h0 % 2, w0 + w0 % 2

    suffix = Path(path).suffix.lower()
    fmt = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}.get(suffix)
    options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
    written = 0
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format=fmt, options=options) as out:
        vstream = out.add_stream("libx264", rate=rate)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        vstream.codec_context.time_base = 1 / rate
        vstream.codec_context.options = {"crf": str(int(crf)), "preset": preset}
        astream = None
        if samples is not None:
            astream = out.add_stream("aac", rate=sample_rate)
            astream.codec_context.layout = "mono"
            astream.codec_context.format = "fltp"
            astream.codec_context.bit_rate = 64000
            astream.codec_context.time_base = Fraction(1, sample_rate)
        audio_sent = 0

        def send_audio(until: int, final: bool = False) -> None:
            """Encode audio up to sample ``until`` in AAC-sized frames (a short last one if final)."""
            nonlocal audio_sent
            assert samples is not None and astream is not None
            until = min(until, samples.shape[0])
            while until - audio_sent >= AAC_FRAME_SIZE or (final and until > audio_sent):
                chunk = samples[audio_sent : audio_sent + AAC_FRAME_SIZE]
                aframe = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                aframe.sample_rate = sample_rate
                aframe.pts = audio_sent
                aframe.time_base = Fraction(1, sample_rate)
                out.mux(astream.encode(aframe))
                audio_sent += chunk.shape[0]

        frame: np.ndarray | None = first
        while frame is not None:
            f = _check_frame(frame, written)
            if f.shape[:2] != (h0, w0):
                raise ValueError(f"frame {written}: size {f.shape[:2]} differs from the first {(h0, w0)}")
            vframe = av.VideoFrame.from_ndarray(np.ascontiguousarray(_even_frame(f, height, width)), "rgb24")
            vframe.pts = written
            vframe.time_base = 1 / rate
            out.mux(vstream.encode(vframe))
            written += 1
            if samples is not None:
                send_audio(int(written / rate * sample_rate))
            frame = next(iterator, None)
        out.mux(vstream.encode(None))
        if samples is not None and astream is not None:
            send_audio(samples.shape[0], final=True)
            out.mux(astream.encode(None))
    return written
