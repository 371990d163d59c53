"""``talkface batch --ray``: the rows run on Ray actors, each loading the models once.

Needs the optional extra (``pip install 'talkface[ray]'``). Each actor is a
:class:`talkface.batch.render.Renderer` in its own Ray worker process (``num_cpus=1``); the
driver hands each free actor one row at a time and records results as they come. Ray restarts
an actor whose process died (``max_restarts``) and runs the row it held again
(``max_task_retries``), both ``retries`` times; a row that still fails is recorded as an error,
and an actor that is gone for good is dropped (the run stops with an error only when none is left).

The actors read the inputs and write the videos themselves, so on a cluster the manifest's files
and the output folder must be on a file system every node sees, at the same path.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from talkface.batch.manifest import BatchJob
from talkface.batch.render import Renderer, result_record
from talkface.errors import TalkfaceError

__all__ = ["RayRenderer", "ray_results", "start_local_ray"]

#: Object store of a Ray started by ``--ray local`` (only small records pass through it).
LOCAL_OBJECT_STORE_BYTES = 128 * 2**20

#: How many times Ray's own start-up waits a local node gets: Ray waits a fixed 30 s for its raylet to
#: register, which a loaded machine (CPU-bound renders, trainings) overruns; 4x is 120 s.
LOCAL_START_PATIENCE = 4
#: Ray's variable for its wait on the GCS server's port, seconds (30 by default).
PORT_WAIT_VARIABLE = "RAY_gcs_server_port_wait_time_s"


class _PatientClock:
    """The ``time`` module with ``monotonic`` running ``1 / factor`` as fast (everything else unchanged)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def monotonic(self) -> float:
        return time.monotonic() / self.factor


@contextlib.contextmanager
def _patient_ray_start(patience: float) -> Iterator[None]:
    """While Ray starts a local node, let it wait ``patience`` times its fixed start-up timeouts.

    Ray has no option for the 30 s it gives the raylet to register ("The current node timed out during
    startup"; hard-coded in ``ray._private.node``, Ray 2.x, ray-project/ray#47087), so that module's clock
    runs ``patience`` times slower while ``ray.init`` runs; a node that starts at once is not slowed down.
    The GCS port wait, which has a variable (:data:`PORT_WAIT_VARIABLE`), gets the same, unless
    the user set it. Should a Ray release move that code, Ray starts with its own timeouts.
    """
    with contextlib.ExitStack() as stack:
        try:
            node: Any = importlib.import_module("ray._private.node")
        except ImportError:
            node = None
        if node is not None and getattr(node, "time", None) is time:
            node.time = _PatientClock(patience)
            stack.callback(setattr, node, "time", time)
        if PORT_WAIT_VARIABLE not in os.environ:
            os.environ[PORT_WAIT_VARIABLE] = str(round(30 * patience))
            stack.callback(os.environ.pop, PORT_WAIT_VARIABLE, None)
        yield


def start_local_ray(ray: Any, **init_kwargs: Any) -> None:
    """``ray.init(**init_kwargs)`` on this machine, patient with a loaded machine (see ``_patient_ray_start``).

    Raises:
        TalkfaceError: Ray did not start (one line naming what failed; Ray's own log has the rest).
    """
    try:
        with _patient_ray_start(LOCAL_START_PATIENCE):
            ray.init(**init_kwargs)
    except Exception as err:  # Ray raises plain Exception/RuntimeError/TimeoutError for a node that won't start
        with contextlib.suppress(Exception):  # best effort: stop what did start
            ray.shutdown()
        raise TalkfaceError(f"--ray local: Ray did not start on this machine ({type(err).__name__}: "
                            f"{' '.join(str(err).split())[:200]}); see Ray's logs under its temp dir "
                            "(/tmp/ray/session_latest/logs), or run without --ray") from None


class RayRenderer:
    """The actor: a :class:`Renderer` that lives in a Ray worker process."""

    def __init__(self, config: Any, out_dir: str) -> None:
        self.renderer = Renderer(config, out_dir)

    def render(self, job: BatchJob) -> dict[str, Any]:
        return self.renderer.render(job)

    def ping(self) -> str:
        return self.renderer.name


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise TalkfaceError("--ray needs Ray, an optional extra: pip install 'talkface[ray]'") from None
    return ray


def ray_results(jobs: list[BatchJob], config: Any, out_dir: Path, *, address: str, actors: int, retries: int,
                on_event: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    """Render ``jobs`` on ``actors`` Ray actors; yields one result record per row as rows finish.

    Args:
        address: ``"local"`` starts Ray on this machine (stopped at the end); ``"auto"`` or a cluster
            address joins a running cluster. When Ray is already initialised in this process, that
            instance is used as it is.
    """
    ray = _import_ray()
    from ray.exceptions import GetTimeoutError, RayActorError, RayError

    started = False
    if not ray.is_initialized():
        if address == "local":
            start_local_ray(ray, num_cpus=max(actors, os.cpu_count() or 1), include_dashboard=False,
                            object_store_memory=LOCAL_OBJECT_STORE_BYTES, log_to_driver=True)
        else:
            try:
                ray.init(address=address, log_to_driver=True)
            except (ConnectionError, ValueError, RuntimeError) as err:
                raise TalkfaceError(f"--ray {address}: cannot join the Ray cluster ({' '.join(str(err).split())[:200]})"
                                    "; 'local' starts Ray on this machine") from None
        started = True
    actor_class = ray.remote(num_cpus=1, max_restarts=retries, max_task_retries=retries)(RayRenderer)
    pool = [actor_class.remote(config, str(out_dir)) for _ in range(actors)]
    free = list(pool)
    pending = list(reversed(jobs))
    running: dict[Any, tuple[BatchJob, Any]] = {}
    try:
        while pending or running:
            if not free and not running:
                for job in reversed(pending):
                    yield result_record(job, "error", attempts=0,
                                        error=f"line {job.line}: not rendered: every Ray actor died")
                raise TalkfaceError("batch: every Ray actor died (see the Ray messages above)")
            while pending and free:
                job, actor = pending.pop(), free.pop()
                running[actor.render.remote(job)] = (job, actor)
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                job, actor = running.pop(ref)
                try:
                    record = ray.get(ref)
                except RayActorError as err:
                    record = result_record(job, "error", attempts=retries + 1,
                                           error=f"line {job.line}: the Ray actor died while rendering this row, "
                                           f"{retries + 1} time(s) ({type(err).__name__})")
                    try:
                        ray.get(actor.ping.remote(), timeout=600)
                    except (RayError, GetTimeoutError):
                        on_event("a Ray actor is gone for good; going on with the others")
                        actor = None
                except RayError as err:
                    record = result_record(job, "error", error=f"line {job.line}: Ray: {type(err).__name__}")
                if actor is not None:
                    free.append(actor)
                yield record
    finally:
        for actor in pool:
            with contextlib.suppress(Exception):  # best effort at shutdown
                ray.kill(actor)
        if started:
            ray.shutdown()
