"""Still images in and out through Pillow.

:func:`read_image` turns whatever a user supplies as the identity photo (JPEG, PNG, WebP, BMP,
TIFF, GIF; grayscale, palette, 16-bit, CMYK, with or without alpha, EXIF-rotated) into one
array layout: (H, W, 3) uint8 RGB, upright. Problems with the file are raised as
:class:`talkface.errors.InputError` naming it.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from talkface.errors import InputError, existing_file
from talkface.io.atomic import atomic_path
from talkface.io.iso_media import iso_still_image

PathLike = str | os.PathLike[str]

#: Largest accepted side of an input image, pixels.
MAX_IMAGE_SIDE = 8192
#: Largest accepted area of an input image, pixels (40 megapixels).
MAX_IMAGE_PIXELS = 40_000_000

#: Pillow formats written for each output suffix, and their save options.
_WRITE_FORMATS: dict[str, tuple[str, dict[str, object]]] = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".bmp": ("BMP", {}),
    ".tif": ("TIFF", {}),
    ".tiff": ("TIFF", {}),
    ".webp": ("WEBP", {"quality": 95}),
}

# Errors Pillow raises for unreadable, truncated or hostile files.
_PIL_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def _check_size(path: PathLike, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise InputError(path, f"image has no pixels ({width}x{height})")
    if max(width, height) > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise InputError(
            path,
            f"image too large ({width}x{height} px; limit {MAX_IMAGE_SIDE} px a side "
            f"and {MAX_IMAGE_PIXELS // 1_000_000} megapixels)",
        )


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 RGBA (straight alpha) -> (H, W, 3) uint8 RGB over a white background."""
    rgb = rgba[..., :3].astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    out = rgb * alpha + 255.0 * (1.0 - alpha)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _high_bit_to_uint8(values: np.ndarray) -> np.ndarray:
    """Single-channel 16/32-bit integer or float samples -> (H, W) uint8.

    Integer images are taken as 16-bit (0..65535, scaled by 1/257) unless all values fit in
    8 bits; float images as 0..1 when their maximum is at most 1, else as 0..255.
    """
    x = values.astype(np.float64)
    finite = x[np.isfinite(x)]
    peak = float(finite.max()) if finite.size else 0.0
    if np.issubdtype(values.dtype, np.floating):
        scale = 255.0 if peak <= 1.0 else 1.0
    else:
        scale = 1.0 / 257.0 if peak > 255 else 1.0
    x = np.nan_to_num(x * scale, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _to_rgb(im: Image.Image) -> np.ndarray:
    """Any Pillow image -> (H, W, 3) uint8 RGB; transparency is composited on white."""
    mode = im.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        gray = _high_bit_to_uint8(np.asarray(im))
        return np.repeat(gray[..., None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB") and "transparency" in im.info
    )
    if has_alpha:
        return _composite_on_white(np.asarray(im.convert("RGBA")))
    if mode != "RGB":
        im = im.convert("RGB")  # L, 1, P, CMYK (Pillow undoes Adobe-inverted JPEG CMYK), YCbCr, LAB, HSV
    return np.asarray(im, dtype=np.uint8).copy()


def _upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag; a malformed EXIF block is ignored, not fatal."""
    try:
        return ImageOps.exif_transpose(im) or im
    except (ValueError, TypeError, KeyError, OSError, SyntaxError, ZeroDivisionError):
        return im


def _is_heif(path: Path) -> bool:
    """Whether a file is a HEIC/HEIF still image (:func:`~talkface.io.iso_media.iso_still_image`)."""
    with open(path, "rb") as fh:
        return iso_still_image(fh.read(64)) == "heic"


def _draft_size(width: int, height: int, max_side: int) -> tuple[int, int] | None:
    """The size to ask a JPEG decoder for so that the longer side stays at least ``max_side``."""
    if max_side <= 0 or max(width, height) <= max_side:
        return None
    factor = max_side / max(width, height)
    return max(1, math.ceil(width * factor)), max(1, math.ceil(height * factor))


def draft_jpeg(im: Image.Image, max_side: int) -> tuple[int, int]:
    """Ask an opened, not yet loaded image for reduced-scale decoding, if it is a JPEG larger than ``max_side``.

    A JPEG decodes at 1/2, 1/4 or 1/8 scale for almost nothing; the scale chosen keeps the
    longer side at least ``max_side``. Other formats (PNG, ...) cannot, and keep their size.
    Only the header has been read: nothing is decoded here.

    Args:
        im: a just-opened image.
        max_side: the longer side the caller downscales to anyway (0: it does not; no change).

    Returns:
        The (width, height) the image will decode to.
    """
    draft = _draft_size(*im.size, max_side)
    if draft is not None and im.format == "JPEG":
        im.draft(None, draft)
    width, height = im.size
    return width, height


def read_image(path: PathLike, *, max_side: int = 0) -> np.ndarray:
    """Read a photo as upright RGB.

    Handles grayscale, grayscale + alpha, RGBA (composited on white), palette (with or without
    transparency), 16-bit, CMYK, and EXIF orientation (applied). Multi-frame files (GIF,
    TIFF) give their first frame.

    Args:
        path: an image file Pillow can read (JPEG, PNG, WebP, BMP, TIFF, GIF, ...).
        max_side: the caller downscales to this longer side anyway (0: it does not): a JPEG
            larger than that is decoded at 1/2, 1/4 or 1/8 scale (still at least ``max_side``),
            so that a 12000x9000 phone photo is accepted and decoded in ~1/16 of the memory.
            The size limits below apply to the decoded size.

    Returns:
        rgb: (H, W, 3) uint8 RGB, upright as the EXIF orientation says.

    Raises:
        InputError: missing or empty file, not an image, truncated/corrupt, or too large
            (more than 8192 px a side or 40 megapixels, as decoded).
    """
    p = existing_file(path)
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check (89 megapixels) would refuse a photo draft() decodes small;
            # _check_size enforces the tighter limits on the size actually decoded
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                _check_size(path, *draft_jpeg(im, max_side))
                im.load()
                return _to_rgb(_upright(im))
    except InputError:
        raise
    except UnidentifiedImageError as err:
        if _is_heif(p):
            raise InputError(path, "HEIC/HEIF image (an iPhone photo) is not supported; "
                                   "export it as JPEG or PNG") from err
        raise InputError(path, "not an image (unrecognised format)") from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise InputError(
            path, f"image too large (limit {MAX_IMAGE_SIDE} px a side and 40 megapixels)"
        ) from err
    except _PIL_ERRORS as err:
        reason = " ".join(str(err).split()).lower() or type(err).__name__
        raise InputError(path, f"corrupt or truncated image ({reason})") from err


def write_image(path: PathLike, rgb: np.ndarray) -> None:
    """Write an RGB image atomically, in the format named by the suffix.

    Args:
        path: output file; ``.png``, ``.jpg``/``.jpeg`` (quality 95, 4:4:4), ``.webp``, ``.bmp``,
            ``.tif``/``.tiff``.
        rgb: (H, W, 3) uint8 RGB (also accepted: (H, W) uint8 grayscale).

    Raises:
        InputError: the suffix names no supported image format.
        ValueError: ``rgb`` has the wrong shape or dtype.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _WRITE_FORMATS:
        supported = ", ".join(sorted(_WRITE_FORMATS))
        raise InputError(path, f"unsupported image format {suffix or '(no suffix)'!r} (use one of {supported})")
    a = np.asarray(rgb)
    if a.dtype != np.uint8 or not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"write_image expects (H, W, 3) uint8 RGB, got {a.shape} {a.dtype}")
    fmt, options = _WRITE_FORMATS[suffix]
    image = Image.fromarray(np.ascontiguousarray(a))
    with atomic_path(path) as tmp:
        image.save(tmp, format=fmt, **options)

