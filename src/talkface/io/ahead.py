"""Items made ahead in a background thread, a few at a time, while the consumer works on the last one.

``talkface animate`` renders a frame, then encodes it: one after the other, the renderer (NumPy, OpenCV,
the shading net) and the H.264 encoder each left a core of the 2-core machine idle half the time. With
:func:`made_ahead` the renderer runs in its own thread beside the encoder (both spend their time in C
code that releases the GIL): at 1920x1080, 19.2 -> 24.5 wall frames/s end to end in an earlier attempt
(BENCHMARKS.md, "Frames made ahead" for this one's numbers). The queue between them is bounded, so
memory stays flat in the video's length: at most ``ahead`` items wait, plus the one being made and the
one being consumed.

The producer thread owns the source iterator: it advances it, closes it (so a generator's ``finally``
blocks run in the thread that ran its body) and re-raises nothing itself: an exception it meets,
``KeyboardInterrupt`` included, is handed to the consumer and raised there, with its traceback. When the
consumer stops early (an encoder error, Ctrl-C, ``close()``), the producer is told to stop, finishes the
item it is making and is joined, so no thread outlives the iterator.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

__all__ = ["FRAMES_AHEAD", "Ahead", "made_ahead"]

T = TypeVar("T")

#: video frames that may be ready before the encoder takes them (``talkface animate``, ``landmarks``,
#: ``animate-e2e``): 2 keeps both busy (a frame's render and encode times vary) and memory flat (a 1080p
#: frame is 6 MB)
FRAMES_AHEAD = 2

_ITEM, _DONE, _ERROR = 0, 1, 2
#: how often a producer waiting on a full queue checks whether it should stop, seconds
_POLL_S = 0.1


def _put(out: queue.Queue[tuple[int, Any]], stop: threading.Event, entry: tuple[int, Any]) -> bool:
    """Put ``entry`` into ``out``, waiting while it is full; False (not put) once ``stop`` is set."""
    while not stop.is_set():
        try:
            out.put(entry, timeout=_POLL_S)  # blocks while ``ahead`` items wait: the bound on memory
            return True
        except queue.Full:
            continue
    return False


def _produce(source: Iterable[Any], out: queue.Queue[tuple[int, Any]], stop: threading.Event,
             context: Callable[[], AbstractContextManager[object]] | None) -> None:
    """Thread body: items of ``source`` into ``out`` until it ends, fails or ``stop`` is set.

    It holds no reference to the :class:`Ahead` that started it, so a consumer dropped without ``close()``
    is still collected (and its ``__del__`` stops this thread).
    """
    try:
        with context() if context is not None else contextlib.nullcontext():
            iterator = iter(source)
            try:
                while not stop.is_set():
                    try:
                        item = next(iterator)
                    except StopIteration:
                        break
                    if not _put(out, stop, (_ITEM, item)):
                        break
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        _put(out, stop, (_DONE, None))
    except BaseException as err:  # noqa: BLE001 - handed to the consumer, which raises it
        _put(out, stop, (_ERROR, err))


class Ahead(Iterator[T], Generic[T]):
    """The iterator :func:`made_ahead` returns; also a context manager that closes it.

    Attributes:
        waited_s: seconds the consumer spent waiting for items (the rest of its time was its own work).
    """

    def __init__(self, source: Iterable[T], ahead: int,
                 context: Callable[[], AbstractContextManager[object]] | None = None) -> None:
        self._stop = threading.Event()
        if ahead < 1:
            raise ValueError(f"ahead must be at least 1, got {ahead}")
        self.waited_s = 0.0
        self._queue: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=ahead)
        self._finished = False
        # daemon: a consumer killed outright (os._exit aside, never without close()) cannot hang the exit
        self._thread = threading.Thread(target=_produce, args=(source, self._queue, self._stop, context),
                                        name="talkface-made-ahead", daemon=True)
        self._thread.start()

    def __iter__(self) -> Ahead[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        t = time.perf_counter()
        kind, value = self._queue.get()
        self.waited_s += time.perf_counter() - t
        if kind == _ITEM:
            return value
        self._finished = True
        self._thread.join()
        if kind == _ERROR:
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop the producer (it finishes the item it is making) and join it; items not taken are dropped."""
        if not self._thread.is_alive() and self._finished:
            return
        self._finished = True
        self._stop.set()  # a producer waiting on the full queue sees it within _POLL_S
        self._thread.join()
        with contextlib.suppress(queue.Empty):  # items not taken: dropped now, not with the iterator
            while True:
                self._queue.get_nowait()

    def __enter__(self) -> Ahead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # dropped without close(): the producer stops after its current item
        self._stop.set()


def made_ahead(items: Iterable[T], ahead: int = FRAMES_AHEAD,
               context: Callable[[], AbstractContextManager[object]] | None = None) -> Ahead[T]:
    """``items`` made in a background thread, at most ``ahead`` of them waiting: same items, same order.

    Args:
        items: any iterable (a generator is advanced and closed in the background thread only).
        ahead: items that may wait in the queue (memory: ``ahead`` + 2 items at most).
        context: entered in the background thread around the whole iteration (e.g. fewer torch threads
            there; None: none).

    Returns:
        An :class:`Ahead` iterator. Close it (``with made_ahead(...) as it:`` or ``close()``) when it may
        not be consumed to the end, so the thread stops at once.
    """
    return Ahead(items, ahead, context)
