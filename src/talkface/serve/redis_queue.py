"""Jobs of ``talkface serve --queue redis://...`` kept in Redis, and ``talkface worker`` that runs them anywhere.

The in-process queue (:class:`talkface.serve.jobs.JobManager`) stays the default; with ``--queue``
the server keeps its jobs in a Redis database instead (:class:`RedisJobManager`) and runs no
models itself: ``talkface worker`` processes (:class:`RedisWorker`), on this machine or others,
take the jobs. The jobs' files (uploads, then the video) live in a folder that the server and
every worker see (``--work-dir``, e.g. an NFS mount; each may mount it at its own path): the
server writes ``<work dir>/<job id>/face.*, speech.*``, a worker writes ``video.mp4`` beside them,
the server sends it.

Redis keys (``PREFIX`` = ``talkface`` by default):

``PREFIX:job:<id>`` (hash)
    the job: status, options, file names, progress, error, result, times, the worker that runs
    it, how often a worker died holding it (``lost``); expires ``ttl_s`` after the job ends.
``PREFIX:queue`` (list)
    ids of queued jobs (new ones pushed on the left, workers take from the right: oldest first).
``PREFIX:processing:<worker>`` (list)
    the job a worker holds: it moves the id there from the queue in one step (``BLMOVE``), so a
    job is always in exactly one list (or finished).
``PREFIX:worker:<worker>`` (string with a time to live)
    the worker's heartbeat, renewed every ``lease_s / 4`` seconds, expiring after ``lease_s``.
``PREFIX:workers`` (set)
    the workers seen.

A worker killed mid-job stops renewing its heartbeat. Any server or worker that looks next
(every ``lease_s / 4`` seconds) finds the heartbeat gone and, in one atomic step (a Lua script),
puts the job back at the head of the queue, or, once a worker has died holding it more than
``retries`` times, marks it ``failed`` with an error saying so. A job is never lost: the id is
in the queue, in one worker's processing list, or the job is finished.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from talkface.errors import InputError, TalkfaceError
from talkface.serve.config import ServeConfig, pipeline_factory
from talkface.serve.jobs import (
    DEFAULT_JOB_TTL_S,
    FINISHED,
    JOB_ID_RE,
    AnimatorFactory,
    AnimatorLike,
    Job,
    JobManager,
    JobOptions,
    QueueFull,
    overall_progress,
    user_error,
)

log = logging.getLogger("talkface.serve")

__all__ = ["RedisJobManager", "RedisKeys", "RedisWorker", "connect"]

#: Error of a job given up after its workers died.
LOST_ERROR = ("the worker animating this job stopped before finishing (killed or crashed) {n} time(s); "
              "it was not tried again")

# KEYS: workers set, queue. ARGV: prefix, now. Returns the number of dead workers cleared.
_REAP = """
local cleared = 0
for _, wid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. ':worker:' .. wid) == 0 then
    local plist = ARGV[1] .. ':processing:' .. wid
    while true do
      local id = redis.call('RPOP', plist)
      if not id then break end
      local jkey = ARGV[1] .. ':job:' .. id
      local status = redis.call('HGET', jkey, 'status')
      if status == 'queued' or status == 'running' then
        local lost = redis.call('HINCRBY', jkey, 'lost', 1)
        local retries = tonumber(redis.call('HGET', jkey, 'retries') or '1')
        if lost > retries then
          local msg = string.gsub(ARGV[3], '{n}', tostring(lost))
          redis.call('HSET', jkey, 'status', 'failed', 'error', msg, 'finished_at', ARGV[2])
          local ttl = tonumber(redis.call('HGET', jkey, 'ttl_s') or '3600')
          redis.call('EXPIRE', jkey, math.max(1, math.ceil(ttl)))
        else
          redis.call('HSET', jkey, 'status', 'queued', 'stage', '', 'stage_progress', '0', 'progress', '0',
                     'worker', '')
          redis.call('RPUSH', KEYS[2], id)
        end
      end
    end
    redis.call('SREM', KEYS[1], wid)
    cleared = cleared + 1
  end
end
return cleared
"""


class RedisKeys:
    """Key names under a prefix."""

    def __init__(self, prefix: str = "talkface") -> None:
        self.prefix = prefix
        self.queue = f"{prefix}:queue"
        self.workers = f"{prefix}:workers"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def processing(self, worker: str) -> str:
        return f"{self.prefix}:processing:{worker}"

    def heartbeat(self, worker: str) -> str:
        return f"{self.prefix}:worker:{worker}"


def connect(url: str) -> Any:
    """A Redis client for ``redis://HOST:PORT/DB`` that answers (one-line error otherwise)."""
    try:
        import redis
    except ImportError:
        raise TalkfaceError("--queue needs the Redis client, an optional extra: "
                            "pip install 'talkface[redis]'") from None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise TalkfaceError(f"--queue {url}: expected redis://HOST:PORT/DB")
    try:
        client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=5, health_check_interval=30)
        client.ping()
    except (redis.RedisError, ValueError) as err:
        raise TalkfaceError(f"--queue {url}: cannot reach Redis ({' '.join(str(err).split())[:160]})") from None
    return client


def _num(value: str | None) -> float | None:
    return None if value is None or value == "" else float(value)


def _job_from_hash(work_dir: Path, job_id: str, h: dict[str, str]) -> Job:
    folder = work_dir / job_id
    options = json.loads(h.get("options", "{}"))
    result = json.loads(h["result"]) if h.get("result") else {}
    return Job(
        id=job_id, dir=folder, face=folder / h.get("face", "face"), speech=folder / h.get("speech", "speech"),
        options=JobOptions(**options), created_at=float(h.get("created_at", 0.0)),
        status=h.get("status", "queued"),  # type: ignore[arg-type]
        stage=h.get("stage") or None, stage_progress=float(h.get("stage_progress") or 0.0),
        progress=float(h.get("progress") or 0.0), error=h.get("error") or None,
        started_at=_num(h.get("started_at")), finished_at=_num(h.get("finished_at")), result=result,
    )


def reap(client: Any, keys: RedisKeys, now: float | None = None) -> int:
    """Requeue (or fail) the jobs of workers whose heartbeat expired; returns the number of dead workers cleared."""
    return int(client.eval(_REAP, 2, keys.workers, keys.queue, keys.prefix, repr(now or time.time()), LOST_ERROR))


class RedisJobManager(JobManager):
    """The server's side: a :class:`JobManager` whose jobs live in Redis and run on ``talkface worker``.

    Args:
        url: ``redis://HOST:PORT/DB``.
        work_dir: the folder shared with the workers.
        max_queued: jobs allowed to wait before :meth:`submit` refuses.
        ttl_s: seconds a finished job (and its video) is kept.
        cleanup_interval_s: how often expired jobs' folders are removed.
        retries: times a job is queued again after the worker holding it died.
        lease_s: seconds after its last heartbeat a worker counts as dead.
        prefix: Redis key prefix (one per server).
    """

    def __init__(self, url: str, work_dir: str | os.PathLike[str], *, max_queued: int = 32,
                 ttl_s: float = DEFAULT_JOB_TTL_S, cleanup_interval_s: float = 60.0, retries: int = 1,
                 lease_s: float = 30.0, prefix: str = "talkface", clock: Callable[[], float] = time.time) -> None:
        super().__init__(work_dir, _no_factory, workers=1, max_queued=max_queued, ttl_s=ttl_s,
                         cleanup_interval_s=cleanup_interval_s, clock=clock)
        self.url = url
        self.retries = retries
        self.lease_s = lease_s
        self.keys = RedisKeys(prefix)
        self.redis: Any = None
        self._janitor_thread: threading.Thread | None = None

    def start(self) -> None:
        """Connect (a one-line error if Redis does not answer) and start the janitor; runs no models."""
        if self._started:
            return
        self.redis = connect(self.url)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._started = True
        self._stop.clear()
        self._janitor_thread = threading.Thread(target=self._watch, name="talkface-serve-redis", daemon=True)
        self._janitor_thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the janitor. Queued jobs stay in Redis for the workers (and for a restarted server)."""
        if not self._started:
            return
        self._stop.set()
        if self._janitor_thread is not None:
            self._janitor_thread.join(timeout)
        self._started = False

    def _watch(self) -> None:
        last_cleanup = 0.0
        while not self._stop.wait(max(0.2, self.lease_s / 4)):
            try:
                cleared = reap(self.redis, self.keys, self.clock())
                if cleared:
                    log.warning("%d worker(s) stopped sending heartbeats; their jobs were queued again", cleared)
                if time.monotonic() - last_cleanup >= self.cleanup_interval_s:
                    last_cleanup = time.monotonic()
                    self.cleanup()
            except Exception:  # the janitor must never take the server down
                log.exception("redis janitor failed")

    def has_room(self) -> bool:
        if not self._started or self._stop.is_set():
            return False
        return int(self.redis.llen(self.keys.queue)) < self.max_queued

    def submit(self, job_id: str, staging: Path, face_name: str, speech_name: str, options: JobOptions) -> Job:
        if not self.has_room():
            raise QueueFull(f"server busy ({self.redis.llen(self.keys.queue) if self._started else 0} jobs waiting); "
                            "retry later")
        final = self.work_dir / job_id
        os.replace(staging, final)
        now = self.clock()
        fields = {"status": "queued", "face": face_name, "speech": speech_name, "created_at": repr(now),
                  "options": json.dumps(options.__dict__), "progress": "0", "stage_progress": "0", "lost": "0",
                  "retries": str(self.retries), "ttl_s": repr(self.ttl_s)}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.job(job_id), mapping=fields)
        pipe.lpush(self.keys.queue, job_id)
        pipe.execute()
        log.info("job %s queued in redis", job_id)
        return _job_from_hash(self.work_dir, job_id, fields)

    def get(self, job_id: str) -> Job | None:
        h = self.redis.hgetall(self.keys.job(job_id))
        return _job_from_hash(self.work_dir, job_id, h) if h else None

    def queue_position(self, job_id: str) -> int | None:
        index = self.redis.lpos(self.keys.queue, job_id)
        if index is None:
            return None
        return max(0, int(self.redis.llen(self.keys.queue)) - 1 - int(index))

    def live_workers(self) -> dict[str, str]:
        """Workers with a live heartbeat: name -> ``loading`` / ``ready``."""
        names = sorted(self.redis.smembers(self.keys.workers))
        states = self.redis.mget([self.keys.heartbeat(n) for n in names]) if names else []
        return {n: s for n, s in zip(names, states, strict=True) if s}

    def stats(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for key in self.redis.scan_iter(match=self.keys.job("*"), count=500):
            status = self.redis.hget(key, "status")
            if status:
                counts[status] = counts.get(status, 0) + 1
        workers = self.live_workers()
        return {"workers": len(workers), "ready_workers": sum(1 for s in workers.values() if s == "ready"),
                "max_queued": self.max_queued, "jobs": counts, "load_error": None}

    def delete(self, job_id: str) -> bool:
        key = self.keys.job(job_id)
        status = self.redis.hget(key, "status")
        if status is None:
            return False
        if status == "queued":
            if not self.redis.lrem(self.keys.queue, 0, job_id):
                return False  # a worker has just taken it
        elif status not in FINISHED:
            return False
        self.redis.delete(key)
        shutil.rmtree(self.work_dir / job_id, ignore_errors=True)
        return True

    def cleanup(self, now: float | None = None, leftovers_age_s: float | None = None) -> int:
        """Remove the folders of jobs Redis no longer has (expired) and staging folders of dead requests."""
        now = self.clock() if now is None else now
        age = self.ttl_s if leftovers_age_s is None else leftovers_age_s
        removed = 0
        try:
            entries = list(os.scandir(self.work_dir))
        except OSError:
            return 0
        for entry in entries:
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                if JOB_ID_RE.match(entry.name):
                    stale = not self.redis.exists(self.keys.job(entry.name)) and now - entry.stat().st_mtime > 60
                elif entry.name.startswith(".") and entry.name.endswith(".incoming"):
                    stale = now - entry.stat().st_mtime > age
                else:
                    continue
            except OSError:
                continue
            if stale:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
        return removed


def _no_factory() -> AnimatorLike:  # pragma: no cover - the server runs no models with --queue
    raise RuntimeError("a server with --queue runs no models; start 'talkface worker'")


class RedisWorker:
    """``talkface worker``: takes jobs from Redis one at a time and animates them with models loaded once.

    Args:
        url: ``redis://HOST:PORT/DB`` (the server's ``--queue``).
        work_dir: the shared job folder as this machine sees it.
        factory: builds the animator (once, when the worker starts).
        lease_s: a heartbeat is sent every ``lease_s / 4`` s and lives ``lease_s`` s.
        prefix: Redis key prefix (the server's).
        name: this worker's name (default ``host-pid-random``).
    """

    def __init__(self, url: str, work_dir: str | os.PathLike[str], factory: AnimatorFactory, *,
                 lease_s: float = 30.0, prefix: str = "talkface", name: str | None = None) -> None:
        self.url = url
        self.work_dir = Path(work_dir)
        self.factory = factory
        self.lease_s = lease_s
        self.keys = RedisKeys(prefix)
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
        self.redis: Any = None
        self.state = "loading"
        self.done = 0
        self.stop_event = threading.Event()
        self._current: str | None = None

    def _beat(self) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.keys.heartbeat(self.name), self.state, px=max(1, int(self.lease_s * 1000)))
        pipe.sadd(self.keys.workers, self.name)
        pipe.execute()

    def _heartbeats(self) -> None:
        while not self.stop_event.wait(self.lease_s / 4):
            try:
                self._beat()
                if reap(self.redis, self.keys):
                    log.warning("jobs of a dead worker were queued again")
            except Exception:
                log.exception("heartbeat failed")

    def run(self, max_jobs: int | None = None, idle_exit_s: float | None = None) -> int:
        """Take and animate jobs until stopped (Ctrl-C / SIGTERM / :attr:`stop_event`); returns jobs done.

        Args:
            max_jobs: stop after this many jobs.
            idle_exit_s: stop after the queue stayed empty this long.
        """
        self.redis = connect(self.url)
        self._beat()
        beats = threading.Thread(target=self._heartbeats, name="talkface-worker-heartbeat", daemon=True)
        beats.start()
        try:
            animator = self.factory()
        except Exception:
            self._leave()
            raise
        self.state = "ready"
        self._beat()
        log.info("worker %s ready (queue %s, work dir %s)", self.name, self.url, self.work_dir)
        idle_since = time.monotonic()
        try:
            while not self.stop_event.is_set() and (max_jobs is None or self.done < max_jobs):
                job_id = self.redis.blmove(self.keys.queue, self.keys.processing(self.name), 1.0, "RIGHT", "LEFT")
                if job_id is None:
                    if idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                        break
                    continue
                self._current = job_id
                self._run(job_id, animator)
                self._current = None
                idle_since = time.monotonic()
        except KeyboardInterrupt:
            log.info("worker %s interrupted", self.name)
        finally:
            self._leave()
        return self.done

    def _leave(self) -> None:
        """Stop beating; hand a job still in hand back to the queue (not counted as lost); deregister."""
        self.stop_event.set()
        try:
            while (job_id := self.redis.rpop(self.keys.processing(self.name))) is not None:
                if self.redis.hget(self.keys.job(job_id), "status") in ("queued", "running"):
                    self.redis.hset(self.keys.job(job_id), mapping={"status": "queued", "stage": "", "progress": "0",
                                                                    "stage_progress": "0", "worker": ""})
                    self.redis.rpush(self.keys.queue, job_id)
            self.redis.delete(self.keys.heartbeat(self.name))
            self.redis.srem(self.keys.workers, self.name)
        except Exception:
            log.exception("could not deregister worker %s", self.name)

    def _progress(self, key: str) -> Callable[[str, float], None]:
        last = [0.0, 0.0]  # time of the last write, progress written

        def report(stage: str, fraction: float) -> None:
            frac = min(max(float(fraction), 0.0), 1.0)
            overall = overall_progress(str(stage), frac)
            now = time.monotonic()
            if now - last[0] < 0.25 and stage != "done":
                return
            last[0] = now
            fields = {"stage": str(stage), "stage_progress": repr(frac)}
            if overall is not None and overall > last[1]:
                last[1] = min(overall, 0.99)
                fields["progress"] = repr(last[1])
            self.redis.hset(key, mapping=fields)

        return report

    def _run(self, job_id: str, animator: AnimatorLike) -> None:
        key = self.keys.job(job_id)
        h = self.redis.hgetall(key)
        if not h or h.get("status") != "queued":  # deleted or cancelled while waiting
            self.redis.lrem(self.keys.processing(self.name), 0, job_id)
            return
        self.redis.hset(key, mapping={"status": "running", "started_at": repr(time.time()), "worker": self.name})
        job = _job_from_hash(self.work_dir, job_id, h)
        ttl = max(1, math.ceil(float(h.get("ttl_s", 3600))))
        t0 = time.monotonic()
        try:
            o = job.options
            result = animator.animate(job.face, job.speech, job.output, blink_rate=o.blink_rate, seed=o.seed,
                                      size=o.size, motion_scale=o.motion_scale, progress=self._progress(key))
            if not job.output.is_file():
                raise RuntimeError("the animator wrote no video")
        except Exception as err:
            if not isinstance(err, InputError):
                log.exception("job %s failed", job_id)
            message = user_error(err, job)
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(key, mapping={"status": "failed", "error": message, "finished_at": repr(time.time())})
            pipe.expire(key, ttl)
            pipe.lrem(self.keys.processing(self.name), 0, job_id)
            pipe.execute()
            shutil.rmtree(job.dir, ignore_errors=True)
            log.info("job %s failed: %s", job_id, message)
            self.done += 1
            return
        info: dict[str, Any] = {"seconds": round(time.monotonic() - t0, 3), "bytes": job.output.stat().st_size,
                                "worker": self.name}
        lost = int(h.get("lost") or 0)
        if lost:
            info["retries"] = lost
        for name in ("frames", "fps", "duration_s"):
            value = getattr(result, name, None)
            if isinstance(value, (int, float)):
                info[name] = value
        for upload in (job.face, job.speech):
            upload.unlink(missing_ok=True)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping={"status": "done", "progress": "1", "result": json.dumps(info),
                                "finished_at": repr(time.time())})
        pipe.expire(key, ttl)
        pipe.lrem(self.keys.processing(self.name), 0, job_id)
        pipe.lrem(self.keys.queue, 0, job_id)  # queued again by a reaper that took this worker for dead
        pipe.execute()
        self.done += 1
        log.info("job %s done in %.1f s", job_id, info["seconds"])


def install_signal_handlers(worker: RedisWorker) -> None:
    """SIGTERM stops the worker like Ctrl-C (its job in hand goes back to the queue)."""

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)


# ------------------------------------------------------------------------------------- talkface worker


def run_worker_command(args: Any, config: ServeConfig) -> int:
    """Handler of ``talkface worker``; ``config``: the ServeConfig of its options (the ``WORKER`` table of
    :mod:`talkface.cli_parser`: model, threads, max_audio_seconds, queue_lease_s, queue, work_dir)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    work_dir = Path(args.work_dir)
    if not work_dir.is_dir():
        raise InputError(work_dir, "work folder not found (give the server's --work-dir as this machine sees it)")
    factory = pipeline_factory(config)
    worker = RedisWorker(args.queue, work_dir, factory, lease_s=config.queue_lease_s, prefix=args.prefix)
    install_signal_handlers(worker)
    done = worker.run(max_jobs=args.max_jobs)
    print(f"talkface worker {worker.name}: {done} job(s) done", flush=True)
    return 0
