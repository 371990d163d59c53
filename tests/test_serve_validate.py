"""Tests of talkface.serve.validate: format sniffing from bytes, image and speech header checks."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from serve_media import encode_audio, grid_speech, grid_still, image_bytes, png_header_only, wav_bytes
from talkface.serve.validate import UploadError, check_image, check_speech_file, sniff

FIXTURES = Path(__file__).parent / "fixtures"


def _image(fmt: str, **save: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, format=fmt, **save)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: _image("JPEG"), "jpeg"),
        (lambda: _image("PNG"), "png"),
        (lambda: _image("GIF"), "gif"),
        (lambda: _image("WEBP"), "webp"),
        (lambda: _image("BMP"), "bmp"),
        (lambda: _image("TIFF"), "tiff"),
        (lambda: wav_bytes(np.zeros(160, np.float32)), "wav"),
        (lambda: (FIXTURES / "espeak_hello.flac").read_bytes()[:64], "flac"),
        (lambda: (FIXTURES / "bbaf2n.mpg").read_bytes()[:64], "mpeg-ps"),
        (lambda: (FIXTURES / "bbaf2n.mp4").read_bytes()[:64], "mp4"),
        (lambda: encode_audio(grid_speech(0.3), "mp3", "libmp3lame"), "mp3"),
        (lambda: encode_audio(grid_speech(0.3), "webm", "libopus", out_rate=48000), "webm"),
        (lambda: encode_audio(grid_speech(0.3), "ogg", "libopus", out_rate=48000), "ogg"),
        (lambda: encode_audio(grid_speech(0.3), "adts", "aac"), "aac"),
        (lambda: b"\xff\xfb\x90\x64" + bytes(60), "mp3"),  # bare MPEG-1 layer III frame, no ID3 tag
        (lambda: b"%PDF-1.7\n", "pdf"),
        (lambda: b"\xef\xbb\xbf<!DOCTYPE html><html>", "html"),
        (lambda: b"PK\x03\x04" + bytes(30), "zip"),
        (lambda: b"hello, plain text", None),
        (lambda: b"", None),
        (lambda: b"\xff", None),
    ],
)
def test_sniff(make: object, expected: str | None) -> None:
    assert sniff(make()[:64]) == expected  # type: ignore[operator]


def test_check_image(tmp_path: Path) -> None:
    p = tmp_path / "upload"
    p.write_bytes(image_bytes(grid_still(), "JPEG", "CMYK"))
    info = check_image(p, "face", max_pixels=1_000_000)
    assert (info.format, info.width, info.height) == ("jpeg", 360, 288)
    with pytest.raises(UploadError, match=r"^face: image too large \(360x288 px") as err:
        check_image(p, "face", max_pixels=100_000)
    assert err.value.status == 413
    p.write_bytes(png_header_only(9000, 10))
    with pytest.raises(UploadError, match="8192 px a side"):
        check_image(p, "face", max_pixels=10**9)
    p.write_bytes(wav_bytes(np.zeros(160, np.float32)))
    with pytest.raises(UploadError, match="looks like a WAV audio file") as err:
        check_image(p, "face", max_pixels=10**9)
    assert (err.value.status, err.value.code) == (415, "unsupported_type")


def test_check_image_judges_a_jpeg_at_its_reduced_decode_size(tmp_path: Path) -> None:
    """A 12000x9000 phone JPEG (here a small JPEG whose header says so: nothing is decoded) passes the default
    limits when the worker downscales to max_side anyway, as the CLI reads it; a PNG that size is refused."""
    jpeg = bytearray(image_bytes(grid_still()[:16, :16], "JPEG"))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5: sof + 9] = (9000).to_bytes(2, "big") + (12000).to_bytes(2, "big")  # height, width
    p = tmp_path / "upload"
    p.write_bytes(bytes(jpeg))
    info = check_image(p, "face", max_pixels=40_000_000, max_side=1280)
    assert (info.format, info.width, info.height) == ("jpeg", 12000, 9000)
    with pytest.raises(UploadError, match=r"^face: image too large \(12000x9000 px; limit 8192 px a side"):
        check_image(p, "face", max_pixels=40_000_000)  # max_side 0: decoded whole
    p.write_bytes(png_header_only(12000, 9000))
    with pytest.raises(UploadError, match=r"\(12000x9000 px; .* only a JPEG is decoded at reduced scale\)$") as err:
        check_image(p, "face", max_pixels=40_000_000, max_side=1280)
    assert err.value.status == 413


def test_live_photo_jpeg_is_judged_and_decoded_at_reduced_scale() -> None:
    """The live session's photo, as /v1/animate's: a JPEG over the pixel limit whose reduced decode fits passes."""
    import base64

    from talkface.serve.live import _read_photo

    big = np.repeat(np.repeat(grid_still(), 8, axis=0), 8, axis=1)  # 2880x2304 px = 6.6 megapixels
    photo = _read_photo(base64.b64encode(image_bytes(big, "JPEG", quality=80)).decode(), 2_000_000)
    assert photo.shape == (1152, 1440, 3)  # 1/2 scale: the longer side stays >= max_side (1280)


def test_check_speech_file(tmp_path: Path) -> None:
    p = tmp_path / "upload"
    p.write_bytes((FIXTURES / "bbaf2n.mpg").read_bytes())
    info = check_speech_file(p, "speech", max_seconds=10)
    assert info.format == "mpeg-ps" and abs(info.duration_s - 2.98) < 0.05
    with pytest.raises(UploadError, match=r"^speech: speech too long \(3.0 s; the limit is 2 s\)$"):
        check_speech_file(p, "speech", max_seconds=2)
    p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(30))
    with pytest.raises(UploadError) as err:
        check_speech_file(p, "speech", max_seconds=10)
    assert err.value.status == 422 and err.value.code == "corrupt" and str(p) not in str(err.value)
