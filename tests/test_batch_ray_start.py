"""``talkface batch --ray local`` starting Ray: patience with a loaded machine, one line when Ray won't start.

No Ray node is started here (``ray.init`` is replaced by a recorder); the real start runs in
``tests/test_batch.py::test_ray_actors_render_and_a_killed_actor_is_restarted``.
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from talkface.batch import ray_backend
from talkface.errors import TalkfaceError

PORT_WAIT = ray_backend.PORT_WAIT_VARIABLE


class _Started(Exception):
    """Stands for a Ray that started (the fake has no actors to go on with)."""


class _FakeRay:
    """``is_initialized`` / ``init`` / ``shutdown`` of the ``ray`` module; ``init`` runs ``on_init``."""

    def __init__(self, on_init: Any) -> None:
        self.on_init, self.shutdowns, self.init_kwargs = on_init, 0, {}

    def is_initialized(self) -> bool:
        return False

    def init(self, **kwargs: Any) -> None:
        self.init_kwargs = kwargs
        self.on_init()

    def shutdown(self) -> None:
        self.shutdowns += 1


def _start(fake: _FakeRay, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(ray_backend, "_import_ray", lambda: fake)
    list(ray_backend.ray_results([], None, tmp_path, address="local", actors=1, retries=0, on_event=lambda _: None))


def test_a_local_ray_that_does_not_start_is_one_line_and_stopped(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'talkface[ray]'")

    def timeout() -> None:
        raise Exception("The current node timed out during startup. This could happen because some of\n"
                        "the raylet failed to startup or the GCS has become overloaded.")

    fake = _FakeRay(timeout)
    with pytest.raises(TalkfaceError) as caught:
        _start(fake, monkeypatch, tmp_path)
    message = str(caught.value)
    assert "\n" not in message and caught.value.__suppress_context__
    assert message.startswith("--ray local: Ray did not start on this machine (Exception: The current node timed out")
    assert fake.shutdowns == 1  # what did start is stopped


def test_a_local_ray_gets_four_times_rays_start_up_waits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    node = pytest.importorskip("ray._private.node")
    monkeypatch.delenv(PORT_WAIT, raising=False)
    seen: dict[str, Any] = {}

    def measure() -> None:
        # Ray's node module reads its clock 4 s of real time apart (a fake real clock: no timing, no load noise)
        with monkeypatch.context() as m:
            real = iter([1000.0, 1004.0])
            m.setattr(time, "monotonic", lambda: next(real))
            n0, n1 = node.time.monotonic(), node.time.monotonic()
        seen["rate"] = (n1 - n0) / 4.0
        seen["sleep"] = node.time.sleep is time.sleep
        seen["port_wait"] = os.environ.get(PORT_WAIT)
        raise _Started  # ray_results goes no further here

    fake = _FakeRay(measure)
    with pytest.raises(TalkfaceError):
        _start(fake, monkeypatch, tmp_path)
    assert seen["rate"] == pytest.approx(0.25)  # the 30 s raylet wait becomes 120 s
    assert seen["sleep"] and seen["port_wait"] == "120"
    assert fake.init_kwargs["include_dashboard"] is False
    # restored afterwards
    assert importlib.import_module("ray._private.node").time is time
    assert PORT_WAIT not in os.environ


def test_a_users_port_wait_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray._private.node")
    monkeypatch.setenv(PORT_WAIT, "7")
    seen = []
    ray_backend.start_local_ray(_FakeRay(lambda: seen.append(os.environ[PORT_WAIT])))
    assert seen == ["7"] and os.environ[PORT_WAIT] == "7"
