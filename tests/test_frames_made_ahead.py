"""``talkface landmarks`` and ``animate-e2e`` hand the encoder frames made ahead in a thread of their own
(talkface.io.ahead.made_ahead, as ``talkface animate`` does): the same frames, in the same order, as when
they were made one by one in the encoder's thread."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest


class _Writer:
    """Stands in for ``write_frames``: records the frames, the thread each was made in and what handed them."""

    def __init__(self) -> None:
        self.runs: list[tuple[bool, list[str], list[np.ndarray]]] = []
        self.made_in: list[str] = []  # threads that made this run's frames (the patched drawing/pasting says)

    def __call__(self, path: Any, frames: Iterable[np.ndarray], fps: float, **_: Any) -> int:
        from talkface.io.ahead import Ahead

        got = [np.array(f, copy=True) for f in frames]
        self.runs.append((isinstance(frames, Ahead), list(self.made_in), got))
        self.made_in.clear()
        return len(got)


def _one_by_one(items: Iterable[np.ndarray], ahead: int = 2, context: Any = None
                ) -> contextlib.AbstractContextManager[Iterator[np.ndarray]]:
    """``made_ahead`` as it was not: the items made in the consumer's thread, when it asks for them."""
    return contextlib.nullcontext(iter(items))


def _same_runs(writer: _Writer) -> None:
    (ahead, made_ahead_in, frames), (plain, made_plain_in, reference) = writer.runs
    assert ahead and not plain
    assert set(made_ahead_in) == {"talkface-made-ahead"} and set(made_plain_in) == {threading.current_thread().name}
    assert len(frames) == len(reference) > 10
    for a, b in zip(frames, reference, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(frames[0], f) for f in frames[1:])  # the frames differ: order is checked


def test_landmarks_frames_are_made_ahead_and_unchanged(monkeypatch: pytest.MonkeyPatch, fixtures_dir: Path,
                                                      tmp_path: Path) -> None:
    import talkface.cli
    import talkface.face.draw
    import talkface.photo_video
    from talkface.cli import main
    from talkface.io.images import write_image
    from talkface.io.media import read_video

    frames, _ = read_video(fixtures_dir / "lbbc2a.mpg", max_frames=1)
    photo = tmp_path / "still.png"
    write_image(photo, frames[0])
    writer = _Writer()
    draw = talkface.face.draw.draw_landmarks

    def drawing(*args: Any, **kwargs: Any) -> np.ndarray:
        writer.made_in.append(threading.current_thread().name)
        return draw(*args, **kwargs)

    monkeypatch.setattr(talkface.face.draw, "draw_landmarks", drawing)
    monkeypatch.setattr(talkface.photo_video, "write_frames", writer)
    command = ["landmarks", str(photo), str(fixtures_dir / "bbaf2n.mpg"), "-o", str(tmp_path / "lm.mp4"),
               "--threads", "1", "--no-blink", "--seed", "3", "--on-photo"]
    assert main(command) == 0
    monkeypatch.setattr(talkface.cli, "made_ahead", _one_by_one)
    assert main(command) == 0
    _same_runs(writer)


def test_animate_e2e_frames_are_made_ahead_and_unchanged(monkeypatch: pytest.MonkeyPatch, grid_mpg: Path,
                                                         grid_mpg_female: Path, tmp_path: Path) -> None:
    import talkface.e2e.generate as generate
    import talkface.face.align as align
    from talkface.io.images import write_image
    from talkface.io.media import read_video

    frames, _ = read_video(grid_mpg_female, max_frames=1)
    photo = tmp_path / "photo.png"
    write_image(photo, frames[0])
    writer = _Writer()
    paste = align.paste_back

    def pasting(*args: Any, **kwargs: Any) -> np.ndarray:
        writer.made_in.append(threading.current_thread().name)
        return paste(*args, **kwargs)

    monkeypatch.setattr(align, "paste_back", pasting)
    monkeypatch.setattr(generate, "write_frames", writer)
    assert generate.animate_e2e(photo, grid_mpg, tmp_path / "a.mp4", seed=4, max_duration_s=1) == 25
    monkeypatch.setattr(generate, "made_ahead", _one_by_one)
    assert generate.animate_e2e(photo, grid_mpg, tmp_path / "b.mp4", seed=4, max_duration_s=1) == 25
    _same_runs(writer)
