"""Checks on uploaded files, made before a job is queued.

Everything here looks at the bytes a client sent, never at the name or the content type it
claimed: :func:`sniff` recognises the format from the file's first bytes, :func:`check_image`
reads an image's header for its dimensions, :func:`check_speech_file` probes an audio (or
video) file's headers for an audio track and its duration. Each problem is raised as an
:class:`UploadError` carrying the HTTP status to answer with and a one-line message naming the
form field (``"face: not an image (looks like a WAV audio file)"``), never a server path.

Decoding the whole file is left to the pipeline, which raises
:class:`talkface.errors.InputError` for what only decoding finds (truncated data, no face,
silence); those make the job fail rather than the upload.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError, features

from talkface.errors import InputError
from talkface.io.iso_media import iso_still_image

#: Formats accepted as the face photo: sniffed name -> file suffix used on the server.
IMAGE_FORMATS: dict[str, str] = {
    "jpeg": ".jpg",
    "png": ".png",
    "gif": ".gif",
    "webp": ".webp",
    "bmp": ".bmp",
    "tiff": ".tif",
}
if features.check("avif"):  # Pillow 11.3+ wheels decode AVIF
    IMAGE_FORMATS["avif"] = ".avif"

#: Formats accepted as the speech: sniffed name -> file suffix used on the server.
#: Video containers are accepted because their audio track is used (a phone clip, GRID .mpg).
AUDIO_FORMATS: dict[str, str] = {
    "wav": ".wav",
    "flac": ".flac",
    "mp3": ".mp3",
    "aac": ".aac",
    "ogg": ".ogg",
    "webm": ".webm",  # also Matroska (.mka/.mkv); what Chrome's MediaRecorder makes
    "mp4": ".m4a",  # also .mov/.m4a/3gp; what Safari's MediaRecorder makes
    "aiff": ".aiff",
    "mpeg-ps": ".mpg",
    "avi": ".avi",
}

#: Human names of sniffed formats, for messages.
_FORMAT_NAMES: dict[str, str] = {
    "jpeg": "a JPEG image",
    "png": "a PNG image",
    "gif": "a GIF image",
    "webp": "a WebP image",
    "bmp": "a BMP image",
    "tiff": "a TIFF image",
    "avif": "an AVIF image",
    "heic": "a HEIC/HEIF image (an iPhone photo: not supported, export it as JPEG)",
    "wav": "a WAV audio file",
    "flac": "a FLAC audio file",
    "mp3": "an MP3 audio file",
    "aac": "an AAC audio file",
    "ogg": "an Ogg audio file",
    "webm": "a WebM/Matroska file",
    "mp4": "an MP4/M4A file",
    "aiff": "an AIFF audio file",
    "mpeg-ps": "an MPEG program stream",
    "avi": "an AVI file",
    "pdf": "a PDF document",
    "zip": "a ZIP archive",
    "gzip": "a gzip archive",
    "html": "an HTML/XML document",
}

#: Bytes :func:`sniff` needs to see.
SNIFF_BYTES = 64

#: Largest accepted side of a face photo, pixels (as :mod:`talkface.io.images` accepts).
MAX_IMAGE_SIDE = 8192


class UploadError(Exception):
    """An uploaded file is refused before a job is made.

    Args:
        status: HTTP status to answer with (413 too large, 415 unsupported type, 422 unusable).
        code: short machine-readable reason (``"too_large"``, ``"unsupported_type"``, ...).
        field: the form field the file came in (``"face"`` or ``"speech"``).
        problem: what is wrong, one lower-case line.
    """

    def __init__(self, status: int, code: str, field: str, problem: str) -> None:
        self.status = status
        self.code = code
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`check_image` found: the sniffed format and the pixel size."""

    format: str
    width: int
    height: int


@dataclass(frozen=True)
class SpeechInfo:
    """What :func:`check_speech_file` found: the sniffed format and the duration (0.0 = unknown)."""

    format: str
    duration_s: float


def _mp3_frame_header(head: bytes) -> bool:
    """Whether ``head`` starts with an MPEG audio layer I/II/III frame header."""
    if len(head) < 4 or head[0] != 0xFF or (head[1] & 0xE0) != 0xE0:
        return False
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    bitrate = head[2] >> 4
    rate = (head[2] >> 2) & 0b11
    return version != 0b01 and layer != 0b00 and bitrate != 0b1111 and rate != 0b11


def sniff(head: bytes) -> str | None:
    """Name the format of a file from its first bytes (at least :data:`SNIFF_BYTES` if it has them).

    Args:
        head: the file's first bytes.

    Returns:
        A key of :data:`IMAGE_FORMATS` or :data:`AUDIO_FORMATS`, one of ``"pdf"``, ``"zip"``,
        ``"gzip"``, ``"html"`` (recognised but refused), or ``None`` when unrecognised.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM") and len(head) >= 26 and head[6:10] == b"\0\0\0\0":
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head[4:8] == b"ftyp":  # ISO media: MP4/M4A/MOV, and the still-image brands (a phone's AVIF / HEIC photo)
        return iso_still_image(head) or "mp4"
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg-ps"
    if head.startswith(b"ID3") or _mp3_frame_header(head):
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "aac"  # ADTS
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith((b"<!doctype", b"<html", b"<?xml", b"<svg")):
        return "html"
    return None


def human_bytes(n: int | float) -> str:
    """A size in bytes for a message, in binary units: ``16842752`` -> ``"16.1 MiB"``, ``200000`` -> ``"195.3 KiB"``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{int(n)} bytes"


def _describe(fmt: str | None) -> str:
    return _FORMAT_NAMES.get(fmt or "", "an unrecognised format")


def _read_head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(SNIFF_BYTES)


def _sniff_upload(path: Path, field: str, formats: dict[str, str], what: str, send: str) -> str:
    """The format of a non-empty upload, sniffed from its first bytes, if it is one of ``formats``.

    Raises:
        UploadError: empty (422), or another format (415: "not <what> (looks like ...; send <send>)").
    """
    if path.stat().st_size == 0:
        raise UploadError(422, "empty", field, "file is empty (0 bytes)")
    fmt = sniff(_read_head(path))
    if fmt not in formats:
        raise UploadError(415, "unsupported_type", field, f"not {what} (looks like {_describe(fmt)}; send {send})")
    return fmt


def check_image(path: str | os.PathLike[str], field: str, *, max_pixels: int, max_side: int = 0) -> ImageInfo:
    """Check that an uploaded file is a photo of acceptable size, from its bytes and header.

    The limits apply to the size the pipeline will decode: a JPEG larger than ``max_side`` is
    decoded at 1/2, 1/4 or 1/8 scale (:func:`talkface.io.images.draft_jpeg`, as
    :func:`talkface.io.images.read_image` does), so a 12000x9000 phone JPEG passes while a PNG
    of that size, which can only be decoded whole, is refused.

    Args:
        path: the stored upload.
        field: its form field (named in messages).
        max_pixels: largest accepted width x height, as decoded; sides are also limited to :data:`MAX_IMAGE_SIDE`.
        max_side: the longer side the worker downscales photos to (its
            :attr:`talkface.animate_config.AnimateConfig.max_side`; 0: it never does).

    Returns:
        An :class:`ImageInfo`.

    Raises:
        UploadError: empty (422), not an image format (415), header unreadable (422), too large (413).
    """
    from talkface.io.images import draft_jpeg  # lazy: loads numpy

    p = Path(path)
    fmt = _sniff_upload(p, field, IMAGE_FORMATS, "a supported image", ", ".join(k.upper() for k in IMAGE_FORMATS))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                width, height = im.size
                decoded = draft_jpeg(im, max_side)
    except Image.DecompressionBombError:
        raise UploadError(413, "image_too_large", field, f"image too large (limit {MAX_IMAGE_SIDE} px a side and "
                          f"{max_pixels / 1e6:g} megapixels)") from None
    except UnidentifiedImageError:
        raise UploadError(422, "corrupt", field,
                          f"unreadable {fmt.upper()} image (corrupt or cut-off header)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        reason = " ".join(str(err).replace(str(p), "").split()).lower() or type(err).__name__
        raise UploadError(422, "corrupt", field, f"unreadable {fmt.upper()} image header ({reason})") from None
    if width <= 0 or height <= 0:
        raise UploadError(422, "corrupt", field, f"image has no pixels ({width}x{height})")
    if max(decoded) > MAX_IMAGE_SIDE or decoded[0] * decoded[1] > max_pixels:
        size = f"{width}x{height} px"
        if decoded != (width, height):
            size += f", decoded at {decoded[0]}x{decoded[1]}"
        hint = "; only a JPEG is decoded at reduced scale" if max_side > 0 and fmt != "jpeg" else ""
        raise UploadError(
            413, "image_too_large", field,
            f"image too large ({size}; limit {MAX_IMAGE_SIDE} px a side and {max_pixels / 1e6:g} megapixels{hint})",
        )
    return ImageInfo(fmt, width, height)


def check_speech_file(path: str | os.PathLike[str], field: str, *, max_seconds: float) -> SpeechInfo:
    """Check that an uploaded file is audio (or video with sound) no longer than ``max_seconds``.

    Only headers are read (the duration written in the file, where there is one: a browser's
    MediaRecorder WebM has none and passes as 0.0). The pipeline enforces the limit again
    while decoding, so a file whose header lies is still cut off there.

    Args:
        path: the stored upload.
        field: its form field (named in messages).
        max_seconds: longest accepted duration.

    Returns:
        A :class:`SpeechInfo`.

    Raises:
        UploadError: empty (422), not an audio/video format (415), unreadable or no audio track (422),
            too long (413).
    """
    from talkface.io.media import probe  # lazy: loads av

    p = Path(path)
    fmt = _sniff_upload(p, field, AUDIO_FORMATS, "an audio file",
                        "WAV, MP3, FLAC, Ogg, WebM, M4A or a video with sound")
    try:
        info = probe(p, header_only=True)  # no frame of a video is decoded: its size is the client's choice
    except InputError as err:
        raise UploadError(422, "corrupt", field, err.problem) from None
    except Exception as err:  # FFmpeg on hostile bytes: any failure is the file's
        raise UploadError(422, "corrupt", field, f"unreadable {_describe(fmt)} ({type(err).__name__})") from None
    if not info.has_audio:
        raise UploadError(422, "no_audio", field, "no audio track")
    duration = info.duration_s if info.duration_s == info.duration_s else 0.0  # NaN -> unknown
    if duration > max_seconds:
        raise UploadError(413, "audio_too_long", field,
                          f"speech too long ({duration:.1f} s; the limit is {max_seconds:g} s)")
    return SpeechInfo(fmt, max(duration, 0.0))
