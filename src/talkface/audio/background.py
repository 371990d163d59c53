"""Background threads that the process waits for (briefly) before it exits.

The speech encoder loads and runs in daemon threads beside the face stage
(:mod:`talkface.audio.prefetch`, :func:`talkface.audio.whisper.preload_whisper_model`). When the
command then fails early (a photo with no face, a truncated JPEG), Python used to exit while
such a thread was still inside CTranslate2's native code, and the process died with a
segmentation fault or ``terminate called without an active exception`` after printing its
one-line error (exit status 139/134 instead of 2). Threads started with :func:`start_thread` are
asked to stop (:func:`stopping`, checked between units of work) and joined at exit instead.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable

__all__ = ["JOIN_TIMEOUT_S", "start_thread", "stopping"]

#: Longest wait at exit for one thread (a unit of work, e.g. one 30-s Whisper window, takes < 1 s).
JOIN_TIMEOUT_S = 30.0

_STOP = threading.Event()
_THREADS: set[threading.Thread] = set()
_LOCK = threading.Lock()


def stopping() -> bool:
    """Whether the process is exiting: long background work should stop at its next step."""
    return _STOP.is_set()


def start_thread(target: Callable[[], None], name: str) -> threading.Thread:
    """Run ``target`` in a daemon thread that the process joins before it exits.

    Args:
        target: the work; it must not raise (hand errors to a Future) and should return soon
            once :func:`stopping` is true.
        name: the thread's name.
    """

    def run() -> None:
        try:
            target()
        finally:
            with _LOCK:
                _THREADS.discard(threading.current_thread())

    thread = threading.Thread(target=run, name=name, daemon=True)
    with _LOCK:
        _THREADS.add(thread)
    thread.start()
    return thread


@atexit.register
def _join_at_exit() -> None:
    _STOP.set()
    with _LOCK:
        threads = list(_THREADS)
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
