"""Live mode of ``talkface serve``: a page (``/live``) and a WebSocket (``/v1/live``) driven by a microphone.

WebSocket protocol (``/v1/live``; see docs/live.md):

1. client → server, text: ``{"type": "start", "photo": "<base64 JPEG/PNG/WebP>", "sample_rate": 16000,
   "format": "s16le", "channels": 1, "size": 0, "quality": 80, "head_motion": 1}`` (``size`` 0 = whole
   photo, N = N × N face crop; ``quality`` of the JPEG frames; ``head_motion`` 0-3, optional, default 1:
   strength of the head and brow motion, as ``talkface animate --head-motion``, 0 = still head).
2. server → client, text: ``{"type": "ready", "fps": 25, "lookahead_ms": 120, "sample_rate": 16000}``,
   or ``{"type": "busy", ...}`` (every live slot in use; close code 1013) or
   ``{"type": "error", "message": ...}`` (bad photo, no face, bad audio format; close code 1008).
3. client → server, binary: raw PCM, 16-bit little-endian mono at 16 kHz, chunks of any size.
4. server → client, binary: one message per frame: 12-byte header (``<Id``: frame index, time stamp
   in seconds of the audio it shows) + JPEG. Frames the server had to skip to stay live are not sent
   (their indices are missing).
5. client → server, text ``{"type": "stop"}``: the server sends the last frames, then
   ``{"type": "end", "frames": N, "dropped": D, "latency_median_ms": ...}`` and closes.

A dropped connection, a client that stops reading (more than ``max_unsent`` frames waiting), a
malformed message or a session longer than ``max_seconds`` ends the session with a clear message and
frees its slot; other sessions and the job API are not affected. Sessions run at most
``max_sessions`` at once, each with its own loaded models.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import struct
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

from talkface.config_checks import DEFAULT_MAX_SIDE, MAX_LIVE_S, OptionError, check_value
from talkface.errors import InputError
from talkface.serve.validate import UploadError, check_image

log = logging.getLogger("talkface.serve.live")

__all__ = ["LiveService", "live_page_html", "router"]

FRAME_HEADER = struct.Struct("<Id")


def live_page_html() -> str:
    """The page served at ``/live`` (package data ``talkface/serve/live.html``)."""
    return (resources.files("talkface.serve") / "live.html").read_text(encoding="utf-8")


class LiveService:
    """Slots for live sessions, each with an animator loaded on first use and kept for the next session.

    Args:
        model: model bundle folder (None: the default).
        threads: torch threads per session.
        max_sessions: sessions at once; more are answered "busy".
        max_image_pixels: largest photo accepted.
        max_seconds: longest session, seconds of audio.
        max_unsent: frames waiting to be sent to a client before it counts as not reading.
        idle_timeout_s: a session that sends nothing for this long is closed.
    """

    def __init__(self, model: str | None = None, threads: int | None = None, max_sessions: int = 1,
                 max_image_pixels: int = 40_000_000, max_seconds: float = MAX_LIVE_S, max_unsent: int = 50,
                 idle_timeout_s: float = 30.0) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
        self.model, self.threads, self.max_sessions = model, threads, max_sessions
        self.max_image_pixels, self.max_seconds = max_image_pixels, max_seconds
        self.max_unsent, self.idle_timeout_s = max_unsent, idle_timeout_s
        self._lock = threading.Lock()
        self._free: list[Any] = []  # loaded animators not in use
        self.active = 0

    def acquire(self) -> bool:
        """Take a slot; False when all are in use."""
        with self._lock:
            if self.active >= self.max_sessions:
                return False
            self.active += 1
            return True

    def release(self, animator: Any | None) -> None:
        """Give a slot back (and its animator, for reuse)."""
        with self._lock:
            self.active -= 1
            if animator is not None:
                self._free.append(animator)

    def animator(self) -> Any:
        """A loaded animator for a slot just acquired (blocking: loads models the first time)."""
        with self._lock:
            if self._free:
                return self._free.pop()
        from talkface.pipeline import AnimateConfig, Animator  # lazy: loads torch

        return Animator(AnimateConfig(model=self.model, threads=self.threads))


class _SessionError(Exception):
    """Ends a session with a message to the client."""


def _read_photo(data: str, max_pixels: int) -> Any:
    """Base64 photo -> (H, W, 3) uint8 RGB; raises _SessionError with a one-line reason."""
    from talkface.io.images import read_image  # lazy: loads numpy

    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise _SessionError("photo: not valid base64") from exc
    with tempfile.TemporaryDirectory(prefix="talkface-live-") as tmp:
        path = Path(tmp) / "photo"
        path.write_bytes(raw)
        try:
            # the session's animator downscales to AnimateConfig's max_side: a larger JPEG is judged and decoded
            # at 1/2-1/8 scale, as `talkface animate` reads it
            check_image(path, "photo", max_pixels=max_pixels, max_side=DEFAULT_MAX_SIDE)
            return read_image(path, max_side=DEFAULT_MAX_SIDE)
        except UploadError as exc:
            raise _SessionError(str(exc)) from exc
        except InputError as exc:
            raise _SessionError(f"photo: {exc.problem}") from exc


def _check_head_motion(msg: dict[str, Any]) -> float:
    """The start message's ``head_motion`` (default 1), checked against ``talkface.config_checks.LIMITS``."""
    value = msg.get("head_motion", 1.0)
    try:
        return float(check_value("head_motion", value))
    except OptionError as exc:
        raise _SessionError(f"head_motion: {exc.problem}") from None


def _check_start(msg: dict[str, Any]) -> tuple[int, int]:
    """Validate the start message's audio format; returns (size, quality)."""
    if msg.get("type") != "start":
        raise _SessionError('the first message must be {"type": "start", ...}')
    rate, fmt, channels = msg.get("sample_rate", 16000), msg.get("format", "s16le"), msg.get("channels", 1)
    if rate != 16000 or fmt != "s16le" or channels != 1:
        raise _SessionError(f"unsupported audio: need 16-bit little-endian PCM (s16le), mono, 16000 Hz; got "
                            f"format={fmt!r}, channels={channels!r}, sample_rate={rate!r}")
    size, quality = msg.get("size", 0), msg.get("quality", 80)
    if not isinstance(size, int) or size not in (0, 128, 256, 512):
        raise _SessionError(f"size must be 0 (whole photo), 128, 256 or 512; got {size!r}")
    if not isinstance(quality, int) or not 10 <= quality <= 100:
        raise _SessionError(f"quality must be an integer 10..100; got {quality!r}")
    if not isinstance(msg.get("photo"), str):
        raise _SessionError("photo: missing (base64 image in the start message)")
    return size, quality


async def _close(ws: WebSocket, kind: str, message: str, code: int) -> None:
    await _finish(ws, {"type": kind, "message": message}, code)


async def _finish(ws: WebSocket, payload: dict[str, Any] | None, code: int) -> None:
    if payload is not None:
        with contextlib.suppress(Exception):
            await ws.send_text(json.dumps(payload))
    with contextlib.suppress(Exception):
        await ws.close(code=code)


async def _receive_start(ws: WebSocket, timeout: float) -> dict[str, Any] | None:
    """The client's first message as a JSON object (None: the client left); raises _SessionError."""
    first = await asyncio.wait_for(ws.receive(), timeout=timeout)
    if first.get("type") == "websocket.disconnect":
        return None
    try:
        msg = json.loads(first.get("text") or "")
    except ValueError as exc:
        raise _SessionError('the first message must be JSON {"type": "start", ...}') from exc
    if not isinstance(msg, dict):
        raise _SessionError('the first message must be JSON {"type": "start", ...}')
    return msg


async def _receive_audio(ws: WebSocket, service: LiveService, runner: Any, send_task: asyncio.Task[None]) -> bool:
    """Feed the client's PCM messages to ``runner`` until ``{"type": "stop"}`` (True) or the client leaves
    (False); raises _SessionError on a bad message, a failed sender or the session's audio limit, and
    asyncio.TimeoutError after ``idle_timeout_s`` without a message."""
    from talkface.live.stream import pcm16_to_float  # lazy: loads torch

    samples = 0
    while True:
        receive = asyncio.create_task(asyncio.wait_for(ws.receive(), timeout=service.idle_timeout_s))
        done, _ = await asyncio.wait({receive, send_task}, return_when=asyncio.FIRST_COMPLETED)
        if send_task in done:
            receive.cancel()
            send_task.result()  # raises the sender's error
            raise _SessionError("the session ended on the server (internal error)")
        message = receive.result()
        if message.get("type") == "websocket.disconnect":
            return False
        if message.get("bytes") is not None:
            data = message["bytes"]
            if len(data) % 2:
                raise _SessionError("audio: a PCM message has an odd number of bytes (need s16le)")
            samples += len(data) // 2
            if samples > service.max_seconds * 16000:
                raise _SessionError(f"the session passed its limit of {service.max_seconds:g} s of audio")
            runner.feed(pcm16_to_float(data))
            continue
        try:
            text = json.loads(message.get("text") or "")
        except ValueError as exc:
            raise _SessionError("text messages must be JSON") from exc
        if isinstance(text, dict) and text.get("type") == "stop":
            return True
        raise _SessionError('unknown message (expected binary PCM or {"type": "stop"})')


async def live_session(ws: WebSocket, service: LiveService) -> None:
    """Run one live session on a WebSocket (see the module doc for the protocol).

    The slot is freed before the last message goes out, so a client may start its next session as
    soon as it has the answer.
    """
    from talkface.live.run import LiveRunner  # lazy: loads torch
    from talkface.live.sink import encode_jpeg  # lazy: loads numpy
    from talkface.live.stream import FaceStream  # lazy: loads torch

    await ws.accept()
    if not service.acquire():
        await _close(ws, "busy", f"the server is busy: all {service.max_sessions} live session(s) are in use; "
                     "try again later", 1013)
        return
    animator = None
    runner: LiveRunner | None = None
    render: threading.Thread | None = None
    final: tuple[dict[str, Any] | None, int] = (None, 1000)
    send_task: asyncio.Task[None] | None = None
    try:
        try:
            msg = await _receive_start(ws, service.idle_timeout_s)
            if msg is None:
                return
            size, quality = _check_start(msg)
            head_motion = _check_head_motion(msg)
            image = await asyncio.to_thread(_read_photo, msg["photo"], service.max_image_pixels)
            animator = await asyncio.to_thread(service.animator)
            try:
                face = await asyncio.to_thread(FaceStream, animator, image, size=size, head_motion=head_motion)
            except InputError as exc:
                raise _SessionError(f"photo: {exc.problem}") from exc
        except asyncio.TimeoutError:
            final = ({"type": "error", "message": f"no start message within {service.idle_timeout_s:g} s"}, 1008)
            return
        except _SessionError as exc:
            final = ({"type": "error", "message": str(exc)}, 1008)
            return

        loop = asyncio.get_running_loop()
        outbox: asyncio.Queue[tuple[int, float, bytes] | None] = asyncio.Queue()

        def on_frame(index: int, ts: float, frame: Any, latency: float) -> None:
            if frame is not None:
                data = encode_jpeg(frame, quality)
                loop.call_soon_threadsafe(outbox.put_nowait, (index, ts, data))

        runner = LiveRunner(face, on_frame, max_render=5)

        def render_loop() -> None:
            assert runner is not None
            try:
                runner.run()
            except Exception:  # noqa: BLE001 - the client is told by the sender ending early
                log.exception("live session render loop failed")
            finally:  # the render thread owns the slot from here on: free it when done with the models
                service.release(animator)
                with contextlib.suppress(RuntimeError):  # the event loop may be gone at shutdown
                    loop.call_soon_threadsafe(outbox.put_nowait, None)

        render = threading.Thread(target=render_loop, name="talkface-live", daemon=True)
        render.start()
        await ws.send_text(json.dumps({"type": "ready", "fps": face.fps, "lookahead_ms": face.lookahead_s * 1000,
                                       "sample_rate": face.sample_rate}))

        async def sender() -> None:
            while True:
                item = await outbox.get()
                if item is None:
                    return
                if outbox.qsize() > service.max_unsent:
                    raise _SessionError(f"the client is not reading its frames ({outbox.qsize()} waiting)")
                index, ts, data = item
                await asyncio.wait_for(ws.send_bytes(FRAME_HEADER.pack(index, ts) + data), timeout=10.0)

        send_task = asyncio.create_task(sender())
        try:
            if not await _receive_audio(ws, service, runner, send_task):
                return  # the client left
            runner.end()
            await send_task
            summary = runner.stats.summary()
            final = ({"type": "end", **{k: round(v, 3) for k, v in summary.items()}}, 1000)
        except asyncio.TimeoutError:
            final = ({"type": "error", "message": f"no audio for {service.idle_timeout_s:g} s (or the client "
                      "stopped reading): session closed"}, 1008)
        except _SessionError as exc:
            final = ({"type": "error", "message": str(exc)}, 1008)
    except WebSocketDisconnect:
        final = (None, 1000)
    finally:
        # nothing here may be skipped by a cancellation (a dropped client): the slot is freed either
        # right now (no render thread) or by the render thread as it ends
        if send_task is not None and not send_task.done():
            send_task.cancel()
        if runner is not None:
            runner.cancel()
        if render is None:
            service.release(animator)
        else:
            with contextlib.suppress(BaseException):
                await asyncio.to_thread(render.join, 10.0)  # so the slot is free before the answer goes out
        await _finish(ws, *final)


def make_router(service: LiveService) -> APIRouter:
    """The live routes bound to ``service``."""
    r = APIRouter()

    @r.get("/live", response_class=HTMLResponse, include_in_schema=False)
    def live_page() -> HTMLResponse:
        return HTMLResponse(live_page_html())

    @r.get("/v1/live/status", tags=["live"])
    def live_status() -> dict[str, Any]:
        """Live sessions in use and the limit."""
        return {"active": service.active, "max_sessions": service.max_sessions, "time": time.time()}

    @r.websocket("/v1/live")
    async def live_socket(ws: WebSocket) -> None:
        await live_session(ws, service)

    return r


def router(config: Any) -> APIRouter:
    """The live routes for a ``talkface serve`` :class:`talkface.serve.app.ServeConfig`."""
    return make_router(LiveService(model=config.model, threads=config.threads,
                                   max_sessions=getattr(config, "max_live_sessions", 1),
                                   max_image_pixels=config.max_image_pixels))
