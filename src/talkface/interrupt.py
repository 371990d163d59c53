"""SIGTERM handled like Ctrl-C by the ``talkface`` command.

``kill PID``, ``timeout``, ``docker stop`` and job schedulers end a process with SIGTERM, whose
default action kills it on the spot: an animation being encoded left its hidden temporary file
(``.out.XXXXXXXX.part.mp4``) in the output folder. Under :func:`terminate_as_interrupt` SIGTERM
raises :class:`Terminated` (a ``KeyboardInterrupt``) in the main thread instead, so that the
atomic writers remove their temporary files as they do on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["Terminated", "terminate_as_interrupt"]


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (only in the main thread; elsewhere a no-op).

    A command that installs its own SIGTERM handler (the server, uvicorn) replaces this one.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
