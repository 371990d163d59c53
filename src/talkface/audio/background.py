"""Background threads that the process waits for (briefly) before it exits.

The speech encoder loads and runs in daemon threads beside the face stage
(:mod:`talkface.audio.prefetch`, :func:`talkface.audio.whisper.preload_whisper_model`). When the
command then fails early (a photo with no face, a truncated JPEG), Python used to exit while
such a thread was still inside CTranslate2's native code, and the process died with a
segmentation fault or ``terminate called without an active exception`` after printing its
one-line error (exit status 139/134 instead of 2). Threads started with :func:`start_thread` are
asked to stop (:func:`stopping`, checked between units of work) and joined at exit instead.

After Ctrl-C or SIGTERM (:func:`exit_promptly`, called by the ``talkface`` command once it has
cleaned up and printed its one line) the wait at exit is short: a unit of work under load (a
10-s hama piece, a batch of Whisper windows) took seconds, and Ctrl-C took 5-17 s to end the
process while the speech features were still being computed. If a thread is still busy after
:data:`INTERRUPT_JOIN_S`, the process ends at once with ``os._exit`` (no interpreter or C++
teardown runs under the thread, so none of the crashes above; the output's temporary file is
already gone by then).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["INTERRUPT_JOIN_S", "JOIN_TIMEOUT_S", "exit_promptly", "start_thread", "stopping"]

#: Longest wait at exit for one thread (a unit of work, e.g. one 30-s Whisper window, takes < 1 s).
JOIN_TIMEOUT_S = 30.0

#: Longest wait at exit for all threads together after :func:`exit_promptly` (Ctrl-C, SIGTERM).
INTERRUPT_JOIN_S = 1.0

_STOP = threading.Event()
_THREADS: set[threading.Thread] = set()
_LOCK = threading.Lock()
_EXIT_STATUS: list[int] = []  # set by exit_promptly: the status to end with if a thread is still busy


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


def exit_promptly(status: int) -> None:
    """The process is ending on an interrupt: at exit, wait at most :data:`INTERRUPT_JOIN_S` for
    the background threads, then end with ``status`` at once if one is still busy.

    Nothing changes before exit (a caller that goes on, e.g. ``main()`` run in a notebook, keeps
    working); call it where an interrupt ends the command, after its cleanup.

    Args:
        status: the exit status (130 for Ctrl-C, 143 for SIGTERM).
    """
    _EXIT_STATUS[:] = [status]


@atexit.register
def _join_at_exit() -> None:
    _STOP.set()
    with _LOCK:
        threads = list(_THREADS)
    if not _EXIT_STATUS:
        for thread in threads:
            thread.join(JOIN_TIMEOUT_S)
        return
    deadline = time.monotonic() + INTERRUPT_JOIN_S
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):  # inside native code that cannot be stopped
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):  # closed or replaced
                stream.flush()
        os._exit(_EXIT_STATUS[0])
