"""Window-less frame sinks for live sessions: an mp4 written as frames and audio arrive, JPEG encoding.

:class:`Mp4Sink` interleaves H.264 frames (pts ``t / fps``) and AAC audio (pts = sample index) in
one file while the session runs, so memory stays constant however long it lasts, and audio and
video are in sync by construction (frame ``t`` shows the speech at ``t / fps``). The file appears
under its name only when the session ends well (:meth:`Mp4Sink.close`); :meth:`Mp4Sink.abort`
leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from talkface.io.atomic import atomic_path

__all__ = ["Mp4Sink", "encode_jpeg"]

AAC_FRAME = 1024


def encode_jpeg(frame: np.ndarray, quality: int = 80) -> bytes:
    """(H, W, 3) uint8 RGB -> JPEG bytes (OpenCV)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(frame[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise RuntimeError("JPEG encoding failed")
    return bytes(buf.tobytes())


class Mp4Sink:
    """An H.264 + AAC mp4 written incrementally: :meth:`add_audio` and :meth:`add_frame` in any order.

    Args:
        path: output file (``.mp4``, ``.mov``, ``.mkv``); written atomically.
        fps: video frame rate.
        sample_rate: audio rate, Hz (mono).
        crf: libx264 quality.
        preset: libx264 preset (``"veryfast"`` keeps up with real time on a CPU).
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, sample_rate: int = 16000, *, crf: int = 20,
                 preset: str = "veryfast") -> None:
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.sample_rate = int(sample_rate)
        self.crf, self.preset = crf, preset
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        fmt = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}.get(self.path.suffix.lower(), "mp4")
        import av

        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        self._out: Any = av.open(str(self._tmp), mode="w", format=fmt, options=options)
        self._video: Any = None
        self._audio: Any = self._out.add_stream("aac", rate=self.sample_rate)
        self._audio.codec_context.layout = "mono"
        self._audio.codec_context.format = "fltp"
        self._audio.codec_context.bit_rate = 64000
        self._audio.codec_context.time_base = Fraction(1, self.sample_rate)
        self._pending = np.zeros(0, np.float32)
        self.samples = 0  # audio samples encoded
        self.frames = 0
        self._closed = False
        self._size: tuple[int, int] | None = None
        self._early: list[Any] = []  # audio packets made before the video stream exists

    def _mux(self, packets: Any) -> None:
        if self._video is None:
            self._early.extend(packets)
        else:
            self._out.mux(packets)

    def add_audio(self, samples: np.ndarray) -> None:
        """Append (N,) float32 mono samples in [-1, 1]."""
        import av

        self._pending = np.concatenate([self._pending, np.asarray(samples, np.float32).ravel()])
        while len(self._pending) >= AAC_FRAME:
            self._encode_audio(self._pending[:AAC_FRAME], av)
            self._pending = self._pending[AAC_FRAME:]

    def _encode_audio(self, chunk: np.ndarray, av: Any) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk, np.float32)[None, :], format="fltp",
                                           layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self.samples
        frame.time_base = Fraction(1, self.sample_rate)
        self._mux(self._audio.encode(frame))
        self.samples += len(chunk)

    def add_frame(self, frame: np.ndarray) -> None:
        """Append the next video frame, (H, W, 3) uint8 RGB (all frames of one size)."""
        import av

        f = np.asarray(frame)
        if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
            raise ValueError(f"frame must be (H, W, 3) uint8, got {f.shape} {f.dtype}")
        h, w = f.shape[:2]
        if self._video is None:
            self._size = (h, w)
            self._video = self._out.add_stream("libx264", rate=self.fps)
            self._video.width, self._video.height, self._video.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
            self._video.codec_context.time_base = 1 / self.fps
            self._video.codec_context.options = {"crf": str(int(self.crf)), "preset": self.preset}
            for packet in self._early:
                self._out.mux(packet)
            self._early = []
        if (h, w) != self._size:
            raise ValueError(f"frame {self.frames}: size {(h, w)} differs from the first {self._size}")
        if h % 2 or w % 2:
            f = np.pad(f, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        vframe = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), "rgb24")
        vframe.pts = self.frames
        vframe.time_base = 1 / self.fps
        self._out.mux(self._video.encode(vframe))
        self.frames += 1

    def close(self) -> Path:
        """Flush the encoders and move the file into place; returns its path.

        Raises:
            ValueError: no video frame was added (nothing is written).
        """
        import av

        if self._closed:
            return self.path
        if self._video is None:
            self.abort()
            raise ValueError(f"{self.path}: no frames to write")
        if len(self._pending):
            self._encode_audio(self._pending, av)
            self._pending = np.zeros(0, np.float32)
        self._out.mux(self._video.encode(None))
        self._out.mux(self._audio.encode(None))
        self._out.close()
        self._closed = True
        self._stack.close()
        return self.path

    def abort(self) -> None:
        """Stop without writing anything."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._out.close()
        with contextlib.suppress(Exception):
            self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)
