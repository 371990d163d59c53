"""Media for the ``talkface serve`` tests, made from the real GRID fixtures (bytes, in memory).

Not a test module: imported by tests/test_serve_*.py.
"""

from __future__ import annotations

import atexit
import functools
import io
import os
import shutil
import socket
import struct
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile as sf
from PIL import Image

from talkface.io.media import read_audio, read_video

FIXTURES = Path(__file__).parent / "fixtures"
GRID = FIXTURES / "bbaf2n.mpg"  # male speaker, "bin blue at f two now"
GRID_FEMALE = FIXTURES / "lbbc2a.mpg"
SR = 16000


@functools.lru_cache(maxsize=4)
def grid_still(path: Path = GRID, frame: int = 0) -> np.ndarray:
    """(288, 360, 3) uint8 RGB frame of a GRID clip: one frontal face."""
    frames, _ = read_video(path, max_frames=frame + 1)
    return frames[frame].copy()


@functools.lru_cache(maxsize=2)
def grid_speech(seconds: float = 1.5, start: float = 0.9) -> np.ndarray:
    """(N,) float32 16 kHz: the GRID clip's own speech from ``start`` ("bin blue at ...")."""
    audio = read_audio(GRID)
    return audio[int(start * SR): int((start + seconds) * SR)].copy()


def image_bytes(rgb: np.ndarray, fmt: str = "PNG", mode: str | None = None, **save: object) -> bytes:
    """Encode an image; ``mode`` converts first (``"L"``, ``"RGBA"``, ``"CMYK"``, ``"P"``, ``"I;16"``)."""
    im = Image.fromarray(rgb)
    if mode == "I;16":
        im = Image.fromarray((rgb.mean(axis=2) * 257).astype(np.uint16))
    elif mode is not None:
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **save)
    return buf.getvalue()


def rgba_face() -> bytes:
    """PNG with alpha: the GRID face with a transparent border."""
    rgb = grid_still()
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:40], alpha[-40:], alpha[:, :40], alpha[:, -40:] = 0, 0, 0, 0
    return image_bytes(np.dstack([rgb, alpha]), "PNG")


def exif_rotated_face() -> bytes:
    """JPEG stored on its side with EXIF orientation 6 (display = rotate 90 degrees clockwise)."""
    stored = np.ascontiguousarray(np.rot90(grid_still(), k=1))  # what a phone sensor stores
    im = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=92, exif=exif.tobytes())
    return buf.getvalue()


def two_faces() -> bytes:
    """Two GRID speakers side by side (a photo with several faces)."""
    return image_bytes(np.concatenate([grid_still(GRID), grid_still(GRID_FEMALE)], axis=1), "PNG")


def no_face() -> bytes:
    """A smooth colour gradient: an image with no face in it."""
    yy, xx = np.mgrid[:240, :320].astype(np.float32)
    rgb = np.stack([xx / 320 * 255, yy / 240 * 255, np.full_like(xx, 128)], axis=2).astype(np.uint8)
    return image_bytes(rgb, "JPEG", quality=90)


def png_header_only(width: int, height: int) -> bytes:
    """A valid-looking PNG declaring ``width`` x ``height`` with almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def wav_bytes(audio: np.ndarray, rate: int = SR, subtype: str = "PCM_16", channels: int = 1) -> bytes:
    """WAV of mono float audio (duplicated to ``channels``)."""
    data = audio if channels == 1 else np.repeat(audio[:, None], channels, axis=1)
    buf = io.BytesIO()
    sf.write(buf, data, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def wav_claiming(seconds: float, real_seconds: float = 1.0, rate: int = 8000) -> bytes:
    """8-bit mono WAV whose header claims ``seconds`` but which holds ``real_seconds`` of noise."""
    n_claimed = int(seconds * rate)
    rng = np.random.default_rng(0)
    data = rng.integers(96, 160, int(real_seconds * rate), dtype=np.uint8).tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate, 1, 8)
    return (b"RIFF" + struct.pack("<I", 36 + n_claimed) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", n_claimed) + data)


def long_flac(seconds: float, rate: int = 8000) -> bytes:
    """A real ``seconds``-long FLAC of digital silence (compresses to a few kB; written in blocks)."""
    buf = io.BytesIO()
    block = np.zeros(rate * 60, dtype=np.int16)
    with sf.SoundFile(buf, "w", samplerate=rate, channels=1, format="FLAC", subtype="PCM_16") as f:
        left = int(seconds * rate)
        while left > 0:
            f.write(block[: min(left, block.shape[0])])
            left -= block.shape[0]
    return buf.getvalue()


def encode_audio(audio: np.ndarray, fmt: str, codec: str, rate: int = SR, *, out_rate: int | None = None,
                 layout: str = "mono") -> bytes:
    """Encode mono float audio with PyAV (FFmpeg): e.g. ("mp3", "libmp3lame"), ("webm", "libopus")."""
    buf = io.BytesIO()
    out_rate = out_rate or rate
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=out_rate, layout=layout)
        samples = audio.astype(np.float32)[None, :]
        if layout == "stereo":
            samples = np.repeat(samples, 2, axis=0)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = 0
        resampler = av.AudioResampler(format=stream.codec_context.format, layout=layout, rate=out_rate)
        frame_size = stream.codec_context.frame_size or 1024
        fifo = av.AudioFifo()
        for f in resampler.resample(frame) + resampler.resample(None):
            fifo.write(f)
        while fifo.samples:
            chunk = fifo.read(min(frame_size, fifo.samples))
            for packet in stream.encode(chunk):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def video_without_audio() -> bytes:
    """A short H.264 mp4 with no audio track."""
    buf = io.BytesIO()
    rgb = grid_still()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
        for _ in range(5):
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------
# A live server with the real pipeline, shared by the end-to-end test modules of one process
# (the models are loaded and warmed up once).
# ------------------------------------------------------------------------------------------

#: A model bundle to test with instead of the bundled default (for developing before it ships).
TEST_MODEL = os.environ.get("TALKFACE_TEST_MODEL") or None
#: Upload limits of the shared server.
MAX_UPLOAD = 4 * 1024 * 1024
MAX_AUDIO_S = 30.0


def real_pipeline_missing() -> str | None:
    """Why the real pipeline cannot run here (a skip reason), or None when it can."""
    try:
        import talkface.pipeline as pipeline
    except ImportError as err:
        return f"talkface.pipeline (the real animator) is not importable ({err})"
    bundle = Path(TEST_MODEL) if TEST_MODEL else pipeline.DEFAULT_MODEL
    if not (bundle / pipeline.BUNDLE_FILE).is_file():
        return f"no model bundle to run the real pipeline with ({bundle} has no {pipeline.BUNDLE_FILE})"
    return None


@dataclass
class LiveServer:
    """``talkface serve`` running in this process: uvicorn on a free loopback port, in a thread."""

    url: str
    app: Any
    work: Path
    server: Any
    thread: threading.Thread
    root: Path

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        shutil.rmtree(self.root, ignore_errors=True)


def start_server(config: Any, root: Path, animator_factory: Any = None) -> LiveServer:
    """Start ``create_app(config)`` under uvicorn on 127.0.0.1:<free port>; returns once it listens."""
    import uvicorn

    from talkface.serve import create_app

    app = create_app(config, animator_factory=animator_factory)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise RuntimeError("the test server did not start")
    return LiveServer(f"http://127.0.0.1:{port}", app, Path(config.work_dir), server, thread, root)


_SHARED: LiveServer | None = None


def shared_server() -> LiveServer:
    """The process's live server with the real pipeline (one worker, 1 torch thread), started on first use."""
    global _SHARED
    if _SHARED is None:
        from talkface.serve import ServeConfig

        root = Path(tempfile.mkdtemp(prefix="talkface-serve-test-"))
        config = ServeConfig(work_dir=root / "work", workers=1, max_queued=100, max_upload_bytes=MAX_UPLOAD,
                             max_audio_seconds=MAX_AUDIO_S, model=TEST_MODEL, threads=1)
        _SHARED = start_server(config, root)
        atexit.register(_SHARED.stop)
    return _SHARED
