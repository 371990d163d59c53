"""Audio and video in and out through PyAV (FFmpeg in a wheel; no system ``ffmpeg`` needed).

Reading accepts whatever FFmpeg demuxes: MPEG-1 program streams (``.mpg``), MP4/MOV with H.264,
HEVC or MPEG-4 Part 2, AVI, WebM/MKV, and audio files (WAV, MP3, FLAC, M4A, Ogg). Writing
(:func:`write_video`, in :mod:`talkface.io.encode` and re-exported here) produces H.264 (libx264,
yuv420p) video with AAC audio muxed in, streamed frame by frame so that a generator of frames is
encoded in constant memory.

Every problem with a user's file (missing, empty, not media, no usable stream, corrupt data)
is raised as :class:`talkface.errors.InputError` with a one-line message naming the file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import av
import av.container
import numpy as np

from talkface.errors import InputError, existing_file
from talkface.io.encode import AAC_FRAME_SIZE, write_video  # writing lives in io/encode.py

__all__ = ["AAC_FRAME_SIZE", "SILENCE_DBFS", "MediaInfo", "check_speech", "iter_video_frames", "picture_types", "probe",
           "read_audio", "read_video", "write_video"]

PathLike = str | os.PathLike[str]

#: FFmpeg demuxers that read single still images; a photo renamed ``.mp4`` opens with one of
#: these, and must be rejected as "not an audio or video file" rather than read as a 1-frame video.
_IMAGE_DEMUXER_SUFFIXES = ("_pipe",)
_IMAGE_DEMUXERS = frozenset({"image2", "gif", "apng", "webp", "tty"})

#: Decoding gives up as corrupt when more than this fraction of packets fail (or none decode).
_MAX_BAD_PACKET_FRACTION = 0.1

#: Level under which a speech signal counts as silent (RMS, dB relative to full scale).
SILENCE_DBFS = -60.0



@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` finds in a media file, read from headers without decoding.

    Attributes:
        path: the file as given.
        duration_s: length in seconds (container duration, else the longest stream's).
        has_video: whether there is a video stream.
        has_audio: whether there is an audio stream.
        fps: average frame rate of the first video stream, frames/s (``None`` without video).
        width: frame width of the first video stream, pixels, as displayed (rotation applied).
        height: frame height, pixels, as displayed.
        num_frames: number of video frames; from the header where stored (MP4/MOV), otherwise
            counted by demuxing the video packets (no decoding). ``None`` without video.
        sample_rate: sampling rate of the first audio stream, Hz (``None`` without audio).
        rotation: counter-clockwise display rotation of the video in degrees (0, 90, 180,
            270), already applied to ``width``/``height`` and to decoded frames.
    """

    path: str
    duration_s: float
    has_video: bool
    has_audio: bool
    fps: float | None
    width: int | None
    height: int | None
    num_frames: int | None
    sample_rate: int | None
    rotation: int = 0


# --------------------------------------------------------------------------------------------
# Opening and validating input files
# --------------------------------------------------------------------------------------------


def _ffmpeg_reason(err: BaseException) -> str:
    """One lower-case line describing an FFmpeg error, without the path FFmpeg appends."""
    reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return " ".join(str(reason).split()).lower()


def _open_media(path: PathLike) -> av.container.InputContainer:
    """Open ``path`` for demuxing, turning every failure into :class:`InputError`."""
    p = existing_file(path)
    try:
        container = av.open(str(p), mode="r")
    except av.FFmpegError as err:
        raise InputError(path, f"not a readable audio or video file ({_ffmpeg_reason(err)})") from err
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot open as audio or video ({_ffmpeg_reason(err)})") from err
    fmt = container.format.name
    if fmt in _IMAGE_DEMUXERS or fmt.endswith(_IMAGE_DEMUXER_SUFFIXES):
        container.close()
        kind = fmt.removesuffix("_pipe")
        raise InputError(path, f"not an audio or video file (looks like a {kind} image)")
    usable_audio = any(s.codec_context.sample_rate for s in container.streams.audio)
    usable_video = any(s.codec_context.width and s.codec_context.height for s in container.streams.video)
    if not (usable_audio or usable_video):
        container.close()
        raise InputError(path, "not a readable audio or video file (no decodable audio or video stream)")
    return container


def _video_fps(stream: av.video.stream.VideoStream) -> float | None:
    """Average frame rate of a video stream, frames/s, or ``None`` when unknown."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return float(rate)
    return None


def _frame_rotation(frame: av.VideoFrame) -> int:
    """Counter-clockwise display rotation of a decoded frame in degrees: 0, 90, 180 or 270."""
    try:
        value = frame.rotation
    except (AttributeError, TypeError, ValueError):  # no or malformed display matrix
        return 0
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0
    return int(round(value / 90.0)) % 4 * 90


def _frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """Decoded frame -> (H, W, 3) uint8 RGB in display orientation."""
    rgb: np.ndarray = frame.to_ndarray(format="rgb24")
    rotation = _frame_rotation(frame)
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))
    return rgb


def _container_duration_s(container: av.container.InputContainer) -> float:
    """Duration of a file in seconds from its headers (0.0 when nothing says)."""
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / av.time_base
    longest = 0.0
    for s in container.streams:
        if s.duration is not None and s.time_base is not None:
            longest = max(longest, float(s.duration * s.time_base))
    return longest


def probe(path: PathLike, *, header_only: bool = False) -> MediaInfo:
    """Describe a media file's streams (headers, plus the first video frame for its rotation).

    Args:
        path: an audio or video file.
        header_only: read the headers only: no video frame is decoded (``rotation`` stays 0) and no packets
            are counted (``num_frames`` is the header's or ``None``); for untrusted uploads, whose
            frames may be huge.

    Returns:
        A :class:`MediaInfo`. ``num_frames`` comes from the header where the container stores
        it (MP4/MOV); otherwise the video packets are counted by demuxing only (no decoding,
        but it reads the whole file).

    Raises:
        InputError: the file is missing, empty, or not audio/video FFmpeg can read.
    """
    with _open_media(path) as container:
        duration_s = _container_duration_s(container)
        vstreams = container.streams.video
        astreams = container.streams.audio
        has_video, has_audio = bool(vstreams), bool(astreams)
        fps: float | None = None
        width = height = num_frames = sample_rate = None
        if has_video:
            vs = vstreams[0]
            fps = _video_fps(vs)
            width, height = vs.codec_context.width or None, vs.codec_context.height or None
            num_frames = vs.frames if vs.frames and vs.frames > 0 else None
        if has_audio:
            sample_rate = astreams[0].codec_context.sample_rate or astreams[0].rate or None
    rotation = 0
    if has_video and not header_only:
        with _open_media(path) as container:
            rotation = _first_frame_rotation(container, path)
        if rotation in (90, 270):
            width, height = height, width
        if num_frames is None:
            with _open_media(path) as container:
                num_frames = _count_video_packets(container, path)
    return MediaInfo(
        path=os.fspath(path),
        duration_s=duration_s,
        has_video=has_video,
        has_audio=has_audio,
        fps=fps,
        width=width,
        height=height,
        num_frames=num_frames,
        sample_rate=sample_rate,
        rotation=rotation,
    )


def _first_frame_rotation(container: av.container.InputContainer, path: PathLike) -> int:
    """Display rotation of the first video stream, from its first decodable frame (0 if none)."""
    stream = container.streams.video[0]
    for frame in _decode_stream(container, stream, _DecodeHealth(path, "video")):
        return _frame_rotation(frame)
    return 0


def _count_video_packets(container: av.container.InputContainer, path: PathLike) -> int:
    """Number of frames of the first video stream, counted from demuxed packets."""
    stream = container.streams.video[0]
    count = 0
    try:
        for packet in container.demux(stream):
            if packet.size > 0:
                count += 1
    except av.FFmpegError as err:
        raise InputError(path, f"corrupt media data ({_ffmpeg_reason(err)})") from err
    return count


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


class _DecodeHealth:
    """Counts packets that fail to decode and decides when a file counts as corrupt."""

    def __init__(self, path: PathLike, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.packets = 0
        self.bad = 0
        self.last_error = ""

    def failed(self, err: BaseException) -> None:
        self.bad += 1
        self.last_error = _ffmpeg_reason(err)
        if self.bad > 8 and self.bad > _MAX_BAD_PACKET_FRACTION * self.packets:
            self.raise_corrupt()

    def raise_corrupt(self) -> None:
        detail = f" ({self.last_error})" if self.last_error else ""
        raise InputError(self.path, f"corrupt or undecodable {self.kind} data{detail}")


def _decode_stream(
    container: av.container.InputContainer, stream: av.stream.Stream, health: _DecodeHealth
) -> Iterator[Any]:
    """Yield decoded frames of one stream, skipping (and counting) packets that fail."""
    try:
        packets = container.demux(stream)
        for packet in packets:
            if packet.size > 0:
                health.packets += 1
            try:
                frames = packet.decode()
            except av.FFmpegError as err:
                health.failed(err)
                continue
            yield from frames
    except av.FFmpegError as err:  # demuxer error: the file is cut or mangled
        health.failed(err)


def iter_video_frames(path: PathLike) -> Generator[np.ndarray, None, None]:
    """Stream the frames of a video file one at a time (constant memory).

    The file is opened and checked when this is called, so a bad file raises here rather
    than at the first ``next()``.

    Args:
        path: a video file (mpg, mp4, avi, mov, webm, mkv, ...).

    Yields:
        frame: (H, W, 3) uint8 RGB, display orientation (container rotation applied).

    Raises:
        InputError: missing/empty/not media, no video stream, or corrupt video data.
    """
    container = _open_media(path)
    if not container.streams.video:
        container.close()
        raise InputError(path, "no video stream")
    return _video_frame_generator(container, path)


def _video_frame_generator(
    container: av.container.InputContainer, path: PathLike
) -> Generator[np.ndarray, None, None]:
    """Decode the first video stream of an open container to RGB arrays; closes it at the end."""
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        health = _DecodeHealth(path, "video")
        decoded = 0
        for frame in _decode_stream(container, stream, health):
            decoded += 1
            yield _frame_to_rgb(frame)
        if decoded == 0:
            if health.bad:
                health.raise_corrupt()
            raise InputError(path, "video stream has no frames")
        if health.bad > _MAX_BAD_PACKET_FRACTION * max(health.packets, 1) and health.bad > 2:
            health.raise_corrupt()
    finally:
        container.close()


def read_video(
    path: PathLike, *, max_frames: int | None = None, max_duration_s: float | None = None
) -> tuple[np.ndarray, float]:
    """Decode a video file's frames into memory.

    Args:
        path: a video file (mpg, mp4 with H.264/HEVC, avi, mov, webm, ...).
        max_frames: stop after this many frames.
        max_duration_s: stop after this many seconds of video (``max_duration_s * fps`` frames);
            decoding stops there, so a long file is not decoded to the end.

    Returns:
        frames: (T, H, W, 3) uint8 RGB, T >= 1.
        fps: average frame rate, frames/s (25.0 when the file does not say).

    Raises:
        InputError: missing/empty/not media, no video stream, or corrupt video data.
    """
    container = _open_media(path)
    if not container.streams.video:
        container.close()
        raise InputError(path, "no video stream")
    fps = _video_fps(container.streams.video[0]) or 25.0
    limit = math.inf
    if max_frames is not None:
        limit = min(limit, max(int(max_frames), 1))
    if max_duration_s is not None:
        limit = min(limit, max(math.ceil(max_duration_s * fps - 1e-6), 1))
    frames: list[np.ndarray] = []
    gen = _video_frame_generator(container, path)
    try:
        for rgb in gen:
            frames.append(rgb)
            if len(frames) >= limit:
                break
    finally:
        gen.close()
    if not frames:  # pragma: no cover - the generator raises first
        raise InputError(path, "video stream has no frames")
    return np.stack(frames), fps


#: FFmpeg's AVPictureType codes of the frame coding types.
_PICTURE_TYPES = {1: "I", 2: "P", 3: "B"}


def picture_types(path: PathLike, max_frames: int | None = None) -> list[str]:
    """The coding type of each decoded frame: ``"I"`` (intra-coded), ``"P"``, ``"B"`` or ``"?"``.

    Sharpness measured on a compressed video depends on it: in GRID's MPEG-1 the intra-coded frames
    have ~15 % less Laplacian variance in the face than the predicted ones (quantisation noise),
    so a photo taken from an I-frame is compared with the real I-frames
    (``benchmarks/render_quality.py``, ``sharp_lap_i``).

    Args:
        path: a video file.
        max_frames: stop after this many frames (the same frames :func:`read_video` returns).

    Raises:
        InputError: missing/empty/not media, no video stream.
    """
    container = _open_media(path)
    try:
        if not container.streams.video:
            raise InputError(path, "no video stream")
        types: list[str] = []
        for frame in container.decode(video=0):
            kind = frame.pict_type  # an int (AVPictureType) in PyAV 14+, an enum before
            name = _PICTURE_TYPES.get(kind, "?") if isinstance(kind, int) else getattr(kind, "name", "?")
            types.append(name if name in ("I", "P", "B") else "?")
            if max_frames is not None and len(types) >= max_frames:
                break
        return types
    finally:
        container.close()


def read_audio(
    path: PathLike, *, sample_rate: int = 16000, max_duration_s: float | None = None
) -> np.ndarray:
    """Decode the first audio track of any audio or video file to mono at ``sample_rate``.

    Channels are averaged (not FFmpeg's +3 dB downmix, which can clip) and the result is
    resampled with :class:`av.AudioResampler`.

    Args:
        path: wav, mp3, flac, m4a, ogg, ... or a video with an audio track (mpg, mp4, webm, mov).
        sample_rate: output rate, Hz.
        max_duration_s: decode at most this many seconds; the result is cut to that length
            (to detect over-long input, ask for a little more than the limit and pass the
            result to :func:`check_speech`).

    Returns:
        audio: (N,) float32 mono in [-1, 1], N ~= duration_s * sample_rate.

    Raises:
        InputError: missing/empty/not media, no audio track, or corrupt audio data.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    max_samples = None if max_duration_s is None else max(int(round(max_duration_s * sample_rate)), 0)
    with _open_media(path) as container:
        if not container.streams.audio:
            raise InputError(path, "no audio track")
        stream = container.streams.audio[0]
        health = _DecodeHealth(path, "audio")
        resampler: av.AudioResampler | None = None
        chunks: list[np.ndarray] = []
        total = 0

        def take(out_frames: list[av.AudioFrame]) -> None:
            nonlocal total
            for f in out_frames:
                # packed flt: (samples, channels); PyAV's planar to_ndarray crashes on >= 8 channels
                a = f.to_ndarray().reshape(f.samples, -1)
                mono = a.mean(axis=1, dtype=np.float32) if a.shape[1] > 1 else a[:, 0]
                chunks.append(mono.astype(np.float32, copy=False))
                total += mono.shape[0]

        try:
            decoded = 0
            for frame in _decode_stream(container, stream, health):
                decoded += 1
                if resampler is None:
                    resampler = av.AudioResampler(format="flt", layout=frame.layout, rate=sample_rate)
                take(resampler.resample(frame))
                if max_samples is not None and total >= max_samples:
                    break
            else:
                if resampler is not None:
                    take(resampler.resample(None))
        except av.FFmpegError as err:  # resampler failure (e.g. a layout change mid-stream)
            raise InputError(path, f"cannot convert audio ({_ffmpeg_reason(err)})") from err
        if decoded == 0:
            if health.bad:
                health.raise_corrupt()
            raise InputError(path, "audio track has no samples")
        if health.bad > 2 and health.bad > _MAX_BAD_PACKET_FRACTION * max(health.packets, 1):
            health.raise_corrupt()
        exact = _exact_stream_samples(container, stream, sample_rate)
        source_rate = stream.codec_context.sample_rate or sample_rate
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    max_padding = 2 * AAC_FRAME_SIZE * sample_rate / source_rate
    if exact is not None and 0 < audio.shape[0] - exact <= max_padding:
        audio = audio[:exact]  # drop the encoder's end padding (MP4 records the true length)
    if max_samples is not None:
        audio = audio[:max_samples]
    if not np.isfinite(audio).all():  # clipping would turn +-inf into full-scale samples
        raise InputError(path, "audio contains invalid (nan or infinite) samples")
    return np.clip(audio, -1.0, 1.0, out=audio)


def _exact_stream_samples(
    container: av.container.InputContainer, stream: av.audio.stream.AudioStream, sample_rate: int
) -> int | None:
    """Length of an audio stream in output samples where the container records it exactly.

    MP4/MOV store each track's true duration (edit list), while AAC decoders return whole
    1024-sample frames, so the decoded audio ends with up to one frame of encoder padding.
    Other containers' durations are estimates and are not trusted (``None``).
    """
    if "mp4" not in container.format.name.split(",") or stream.duration is None or stream.time_base is None:
        return None
    return int(round(float(stream.duration * stream.time_base) * sample_rate))


def _header_duration_s(path: PathLike) -> float:
    """Duration a media file's headers state, seconds (0.0 when unknown or unreadable)."""
    try:
        with _open_media(path) as container:
            return _container_duration_s(container)
    except Exception:  # noqa: BLE001 - only for a message: an unreadable header just says nothing
        return 0.0


def check_speech(
    audio: np.ndarray,
    path: PathLike,
    *,
    sample_rate: int = 16000,
    min_duration_s: float = 0.2,
    max_duration_s: float | None = None,
) -> None:
    """Check that decoded speech is usable: long enough, not too long, finite and not silent.

    Args:
        audio: (N,) float mono in [-1, 1] (as from :func:`read_audio`).
        path: the file it came from (named in the error message).
        sample_rate: rate of ``audio``, Hz.
        min_duration_s: shortest accepted length, seconds.
        max_duration_s: longest accepted length, seconds (``None``: no limit).

    Raises:
        InputError: too short, too long (the message gives the limit), non-finite samples,
            or silent (RMS below -60 dBFS).
    """
    x = np.asarray(audio)
    if x.ndim != 1:
        raise ValueError(f"audio must be 1-D (N,), got shape {x.shape}")
    duration_s = x.shape[0] / float(sample_rate)
    if duration_s < min_duration_s:
        raise InputError(path, f"speech too short ({duration_s:.2f} s; need at least {min_duration_s:g} s)")
    if max_duration_s is not None and duration_s > max_duration_s:
        # the decoder stopped a little past the limit: the file's header tells how long it really is
        declared = _header_duration_s(path)
        length = f"{declared:.1f} s" if declared > duration_s else f"more than {duration_s:.1f} s"
        raise InputError(path, f"speech too long ({length}; the limit is {max_duration_s:g} s)")
    x64 = x.astype(np.float64, copy=False)
    if not np.all(np.isfinite(x64)):
        raise InputError(path, "audio contains invalid (nan or infinite) samples")
    rms = float(np.sqrt(np.mean(np.square(x64))))
    dbfs = 20.0 * math.log10(rms) if rms > 0 else -math.inf
    if dbfs < SILENCE_DBFS:
        level = "digital silence" if rms == 0 else f"{dbfs:.0f} dBFS"
        raise InputError(path, f"audio is silent ({level}; speech needs at least {SILENCE_DBFS:g} dBFS)")
