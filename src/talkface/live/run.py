"""Driving a live session in real time: audio sources, a render loop that catches up, latency bookkeeping.

:class:`LiveRunner` decouples audio arrival from rendering. A producer (a file played at real
speed, stdin, a WebSocket) calls :meth:`LiveRunner.feed` with each chunk as it is captured; the
render loop (:meth:`LiveRunner.run`, in its own thread) takes *all* audio that arrived since its
last pass and pushes it into the :class:`talkface.live.stream.FaceStream` at once, so when it falls
behind it renders the waiting frames as one batch (cheaper per frame) instead of building a backlog.

Latency of frame ``t`` = the wall time when the frame is ready minus the capture time of the audio
sample at ``t / fps`` (the sound the frame shows). A chunk fed at wall time ``W`` whose last sample
is ``b`` is taken as captured in real time, so its sample ``s`` was captured at ``W - (b - s) / rate``.
It includes the 120-ms look-ahead, the chunk length and the compute.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from talkface.live.stream import FaceStream, pcm16_to_float

__all__ = ["LiveRunner", "LiveStats", "file_source", "pcm_source"]

FrameCallback = Callable[[int, float, Any, float], None]


@dataclass
class LiveStats:
    """What a live session did (bounded: the last ``keep`` latencies, running aggregates).

    Attributes:
        frames: frames made (rendered or dropped).
        dropped: frames not rendered because the loop fell behind (``max_render``).
        samples: audio samples received.
        wall_s: wall time from the first chunk to the end.
        latency_ms: the last latencies, ms.
        latency_max_ms: largest latency, ms.
        backlog_max: most frames made by one pass of the render loop.
    """

    frames: int = 0
    dropped: int = 0
    samples: int = 0
    wall_s: float = 0.0
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20000))
    latency_max_ms: float = 0.0
    backlog_max: int = 0

    def summary(self) -> dict[str, float]:
        """Numbers for a report: frames, fps, latency median / p95 / max (ms), backlog."""
        lat = np.asarray(self.latency_ms, dtype=np.float64)
        return {
            "frames": float(self.frames),
            "dropped": float(self.dropped),
            "audio_s": self.samples / 16000.0,
            "wall_s": self.wall_s,
            "fps": self.frames / self.wall_s if self.wall_s > 0 else float("nan"),
            "latency_median_ms": float(np.median(lat)) if len(lat) else float("nan"),
            "latency_p95_ms": float(np.percentile(lat, 95)) if len(lat) else float("nan"),
            "latency_max_ms": self.latency_max_ms,
            "backlog_max": float(self.backlog_max),
        }


class LiveRunner:
    """Real-time render loop of one :class:`FaceStream`.

    Args:
        face: the session's stream.
        on_frame: ``on_frame(index, timestamp_s, frame_or_None, latency_s)`` for every frame, in order
            (called from the render thread; ``None`` = dropped).
        on_audio: called with each chunk of samples as the render loop takes it (e.g. an mp4 sink).
        max_render: see :meth:`FaceStream.push` (None: render every frame, for files).
    """

    def __init__(self, face: FaceStream, on_frame: FrameCallback, *,
                 on_audio: Callable[[np.ndarray], None] | None = None, max_render: int | None = None) -> None:
        self.face = face
        self.on_frame = on_frame
        self.on_audio = on_audio
        self.max_render = max_render
        self.stats = LiveStats()
        self._queue: queue.Queue[tuple[np.ndarray, float] | None] = queue.Queue()
        self._arrivals: deque[tuple[int, float]] = deque()  # (end sample, wall time) of chunks not yet shown
        self._received = 0
        self._start: float | None = None
        self._cancelled = threading.Event()
        self.error: BaseException | None = None

    def feed(self, samples: np.ndarray, wall: float | None = None) -> None:
        """A chunk was captured (thread-safe); ``wall``: when its last sample was captured (default now)."""
        self._queue.put((np.asarray(samples, np.float32).ravel(), time.perf_counter() if wall is None else wall))

    def end(self) -> None:
        """No more audio (thread-safe): the loop makes the last frames and returns."""
        self._queue.put(None)

    def cancel(self) -> None:
        """Stop as soon as possible without making the remaining frames."""
        self._cancelled.set()
        self._queue.put(None)

    @property
    def pending(self) -> int:
        """Chunks waiting for the render loop."""
        return self._queue.qsize()

    def _capture_time(self, sample: int) -> float:
        while len(self._arrivals) > 1 and self._arrivals[0][0] <= sample:
            self._arrivals.popleft()
        end, wall = self._arrivals[0] if self._arrivals else (self._received, time.perf_counter())
        return wall - (end - sample) / self.face.sample_rate

    def _emit(self, frames: list[tuple[float, Any]]) -> None:
        now = time.perf_counter()
        self.stats.backlog_max = max(self.stats.backlog_max, len(frames))
        for ts, frame in frames:
            index = self.stats.frames
            sample = min(int(round(ts * self.face.sample_rate)), max(0, self._received - 1))
            latency = now - self._capture_time(sample)
            self.stats.frames += 1
            if frame is None:
                self.stats.dropped += 1
            else:
                self.stats.latency_ms.append(latency * 1000.0)
                self.stats.latency_max_ms = max(self.stats.latency_max_ms, latency * 1000.0)
            self.on_frame(index, ts, frame, latency)

    def run(self) -> LiveStats:
        """The render loop: runs until :meth:`end` (then the last frames) or :meth:`cancel`."""
        try:
            done = False
            while not done and not self._cancelled.is_set():
                items = [self._queue.get()]
                while True:
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                chunks = []
                for item in items:
                    if item is None:
                        done = True
                        break
                    samples, wall = item
                    if self._start is None:
                        self._start = wall - len(samples) / self.face.sample_rate
                    self._received += len(samples)
                    self._arrivals.append((self._received, wall))
                    chunks.append(samples)
                if self._cancelled.is_set():
                    break
                if chunks:
                    audio = np.concatenate(chunks)
                    self.stats.samples += len(audio)
                    if self.on_audio is not None:
                        self.on_audio(audio)
                    self._emit(self.face.push(audio, self.max_render))
            if not self._cancelled.is_set():
                self._emit(self.face.finish())
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            if self._start is not None:
                self.stats.wall_s = time.perf_counter() - self._start
        return self.stats


def file_source(audio: np.ndarray, chunk_s: float = 0.04, realtime: bool = True,
                sample_rate: int = 16000) -> Iterator[tuple[np.ndarray, float]]:
    """Chunks of a decoded file, each when it would have been captured live (``realtime``) or at once.

    Yields ``(samples, capture_wall_time)``; with ``realtime`` the generator sleeps until the
    chunk's last sample is due, so the file plays at real speed.
    """
    step = max(1, int(round(chunk_s * sample_rate)))
    start = time.perf_counter()
    for i in range(0, len(audio), step):
        chunk = audio[i:i + step]
        due = start + (i + len(chunk)) / sample_rate
        if realtime:
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        yield chunk, time.perf_counter()


def pcm_source(
    stream: Any = None, chunk_s: float = 0.04, sample_rate: int = 16000
) -> Iterator[tuple[np.ndarray, float]]:
    """Raw s16le mono PCM from a binary stream (default stdin) as it arrives; ends at end of file."""
    fd = (stream if stream is not None else sys.stdin.buffer).fileno()
    want = max(2, int(round(chunk_s * sample_rate)) * 2)
    carry = b""
    while True:
        data = os.read(fd, want)
        if not data:
            break
        data = carry + data
        usable = len(data) - len(data) % 2
        carry = data[usable:]
        if usable:
            yield pcm16_to_float(data[:usable]), time.perf_counter()


def run_threaded(runner: LiveRunner, source: Iterator[tuple[np.ndarray, float]]) -> LiveStats:
    """Feed ``source`` into ``runner`` from this thread while the render loop runs in another."""
    result: dict[str, Any] = {}

    def loop() -> None:
        try:
            result["stats"] = runner.run()
        except BaseException as exc:  # reported below, in the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=loop, name="talkface-live-render", daemon=True)
    worker.start()
    try:
        for samples, wall in source:
            if not worker.is_alive():
                break
            runner.feed(samples, wall)
        runner.end()
    except BaseException:
        runner.cancel()
        worker.join()
        raise
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["stats"]
