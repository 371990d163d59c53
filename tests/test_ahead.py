"""Items made ahead in a background thread (talkface.io.ahead): order, errors, early close, the bound."""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Iterator

import pytest
import torch

from talkface.io.ahead import made_ahead
from talkface.pipeline import one_torch_thread


def _ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "talkface-made-ahead"]


def _counting(n: int, made: list[int], closed: list[str]) -> Iterator[int]:
    """0..n-1, recording each item as it is made and the thread that closed it."""
    try:
        for i in range(n):
            made.append(i)
            yield i
    finally:
        closed.append(threading.current_thread().name)


def test_same_items_in_the_same_order() -> None:
    made: list[int] = []
    closed: list[str] = []
    assert list(made_ahead(_counting(500, made, closed), ahead=2)) == list(range(500))
    assert list(made_ahead(iter([]), ahead=1)) == []
    assert closed == ["talkface-made-ahead"]  # the generator ended in the producer thread
    assert not _ahead_threads()


def test_an_error_reaches_the_consumer_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("broken frame 3")

    got = []
    with pytest.raises(ValueError, match="broken frame 3"):
        for x in made_ahead(failing(), ahead=2):
            got.append(x)
    assert got == [1, 2]
    assert not _ahead_threads()


def test_a_keyboard_interrupt_in_the_source_is_raised_as_such() -> None:
    def interrupted() -> Iterator[int]:
        yield 1
        raise KeyboardInterrupt

    it = made_ahead(interrupted(), ahead=2)
    assert next(it) == 1
    with pytest.raises(KeyboardInterrupt):
        next(it)
    assert not _ahead_threads()


def test_closing_early_stops_and_joins_the_producer() -> None:
    made: list[int] = []
    closed: list[str] = []
    with made_ahead(_counting(10_000, made, closed), ahead=2) as it:
        assert [next(it), next(it)] == [0, 1]
    assert not _ahead_threads()
    assert closed == ["talkface-made-ahead"]
    assert len(made) <= 2 + 2 + 1  # taken + waiting + the one being put when it stopped
    with pytest.raises(StopIteration):
        next(it)
    it.close()  # closing twice is harmless


def test_an_error_in_the_consumer_closes_the_producer() -> None:
    made: list[int] = []
    closed: list[str] = []
    with pytest.raises(RuntimeError), made_ahead(_counting(10_000, made, closed), ahead=3) as it:
        for x in it:
            if x == 5:
                raise RuntimeError("encoder failed")
    assert not _ahead_threads()
    assert closed and len(made) <= 6 + 3 + 1


def test_a_dropped_iterator_stops_its_producer() -> None:
    made: list[int] = []
    closed: list[str] = []
    it = made_ahead(_counting(10_000, made, closed), ahead=2)
    next(it)
    del it
    gc.collect()
    for t in _ahead_threads():
        t.join(timeout=10)
    assert not _ahead_threads()
    assert closed


def test_at_most_ahead_items_wait() -> None:
    made: list[int] = []
    it = made_ahead(_counting(1000, made, []), ahead=3)
    try:
        assert next(it) == 0
        deadline = time.monotonic() + 10
        while len(made) < 1 + 3 + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # an unbounded producer would have made all 1000 by now
        assert len(made) == 1 + 3 + 1  # taken, waiting in the queue, made and waiting to be put
    finally:
        it.close()
    with pytest.raises(ValueError, match="at least 1"):
        made_ahead([1], ahead=0)


def test_the_context_is_entered_in_the_producer_thread() -> None:
    seen: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def marking() -> Iterator[None]:
        seen.append(("enter", threading.current_thread().name))
        yield
        seen.append(("exit", threading.current_thread().name))

    assert list(made_ahead(range(3), ahead=1, context=marking)) == [0, 1, 2]
    assert seen == [("enter", "talkface-made-ahead"), ("exit", "talkface-made-ahead")]


def test_one_torch_thread_sets_and_restores() -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        inside = list(made_ahead([0], ahead=1, context=one_torch_thread))
        assert inside == [0]
        with one_torch_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        seen = list(made_ahead((torch.get_num_threads() for _ in range(2)), ahead=1, context=one_torch_thread))
        assert seen == [1, 1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_one_torch_thread_leaves_other_threads_alone() -> None:
    """`serve --workers 2` runs two animations at once in one process: one job's renderer thread, inside
    `one_torch_thread`, must not take the other job's torch threads away while it runs (torch's thread count is
    per thread with its OpenMP backend, so the context only touches the thread that enters it)."""
    before = torch.get_num_threads()
    inside, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def renderer() -> None:
        with one_torch_thread():
            seen.append(torch.get_num_threads())
            inside.set()
            release.wait(10)

    try:
        torch.set_num_threads(2)
        worker = threading.Thread(target=renderer)
        worker.start()
        assert inside.wait(10)
        assert torch.get_num_threads() == 2  # while the other thread is inside
        release.set()
        worker.join(10)
        assert seen == [1]
        assert torch.get_num_threads() == 2
    finally:
        release.set()
        torch.set_num_threads(before)
