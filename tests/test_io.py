"""Tests of talkface.io.media and talkface.io.images on the real GRID fixtures and generated files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from talkface.errors import InputError
from talkface.io.images import read_image, write_image
from talkface.io.media import (
    check_speech,
    iter_video_frames,
    picture_types,
    probe,
    read_audio,
    read_video,
    write_video,
)

FIXTURES = Path(__file__).parent / "fixtures"
MPG = FIXTURES / "bbaf2n.mpg"
MP4 = FIXTURES / "bbaf2n.mp4"
SR = 16000


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10.0 * np.log10(255.0**2 / max(mse, 1e-12))


def sine(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1.0 / rate)[spectrum.argmax()])


def smooth_frames(t: int, h: int, w: int) -> np.ndarray:
    """(T, H, W, 3) uint8 moving colour gradients (compressible, like real video)."""
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    out = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        out[i, ..., 0] = np.clip(127 + 100 * np.sin(xx / 9 + i / 5), 0, 255)
        out[i, ..., 1] = np.clip(127 + 100 * np.cos(yy / 7 - i / 4), 0, 255)
        out[i, ..., 2] = np.clip(127 + 80 * np.sin((xx + yy) / 13 + i / 3), 0, 255)
    return out


def encode_audio(path: Path, codec: str, x: np.ndarray, rate: int, channels: int = 1) -> None:
    """Encode mono float samples (duplicated to ``channels``) with PyAV."""
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.codec_context.layout = layout
        fmt = stream.codec_context.codec.audio_formats[0].name
        block = 1152
        for i in range(0, len(x), block):
            chunk = np.repeat(x[None, i : i + block], channels, axis=0)
            frame = av.AudioFrame.from_ndarray(chunk.astype(np.float32), format="fltp", layout=layout)
            frame.sample_rate = rate
            frame.pts = i
            if fmt != "fltp":
                frame = av.AudioResampler(format=fmt, layout=layout, rate=rate).resample(frame)[0]
                frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def encode_video(
    path: Path,
    codec: str,
    frames: np.ndarray,
    fps: int = 25,
    audio_codec: str | None = None,
    pix_fmt: str = "yuv420p",
    rotation: int = 0,
) -> None:
    """Encode frames (and a 1 s, 300 Hz tone when ``audio_codec``) with PyAV."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if codec == "libx265":
            vs.codec_context.options = {"x265-params": "log-level=error"}
        if rotation:
            vs.set_display_rotation(rotation)
        aud = None
        if audio_codec:
            rate = 48000 if audio_codec == "libopus" else 44100
            aud = out.add_stream(audio_codec, rate=rate)
            aud.codec_context.layout = "mono"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, "rgb24")
            vf.pts = i
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
        if aud is not None:
            rate = aud.codec_context.sample_rate
            x = sine(300, len(frames) / fps, rate)
            fmt = aud.codec_context.codec.audio_formats[0].name
            resampler = av.AudioResampler(format=fmt, layout="mono", rate=rate)
            for i in range(0, len(x), 960):
                af = av.AudioFrame.from_ndarray(x[None, i : i + 960].copy(), format="fltp", layout="mono")
                af.sample_rate = rate
                af.pts = i
                for g in resampler.resample(af):
                    out.mux(aud.encode(g))
            out.mux(aud.encode(None))


def assert_one_line_naming(err: pytest.ExceptionInfo[InputError], path: Path) -> None:
    msg = str(err.value)
    assert "\n" not in msg
    assert path.name in msg


# ------------------------------------------------------------------------------------------
# probe / read_video on the real fixtures
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [MPG, MP4], ids=["mpg", "mp4"])
def test_probe_fixtures(path: Path) -> None:
    info = probe(path)
    assert info.has_video and info.has_audio
    assert info.fps == pytest.approx(25.0)
    assert (info.width, info.height) == (360, 288)
    assert info.num_frames == 75
    assert info.sample_rate == 44100
    assert info.duration_s == pytest.approx(3.0, abs=0.05)
    assert info.rotation == 0


@pytest.mark.parametrize("path", [MPG, MP4], ids=["mpg", "mp4"])
def test_read_video_fixtures(path: Path) -> None:
    frames, fps = read_video(path)
    assert frames.shape == (75, 288, 360, 3)
    assert frames.dtype == np.uint8
    assert fps == pytest.approx(25.0)
    assert 20 < frames.mean() < 235 and frames.std() > 10  # a real picture, not a blank


def test_picture_types_of_the_grid_mpeg() -> None:
    types = picture_types(MPG)
    assert len(types) == len(read_video(MPG)[0])  # one per decoded frame, in order
    assert types[0] == "I" and set(types) <= {"I", "P", "B"}
    assert 1 < types.count("I") < len(types) // 4  # a GOP of 12: an I-frame every 12 frames
    assert picture_types(MPG, max_frames=5) == types[:5]


def test_picture_types_of_a_non_video_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(InputError, match="x.mp4"):
        picture_types(bad)


def test_mpg_and_mp4_frames_agree() -> None:
    a, _ = read_video(MPG)
    b, _ = read_video(MP4)
    assert psnr(a, b) > 30  # the mp4 is a re-encode of the same clip


def test_iter_video_frames_streams_same_frames() -> None:
    frames, _ = read_video(MPG, max_frames=10)
    it = iter_video_frames(MPG)
    first = [next(it) for _ in range(10)]
    assert np.array_equal(np.stack(first), frames)
    assert 10 + sum(1 for _ in it) == 75


def test_read_video_limits() -> None:
    assert read_video(MPG, max_frames=7)[0].shape[0] == 7
    assert read_video(MPG, max_duration_s=1.0)[0].shape[0] == 25
    assert read_video(MP4, max_duration_s=0.5, max_frames=100)[0].shape[0] == 13  # ceil(12.5)


def test_max_duration_stops_decoding_early(tmp_path: Path) -> None:
    """Frames past the limit are garbage: decoding them would fail, so a read that stops early passes."""
    rng = np.random.default_rng(0)
    good = tmp_path / "m.avi"
    encode_video(good, "mjpeg", rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8), pix_fmt="yuvj420p")
    with av.open(str(good)) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    data = bytearray(good.read_bytes())
    for pos, size in packets[25:]:
        data[pos : pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    bad = tmp_path / "tail_corrupt.avi"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupt") as err:
        read_video(bad)
    assert_one_line_naming(err, bad)
    assert read_video(bad, max_duration_s=1.0)[0].shape == (25, 32, 32, 3)

    mp3 = tmp_path / "s.mp3"
    encode_audio(mp3, "libmp3lame", sine(300, 2.0, SR), SR)
    noisy = tmp_path / "tail_garbage.mp3"
    noisy.write_bytes(mp3.read_bytes() + rng.integers(0, 256, 60000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="corrupt"):
        read_audio(noisy)
    assert read_audio(noisy, max_duration_s=1.0).shape == (SR,)


@pytest.mark.parametrize(
    ("name", "codec", "audio_codec"),
    [
        ("h264.mp4", "libx264", "aac"),
        ("hevc.mp4", "libx265", "aac"),
        ("clip.mov", "libx264", "aac"),
        ("clip.avi", "mpeg4", "libmp3lame"),
        ("clip.webm", "libvpx-vp9", "libopus"),
        ("clip.mkv", "libx264", "flac"),
    ],
)
def test_read_containers(tmp_path: Path, name: str, codec: str, audio_codec: str) -> None:
    src = smooth_frames(12, 64, 80)
    path = tmp_path / name
    encode_video(path, codec, src, audio_codec=audio_codec)
    frames, fps = read_video(path)
    assert frames.shape == (12, 64, 80, 3) and fps == pytest.approx(25.0)
    assert psnr(frames, src) > 25
    audio = read_audio(path)
    assert abs(len(audio) - 12 / 25 * SR) < 0.06 * SR
    assert dominant_hz(audio, SR) == pytest.approx(300, abs=5)


def test_rotated_video_is_returned_upright(tmp_path: Path) -> None:
    src = np.zeros((3, 32, 64, 3), np.uint8)
    src[:, :8, :8] = 255  # white block top-left
    path = tmp_path / "rot.mp4"
    encode_video(path, "libx264", src, rotation=90)  # display: 90 degrees counter-clockwise
    frames, _ = read_video(path)
    assert frames.shape == (3, 64, 32, 3)
    assert frames[0, -8:, :8].mean() > 200 and frames[0, :8, :8].mean() < 50  # now bottom-left
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (32, 64, 90)


# ------------------------------------------------------------------------------------------
# read_audio
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [MPG, MP4], ids=["mpg", "mp4"])
def test_read_audio_fixtures(path: Path) -> None:
    audio = read_audio(path)
    assert audio.ndim == 1 and audio.dtype == np.float32
    assert abs(len(audio) - probe(path).duration_s * SR) < 0.05 * SR
    assert np.abs(audio).max() <= 1.0 and np.sqrt(np.mean(audio**2)) > 0.01


def test_mpg_and_mp4_audio_agree() -> None:
    a, b = read_audio(MPG), read_audio(MP4)
    n = min(len(a), len(b))
    assert abs(len(a) - len(b)) < 0.02 * SR
    assert np.corrcoef(a[:n], b[:n])[0, 1] > 0.95


def test_read_audio_max_duration() -> None:
    assert read_audio(MPG, max_duration_s=1.25).shape == (20000,)
    assert read_audio(MP4, sample_rate=8000, max_duration_s=10).shape[0] == pytest.approx(3 * 8000, abs=400)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_read_audio_resamples_stereo_wav(tmp_path: Path, rate: int) -> None:
    x = sine(440, 1.5, rate, amp=0.8)
    path = tmp_path / f"tone_{rate}.wav"
    sf.write(path, np.stack([x, x], axis=1), rate, subtype="PCM_16")
    audio = read_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 1.5 * SR) <= 2
    assert dominant_hz(audio, SR) == pytest.approx(440, abs=3)
    # channels are averaged: the level is kept (no +3 dB downmix, no clipping)
    assert np.abs(audio[1000:-1000]).max() == pytest.approx(0.8, abs=0.02)


def test_read_audio_mixes_different_channels(tmp_path: Path) -> None:
    left, right = sine(300, 1.0, 44100, 0.6), np.zeros(44100, np.float32)
    path = tmp_path / "left_only.flac"
    sf.write(path, np.stack([left, right], axis=1), 44100)
    audio = read_audio(path)
    assert np.abs(audio[500:-500]).max() == pytest.approx(0.3, abs=0.02)


@pytest.mark.parametrize(
    ("name", "codec", "rate"),
    [
        ("a.mp3", "libmp3lame", 44100),
        ("a.flac", "flac", 48000),
        ("a.ogg", "libopus", 48000),
        ("a.m4a", "aac", 22050),
    ],
)
def test_read_audio_formats(tmp_path: Path, name: str, codec: str, rate: int) -> None:
    path = tmp_path / name
    encode_audio(path, codec, sine(500, 2.0, rate), rate, channels=2)
    audio = read_audio(path, sample_rate=SR)
    assert abs(len(audio) - 2 * SR) < 0.05 * SR
    assert dominant_hz(audio, SR) == pytest.approx(500, abs=3)
    assert np.sqrt(np.mean(audio[2000:-2000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


# ------------------------------------------------------------------------------------------
# bad inputs
# ------------------------------------------------------------------------------------------


def _bad_media(tmp_path: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp_path / "missing.wav"
    if kind == "empty":
        p = tmp_path / "empty.mp4"
        p.touch()
        return p
    if kind == "random":
        p = tmp_path / "random.mp4"
        p.write_bytes(np.random.default_rng(1).integers(0, 256, 50000, dtype=np.uint8).tobytes())
        return p
    if kind == "png":
        p = tmp_path / "picture.wav"
        Image.new("RGB", (32, 32), (200, 10, 10)).save(p, format="PNG")
        return p
    if kind == "jpeg":
        p = tmp_path / "picture.mp4"
        Image.new("RGB", (32, 32), (200, 10, 10)).save(p, format="JPEG")
        return p
    if kind == "text":
        p = tmp_path / "notes.wav"
        p.write_text("this is not audio\n" * 50)
        return p
    if kind == "truncated":
        p = tmp_path / "truncated.mp4"
        data = MP4.read_bytes()
        p.write_bytes(data[: len(data) // 2])  # moov atom at the end is lost
        return p
    if kind == "directory":
        p = tmp_path / "folder.mp4"
        p.mkdir()
        return p
    raise AssertionError(kind)


BAD_KINDS = ["missing", "empty", "random", "png", "jpeg", "text", "truncated", "directory"]


@pytest.mark.parametrize("kind", BAD_KINDS)
@pytest.mark.parametrize("reader", [read_audio, read_video, probe, iter_video_frames])
def test_bad_media_raise_input_error(tmp_path: Path, kind: str, reader: object) -> None:
    path = _bad_media(tmp_path, kind)
    with pytest.raises(InputError) as err:
        reader(path)  # type: ignore[operator]
    assert_one_line_naming(err, path)


def test_missing_streams(tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    encode_video(silent, "libx264", smooth_frames(5, 32, 32))
    with pytest.raises(InputError, match="no audio track") as err:
        read_audio(silent)
    assert_one_line_naming(err, silent)
    wav = tmp_path / "speech.wav"
    sf.write(wav, sine(200, 0.5, SR), SR)
    with pytest.raises(InputError, match="no video stream") as err:
        read_video(wav)
    assert_one_line_naming(err, wav)
    with pytest.raises(InputError, match="no video stream"):
        iter_video_frames(wav)
    info = probe(wav)
    assert info.has_audio and not info.has_video and info.num_frames is None


def test_garbage_mp3_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(2).integers(0, 256, 100000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError) as err:
        read_audio(path)
    assert_one_line_naming(err, path)


# ------------------------------------------------------------------------------------------
# check_speech
# ------------------------------------------------------------------------------------------


def test_check_speech() -> None:
    check_speech(sine(200, 1.0, SR, 0.1), "ok.wav")
    with pytest.raises(InputError, match="too short") as err:
        check_speech(sine(200, 0.1, SR), "short.wav")
    assert "short.wav" in str(err.value)
    with pytest.raises(InputError, match="too long") as err:
        check_speech(sine(200, 3.0, SR), "long.wav", max_duration_s=2.5)
    assert "2.5 s" in str(err.value) and "long.wav" in str(err.value)
    with pytest.raises(InputError, match="silent"):
        check_speech(np.zeros(SR, np.float32), "zeros.wav")
    with pytest.raises(InputError, match="silent"):
        check_speech(sine(200, 1.0, SR, 1e-4), "hiss.wav")  # -83 dBFS
    check_speech(sine(200, 1.0, SR, 3e-3), "quiet.wav")  # -53 dBFS: quiet but usable
    bad = sine(200, 1.0, SR)
    bad[10] = np.nan
    with pytest.raises(InputError, match="nan"):
        check_speech(bad, "nan.wav")


# ------------------------------------------------------------------------------------------
# write_video
# ------------------------------------------------------------------------------------------


def test_write_video_round_trip(tmp_path: Path) -> None:
    src = smooth_frames(40, 96, 128)
    speech = sine(220, 1.73, SR, 0.3)
    path = tmp_path / "out" / "talk.mp4"
    assert write_video(path, src, 25, audio=speech) == 40
    info = probe(path)
    assert info.has_video and info.has_audio
    assert (info.num_frames, info.width, info.height, info.fps) == (40, 128, 96, 25.0)
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        assert a.duration is not None and a.time_base is not None
        assert float(a.duration * a.time_base) == pytest.approx(len(speech) / SR, abs=0.05)
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
    frames, fps = read_video(path)
    assert frames.shape == src.shape and fps == 25.0
    assert psnr(frames, src) > 30
    back = read_audio(path)
    assert abs(len(back) - len(speech)) < 1024
    n = min(len(back), len(speech))
    assert np.corrcoef(back[:n], speech[:n])[0, 1] > 0.99
    assert not [p for p in path.parent.iterdir() if p.name != "talk.mp4"]


def test_write_video_generator_odd_size_no_audio(tmp_path: Path) -> None:
    src = smooth_frames(9, 51, 77)
    path = tmp_path / "odd.mp4"
    assert write_video(path, (f for f in src), 12.5) == 9
    frames, fps = read_video(path)
    assert frames.shape == (9, 52, 78, 3) and fps == pytest.approx(12.5)
    assert psnr(frames[:, :51, :77], src) > 30
    assert not probe(path).has_audio


def test_write_video_audio_longer_than_video_and_interleaved(tmp_path: Path) -> None:
    speech = sine(300, 2.4, SR, 0.3)
    path = tmp_path / "av.mp4"
    write_video(path, smooth_frames(50, 32, 32), 25, audio=speech)  # 2.0 s of video
    with av.open(str(path)) as c:
        order = "".join(p.stream.type[0] for p in c.demux() if p.size)
        a = c.streams.audio[0]
        assert a.duration is not None and a.time_base is not None
        assert float(a.duration * a.time_base) == pytest.approx(2.4, abs=0.05)
    assert order.count("v") == 50
    assert "a" in order[:10] and "v" in order[-40:]  # audio packets interleaved, not all at the end


def test_write_video_is_atomic_when_frames_fail(tmp_path: Path) -> None:
    def failing() -> Iterator[np.ndarray]:
        yield from smooth_frames(5, 32, 32)
        raise RuntimeError("renderer crashed")

    path = tmp_path / "never.mp4"
    with pytest.raises(RuntimeError, match="renderer crashed"):
        write_video(path, failing(), 25, audio=sine(200, 1.0, SR))
    assert list(tmp_path.iterdir()) == []


def test_write_video_rejects_bad_frames(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_video(tmp_path / "a.mp4", [], 25)
    with pytest.raises(ValueError):
        write_video(tmp_path / "b.mp4", np.zeros((3, 8, 8, 3), np.float32), 25)
    with pytest.raises(ValueError):
        write_video(tmp_path / "c.mp4", [np.zeros((8, 8, 3), np.uint8), np.zeros((10, 8, 3), np.uint8)], 25)
    with pytest.raises(ValueError):
        write_video(tmp_path / "d.mp4", np.zeros((3, 8, 8, 3), np.uint8), 0)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------
# images
# ------------------------------------------------------------------------------------------


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (40, 60, 3), dtype=np.uint8)


def test_read_image_rgb_and_palette(tmp_path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and np.array_equal(out, rgb)
    pal = Image.fromarray(rgb).convert("P")
    pal.save(tmp_path / "p.png")
    assert np.array_equal(read_image(tmp_path / "p.png"), np.asarray(pal.convert("RGB")))


def test_read_image_grayscale_and_16bit(tmp_path: Path, rgb: np.ndarray) -> None:
    gray = rgb[..., 0]
    Image.fromarray(gray).save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (40, 60, 3) and np.array_equal(out, np.repeat(gray[..., None], 3, 2))
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    assert np.array_equal(read_image(tmp_path / "g16.png")[..., 1], gray)
    Image.fromarray(gray > 128).save(tmp_path / "bw.png")  # 1-bit
    assert set(np.unique(read_image(tmp_path / "bw.png"))) <= {0, 255}


def test_read_image_alpha_composited_on_white(tmp_path: Path, rgb: np.ndarray) -> None:
    alpha = np.zeros((40, 60), np.uint8)
    alpha[:, 30:] = 255
    alpha[:20, :30] = 128
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "rgba.png")
    out = read_image(tmp_path / "rgba.png").astype(np.float64)
    assert np.array_equal(out[:, 30:], rgb[:, 30:])
    assert np.all(out[20:, :30] == 255)
    half = rgb[:20, :30] * (128 / 255) + 255 * (127 / 255)
    assert np.abs(out[:20, :30] - half).max() <= 1
    la = np.dstack([rgb[..., 0], alpha])
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    out = read_image(tmp_path / "la.png")
    assert out.shape == (40, 60, 3) and np.all(out[20:, :30] == 255)
    assert np.array_equal(out[:, 30:, 2], rgb[:, 30:, 0])
    gif = Image.fromarray(rgb).convert("P")
    gif.info["transparency"] = int(np.asarray(gif)[0, 0])
    gif.save(tmp_path / "t.gif", transparency=int(np.asarray(gif)[0, 0]))
    assert np.all(read_image(tmp_path / "t.gif")[0, 0] == 255)


def test_read_image_cmyk(tmp_path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.tif")
    assert np.array_equal(read_image(tmp_path / "c.tif"), rgb)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=100)
    out = read_image(tmp_path / "c.jpg")
    assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb).mean() < 12


@pytest.mark.parametrize(("orientation", "k"), [(3, 2), (6, -1), (8, 1)])
def test_read_image_exif_orientation(tmp_path: Path, rgb: np.ndarray, orientation: int, k: int) -> None:
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(tmp_path / "e.png", exif=exif)
    assert np.array_equal(read_image(tmp_path / "e.png"), np.rot90(rgb, k=k))


def test_bad_images(tmp_path: Path) -> None:
    cases: dict[str, bytes | None] = {"missing.jpg": None, "empty.png": b"", "notes.png": b"hello\n" * 20}
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
        tmp_path / "noise.png"
    )
    cases["truncated.png"] = (tmp_path / "noise.png").read_bytes()[:2000]
    cases["video.jpg"] = MP4.read_bytes()
    for name, content in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
    Image.new("L", (9000, 8)).save(tmp_path / "wide.png")
    Image.new("L", (7000, 7000)).save(tmp_path / "huge.png")
    for name in [*cases, "wide.png", "huge.png"]:
        with pytest.raises(InputError) as err:
            read_image(tmp_path / name)
        assert_one_line_naming(err, tmp_path / name)
    with pytest.raises(InputError, match="too large"):
        read_image(tmp_path / "huge.png")


def test_write_image_round_trip_and_atomic(tmp_path: Path, rgb: np.ndarray) -> None:
    write_image(tmp_path / "sub" / "a.png", rgb)
    assert np.array_equal(read_image(tmp_path / "sub" / "a.png"), rgb)
    photo = smooth_frames(1, 48, 64)[0]
    write_image(tmp_path / "a.jpg", photo)
    assert psnr(read_image(tmp_path / "a.jpg"), photo) > 35
    with pytest.raises(InputError, match="unsupported"):
        write_image(tmp_path / "a.xyz", rgb)
    with pytest.raises(ValueError):
        write_image(tmp_path / "b.png", rgb.astype(np.float32))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.jpg", "a.png", "sub"]


def test_save_torch_is_atomic_and_byte_reproducible(tmp_path: Path) -> None:
    import torch

    from talkface.io.atomic import save_torch

    obj = {"w": torch.arange(6, dtype=torch.float16).reshape(2, 3), "meta": {"name": "x"}}
    a, b = save_torch(obj, tmp_path / "a.pt"), save_torch(obj, tmp_path / "sub" / "b.pt")
    assert a.read_bytes() == b.read_bytes()  # same content, same bytes, whatever the file name
    assert torch.equal(torch.load(a)["w"], obj["w"])
    with pytest.raises((AttributeError, TypeError)):
        save_torch({"f": lambda: 0}, tmp_path / "c.pt")  # unpicklable: nothing left behind
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.pt", "b.pt", "sub"]
