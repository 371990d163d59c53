"""Jobs of ``talkface serve``: the job store, a bounded pool of worker threads, and cleanup.

Each job owns one folder ``<work_dir>/<job id>/`` holding the two uploads under names the
server chose (``face.<ext>``, ``speech.<ext>``) until the job ends, then only ``video.mp4``
(a failed job's folder is removed at once). A job's folder is
assembled under a hidden staging name and renamed into place only when both uploads are
complete and checked, so no half-written upload is ever visible; the video is written by the
pipeline atomically. Finished jobs (done, failed or cancelled) are removed with their folder
``ttl_s`` seconds after they finish. The job store lives in memory, so at start-up every job
folder left in the work folder by an earlier server (unreachable now, possibly half-written if
it was killed) is removed: a work folder belongs to one server at a time.

Workers are threads, each holding its own animator (built once by the factory when the worker
starts, and reused; the pipeline's :class:`talkface.pipeline.Animator` is not thread-safe, so no
two workers share one). The queue is bounded: :meth:`JobManager.submit` raises
:class:`QueueFull` instead of letting work pile up.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import queue
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from talkface.animate_config import animate_default
from talkface.config_checks import check_value
from talkface.errors import InputError

log = logging.getLogger("talkface.serve")

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]

#: Statuses after which a job never changes again.
FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled"})

#: Share of the whole job each pipeline stage takes, in order (for one overall progress figure);
#: the pipeline encodes while it generates textures, and reports ``"done"`` at the end.
STAGE_WEIGHTS: dict[str, float] = {"audio": 0.05, "face": 0.05, "motion": 0.10, "texture": 0.75, "encode": 0.05}

#: Job ids are 32 lower-case hex digits (128 random bits).
JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")

#: Default time a finished job and its video are kept, seconds (:attr:`talkface.serve.ServeConfig.job_ttl_s`).
DEFAULT_JOB_TTL_S = 3600.0

#: Name of the video inside a job's folder.
VIDEO_NAME = "video.mp4"

_STAGING_RE = re.compile(r"^\.([0-9a-f]{32})\.incoming$")

ProgressFn = Callable[[str, float], None]


class AnimatorLike(Protocol):
    """What a worker needs of an animator: :meth:`talkface.pipeline.Animator.animate`."""

    def animate(
        self,
        face: str | os.PathLike[str],
        speech: str | os.PathLike[str],
        output: str | os.PathLike[str],
        *,
        blink_rate: float | None = ...,
        seed: int | None = None,
        size: int | None = None,
        progress: ProgressFn | None = None,
        motion_scale: float | None = None,
        head_motion: float | None = None,
    ) -> Any:
        """Animate ``face`` with ``speech`` into ``output`` (atomically); bad input raises InputError."""
        ...


#: Builds one animator (called once in each worker thread).
AnimatorFactory = Callable[[], AnimatorLike]


class QueueFull(Exception):
    """The job queue is at its limit; the client should retry later."""


class JobCancelled(Exception):
    """The server is stopping: the running job is abandoned at its next progress report."""


class ModelLoadError(Exception):
    """The animator factory failed: the server cannot animate anything (its message is one line)."""


@dataclass(frozen=True)
class JobOptions:
    """Per-job choices: blinks per second (``None`` = the model's natural rate), output size, seed, and
    the gain on the speech motion (1 = as predicted) and the strength of the head motion (0 = still,
    1 = natural; see :class:`talkface.animate_config.AnimateConfig`). The defaults are AnimateConfig's (written once,
    there; the server imports no torch for them)."""

    blink_rate: float | None = animate_default("blink_rate")
    size: int = animate_default("size")
    seed: int = animate_default("seed")
    motion_scale: float = animate_default("motion_scale")
    head_motion: float = animate_default("head_motion")

    def __post_init__(self) -> None:
        for name in ("blink_rate", "size", "seed", "motion_scale", "head_motion"):
            value = getattr(self, name)
            if value is not None:
                check_value(name, value)


@dataclass
class Job:
    """One animation request and everything known about its progress.

    ``progress`` runs 0..1 over the whole job; ``stage``/``stage_progress`` are the pipeline's
    own report. ``error`` is one line naming the form field at fault (``"face: no face found"``).
    Times are seconds since the epoch (``None`` until they happen).
    """

    id: str
    dir: Path
    face: Path
    speech: Path
    options: JobOptions
    created_at: float
    status: JobStatus = "queued"
    stage: str | None = None
    stage_progress: float = 0.0
    progress: float = 0.0
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> Path:
        """Where the job's video is (once ``status == "done"``)."""
        return self.dir / VIDEO_NAME


def new_job_id() -> str:
    """A fresh random job id (32 hex digits)."""
    return secrets.token_hex(16)


def overall_progress(stage: str, fraction: float) -> float | None:
    """Whole-job progress 0..1 for the pipeline being ``fraction`` through ``stage`` (None: unknown stage)."""
    if stage == "done":
        return 1.0
    if stage not in STAGE_WEIGHTS:
        return None
    done = 0.0
    for name, weight in STAGE_WEIGHTS.items():
        if name == stage:
            return min(1.0, done + weight * min(max(fraction, 0.0), 1.0))
        done += weight
    return None  # pragma: no cover


def user_error(err: BaseException, job: Job) -> str:
    """One-line message for a failed job, naming the form field and never a server path."""
    if isinstance(err, ModelLoadError):
        message = str(err)
    elif isinstance(err, InputError):
        where = ""
        if err.path is not None:
            p = os.path.abspath(err.path)
            if p == os.path.abspath(job.face):
                where = "face: "
            elif p == os.path.abspath(job.speech):
                where = "speech: "
        message = where + err.problem
    else:
        message = f"internal error while animating ({type(err).__name__}); the server log has the details"
    message = message.replace(str(job.dir), "<job>")
    return " ".join(message.split())


class JobManager:
    """Job store + bounded worker pool + cleanup.

    Args:
        work_dir: folder holding one sub-folder per job (created if missing).
        factory: builds an animator; called once in each worker thread, when it starts.
        workers: worker threads (jobs run at once).
        max_queued: jobs waiting beyond those running before :meth:`submit` refuses with :class:`QueueFull`.
        ttl_s: seconds a finished job (and its files) is kept.
        cleanup_interval_s: how often the cleanup thread looks for expired jobs.
        clock: time source (seconds since the epoch); tests pass a fake.
    """

    def __init__(
        self,
        work_dir: str | os.PathLike[str],
        factory: AnimatorFactory,
        *,
        workers: int = 1,
        max_queued: int = 32,
        ttl_s: float = DEFAULT_JOB_TTL_S,
        cleanup_interval_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if max_queued < 1:
            raise ValueError(f"max_queued must be >= 1, got {max_queued}")
        self.work_dir = Path(work_dir)
        self.factory = factory
        self.workers = workers
        self.max_queued = max_queued
        self.ttl_s = ttl_s
        self.cleanup_interval_s = cleanup_interval_s
        self.clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._queued = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ready = 0
        self._load_error: str | None = None
        self._started = False
        #: worker threads still running after the last :meth:`stop` (e.g. busy loading models)
        self.stuck_threads = 0

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Create the work folder, remove stale leftovers, start the workers and the cleanup thread."""
        if self._started:
            return
        self._started = True
        self._stop.clear()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.cleanup(leftovers_age_s=-math.inf)  # whatever their age
        for i in range(self.workers):
            t = threading.Thread(target=self._worker, name=f"talkface-serve-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._janitor, name="talkface-serve-cleanup", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs, cancel the queued ones, let workers finish the job in hand (up to ``timeout`` s)."""
        if not self._started:
            return
        self._stop.set()
        with self._lock:
            queued = [j for j in self._jobs.values() if j.status == "queued"]
            for job in queued:
                job.status, job.finished_at, job.error = "cancelled", self.clock(), "the server stopped"
            self._queued = 0
        for job in queued:
            shutil.rmtree(job.dir, ignore_errors=True)
        for _ in range(self.workers):
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self.stuck_threads = sum(t.is_alive() for t in self._threads)
        if self.stuck_threads:
            log.warning("%d worker thread(s) did not stop within %g s", self.stuck_threads, timeout)
        self._threads.clear()
        self._started = False

    # ---------------------------------------------------------------- submitting

    def has_room(self) -> bool:
        """Whether :meth:`submit` would accept one more job now."""
        with self._lock:
            return self._started and not self._stop.is_set() and self._queued < self.max_queued

    def staging_dir(self, job_id: str) -> Path:
        """Create and return the hidden folder in which a job's uploads are assembled."""
        if not JOB_ID_RE.match(job_id):
            raise ValueError(f"bad job id {job_id!r}")
        path = self.work_dir / f".{job_id}.incoming"
        path.mkdir(parents=True)
        return path

    def submit(self, job_id: str, staging: Path, face_name: str, speech_name: str, options: JobOptions) -> Job:
        """Move a completed staging folder into place and queue its job.

        Args:
            job_id: from :func:`new_job_id` (the one :meth:`staging_dir` was called with).
            staging: the folder from :meth:`staging_dir`, holding the two checked uploads.
            face_name, speech_name: the uploads' file names inside it (chosen by the server).
            options: the job's choices.

        Raises:
            QueueFull: the queue is at its limit (the staging folder is left for the caller to remove).
        """
        with self._lock:
            if not self._started or self._stop.is_set() or self._queued >= self.max_queued:
                raise QueueFull(f"server busy ({self._queued} jobs waiting); retry later")
            final = self.work_dir / job_id
            os.replace(staging, final)
            job = Job(id=job_id, dir=final, face=final / face_name, speech=final / speech_name,
                      options=options, created_at=self.clock())
            self._jobs[job_id] = job
            self._queued += 1
        self._queue.put(job_id)
        log.info("job %s queued (size %d, blink rate %s, motion scale %g, head motion %g)", job_id, options.size,
                 options.blink_rate, options.motion_scale, options.head_motion)
        return job

    # ---------------------------------------------------------------- reading

    def get(self, job_id: str) -> Job | None:
        """A snapshot (copy) of a job, or ``None`` when unknown or expired."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else dataclasses.replace(job, result=dict(job.result))

    def queue_position(self, job_id: str) -> int | None:
        """How many queued jobs are ahead of this one (``None`` unless it is queued)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status != "queued":
                return None
            return sum(1 for j in self._jobs.values() if j.status == "queued" and j.created_at < job.created_at)

    def stats(self) -> dict[str, Any]:
        """Counts for a health check: workers, ready workers, jobs by status, load error if any."""
        with self._lock:
            counts: dict[str, int] = {}
            for j in self._jobs.values():
                counts[j.status] = counts.get(j.status, 0) + 1
            return {"workers": self.workers, "ready_workers": self._ready, "max_queued": self.max_queued,
                    "jobs": counts, "load_error": self._load_error}

    # ---------------------------------------------------------------- removing

    def delete(self, job_id: str) -> bool:
        """Remove a job that is not running (a queued one is cancelled). False if running or unknown."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status == "running":
                return False
            if job.status == "queued":
                job.status = "cancelled"
                self._queued -= 1
            del self._jobs[job_id]
        shutil.rmtree(job.dir, ignore_errors=True)
        return True

    def cleanup(self, now: float | None = None, leftovers_age_s: float | None = None) -> int:
        """Remove jobs finished more than ``ttl_s`` ago, and stray folders in the work folder.

        A job-like folder that belongs to no known job (an earlier server's, or a staging
        folder whose request died) is removed once it is ``leftovers_age_s`` old (default
        ``ttl_s``; :meth:`start` removes them all). Other files and folders are never touched.
        Returns the number of folders removed.
        """
        now = self.clock() if now is None else now
        leftovers_age_s = self.ttl_s if leftovers_age_s is None else leftovers_age_s
        expired: list[Job] = []
        with self._lock:
            for job in list(self._jobs.values()):
                if job.status in FINISHED and job.finished_at is not None and now - job.finished_at > self.ttl_s:
                    expired.append(self._jobs.pop(job.id))
            known = set(self._jobs)
        removed = 0
        for job in expired:
            shutil.rmtree(job.dir, ignore_errors=True)
            removed += 1
            log.info("job %s expired and removed", job.id)
        try:
            entries = list(os.scandir(self.work_dir))
        except OSError:
            return removed
        for entry in entries:
            m = JOB_ID_RE.match(entry.name) or _STAGING_RE.match(entry.name)
            if m is None or (m.groups() and m.group(1) in known) or entry.name in known:
                continue
            try:
                if not entry.is_dir(follow_symlinks=False) or now - entry.stat().st_mtime < leftovers_age_s:
                    continue
            except OSError:
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
        return removed

    # ---------------------------------------------------------------- threads

    def _janitor(self) -> None:
        while not self._stop.wait(self.cleanup_interval_s):
            try:
                self.cleanup()
            except Exception:  # cleanup must never take the server down
                log.exception("cleanup failed")

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                for k, v in changes.items():
                    setattr(job, k, v)

    def _progress_fn(self, job_id: str) -> ProgressFn:
        def report(stage: str, fraction: float) -> None:
            if self._stop.is_set():  # shutting down (Ctrl-C, SIGTERM): stop the job within one chunk of frames
                raise JobCancelled("the server stopped")
            with self._lock:
                job = self._jobs.get(job_id)
                if job is None:
                    return
                try:
                    frac = min(max(float(fraction), 0.0), 1.0)
                except (TypeError, ValueError):
                    frac = 0.0
                job.stage, job.stage_progress = str(stage), frac
                overall = overall_progress(str(stage), frac)
                if overall is not None:
                    job.progress = max(job.progress, min(overall, 0.99))

        return report

    def _worker(self) -> None:
        loaded: list[AnimatorLike] = []

        def animator() -> AnimatorLike:
            if not loaded:  # a failed load is tried again for the next job
                try:
                    loaded.append(self.factory())
                except Exception as err:
                    reason = " ".join(str(err).split()) or type(err).__name__
                    raise ModelLoadError(f"the server could not load its models ({reason})") from err
            return loaded[0]

        try:
            animator()
            with self._lock:
                self._ready += 1
        except ModelLoadError as err:
            log.exception("could not load the models")
            with self._lock:
                self._load_error = str(err)
        while True:
            job_id = self._queue.get()
            if job_id is None or self._stop.is_set():
                return
            with self._lock:
                job = self._jobs.get(job_id)
                if job is None or job.status != "queued":
                    continue  # cancelled or deleted while waiting
                self._queued -= 1
                job.status, job.started_at = "running", self.clock()
                snapshot = dataclasses.replace(job)
            self._run(snapshot, animator)

    def _run(self, job: Job, animator: Callable[[], AnimatorLike]) -> None:
        t0 = time.monotonic()
        try:
            result = animator().animate(job.face, job.speech, job.output, blink_rate=job.options.blink_rate,
                                        seed=job.options.seed, size=job.options.size,
                                        motion_scale=job.options.motion_scale, head_motion=job.options.head_motion,
                                        progress=self._progress_fn(job.id))
            if not job.output.is_file():
                raise RuntimeError("the animator wrote no video")
        except JobCancelled:
            log.info("job %s cancelled: the server is stopping", job.id)
            shutil.rmtree(job.dir, ignore_errors=True)  # before the status: a finished job has no folder left
            self._update(job.id, status="cancelled", error="the server stopped", finished_at=self.clock())
            return
        except Exception as err:
            if not isinstance(err, InputError):
                log.exception("job %s failed", job.id)
            message = user_error(err, job)
            log.info("job %s failed: %s", job.id, message)
            shutil.rmtree(job.dir, ignore_errors=True)  # nothing of a failed job is kept, before it reads failed
            self._update(job.id, status="failed", error=message, finished_at=self.clock())
            return
        info: dict[str, Any] = {"seconds": round(time.monotonic() - t0, 3),
                                "bytes": job.output.stat().st_size}
        for name in ("frames", "fps", "duration_s"):
            value = getattr(result, name, None)
            if isinstance(value, (int, float)):
                info[name] = value
        for upload in (job.face, job.speech):  # only the video is kept
            upload.unlink(missing_ok=True)
        self._update(job.id, status="done", progress=1.0, result=info, finished_at=self.clock())
        log.info("job %s done in %.1f s", job.id, info["seconds"])
