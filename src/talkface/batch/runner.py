"""Running a batch: plan the rows (skip finished ones), render the rest, record every row's outcome.

Three ways to run the rows, all loading the models once per worker:

* in this process (``workers=1``): one :class:`talkface.batch.render.Renderer`;
* a pool of ``workers`` processes (:class:`concurrent.futures.ProcessPoolExecutor`, spawn
  context, an initializer that loads the models). At most one row per worker is handed out at a
  time, so when a worker process dies (killed, out of memory) the rows it held are known: the pool
  is started again and those rows are tried again, up to ``retries`` more times, then recorded as
  failed. Finished videos are never lost (each is written atomically as it ends);
* Ray actors (:mod:`talkface.batch.ray_backend`), on this machine or a cluster.

Every row ends as one line of the results file (JSON lines, written and flushed as rows finish):
``status`` ``ok`` (rendered now), ``skipped`` (its video existed: an earlier run made it) or
``error`` (with a one-line ``error``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from talkface.batch.manifest import BatchJob, read_manifest, shard_jobs
from talkface.batch.ray_backend import ray_results
from talkface.batch.render import Renderer, result_record, video_frames
from talkface.errors import InputError, TalkfaceError

__all__ = ["BatchSummary", "plan_jobs", "results_path", "run_batch"]

Record = dict[str, Any]


@dataclass
class BatchSummary:
    """What a batch run did.

    Attributes:
        ok, skipped, failed: rows rendered now, rows whose video already existed, rows that failed.
        results: the results file (one JSON line per row).
        seconds: wall time of the run.
        records: every row's result record, in the order they finished.
    """

    ok: int = 0
    skipped: int = 0
    failed: int = 0
    results: Path | None = None
    seconds: float = 0.0
    records: list[Record] = field(default_factory=list)


def results_path(out_dir: Path, shard: tuple[int, int] | None) -> Path:
    """``OUTDIR/results.jsonl``, or ``OUTDIR/results.shard-I-of-N.jsonl`` for one shard."""
    if shard is None:
        return out_dir / "results.jsonl"
    return out_dir / f"results.shard-{shard[0]}-of-{shard[1]}.jsonl"


def plan_jobs(jobs: list[BatchJob], out_dir: Path, overwrite: bool = False) -> tuple[list[BatchJob], list[Record]]:
    """Split rows into those to render and those already decided (bad rows, finished videos, missing files)."""
    todo: list[BatchJob] = []
    decided: list[Record] = []
    for job in jobs:
        if job.error is not None:
            decided.append(result_record(job, "error", error=job.error, seconds=0.0, attempts=0))
            continue
        output = out_dir / job.output
        if output.is_file() and not overwrite:
            decided.append(result_record(job, "skipped", frames=video_frames(output), attempts=0))
            continue
        missing = next(((name, p) for name, p in (("photo", job.photo), ("speech", job.speech),
                                                   ("person", job.config.get("person")))
                        if p is not None and not Path(p).exists()), None)
        if missing is not None:
            decided.append(result_record(job, "error", error=f"line {job.line}: {missing[0]}: {missing[1]}: "
                                         "file not found", seconds=0.0, attempts=0))
            continue
        todo.append(job)
    return todo, decided


# ------------------------------------------------------------------------------ process pool

_RENDERER: Renderer | None = None


def _init_worker(config: Any, out_dir: str) -> None:
    """Pool initializer: load the models once in this worker process."""
    global _RENDERER
    _RENDERER = Renderer(config, out_dir)


def _render_in_worker(job: BatchJob, attempts: int) -> Record:
    assert _RENDERER is not None, "worker not initialised"
    return _RENDERER.render(job, attempts)


def _pool_results(jobs: list[BatchJob], config: Any, out_dir: Path, workers: int, retries: int, overwrite: bool,
                  on_event: Callable[[str], None]) -> Iterator[Record]:
    import multiprocessing

    pending = list(reversed(jobs))  # pop() takes them in manifest order
    attempts: dict[int, int] = {}
    restarts = 0
    while pending:
        done_in_this_pool = 0
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(config, str(out_dir)))
        in_flight: dict[Future[Record], BatchJob] = {}
        broken = False
        try:
            while pending or in_flight:
                while pending and len(in_flight) < workers and not broken:
                    job = pending.pop()
                    if job.index in attempts and not overwrite and (out_dir / job.output).is_file():
                        # its worker died after the video was written (atomically), before it reported
                        yield result_record(job, "ok", frames=video_frames(out_dir / job.output),
                                            attempts=attempts[job.index])
                        continue
                    attempts[job.index] = attempts.get(job.index, 0) + 1
                    try:
                        in_flight[pool.submit(_render_in_worker, job, attempts[job.index])] = job
                    except BrokenProcessPool:
                        attempts[job.index] -= 1
                        pending.append(job)
                        broken = True
                if not in_flight:
                    break
                finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                for future in finished:
                    job = in_flight.pop(future)
                    try:
                        record = future.result()
                    except BrokenProcessPool:
                        broken = True
                        if attempts[job.index] > retries:
                            yield result_record(job, "error", attempts=attempts[job.index],
                                                error=f"line {job.line}: the worker process died while rendering "
                                                "this row (killed, or out of memory?)")
                        else:
                            pending.append(job)
                        continue
                    done_in_this_pool += 1
                    yield record
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if broken and pending:
            restarts += 1
            if done_in_this_pool == 0 and restarts >= 3:
                raise TalkfaceError("batch: worker processes keep dying before finishing any row "
                                    "(do the models load? see the messages above)")
            on_event(f"a worker process died; restarting the pool ({len(pending)} rows left)")


def _local_results(jobs: list[BatchJob], renderer: Renderer) -> Iterator[Record]:
    for job in jobs:
        yield renderer.render(job)


# ------------------------------------------------------------------------------ the run


def run_batch(
    manifest: str | os.PathLike[str] | list[BatchJob],
    out_dir: str | os.PathLike[str],
    config: Any = None,
    *,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
    overwrite: bool = False,
    retries: int = 1,
    ray_address: str | None = None,
    processes: bool | None = None,
    animator: Any = None,
    progress: bool = True,
    log: TextIO | None = None,
) -> BatchSummary:
    """Render every row of a manifest (or of shard ``i/n`` of it) into ``out_dir``.

    Args:
        manifest: a manifest file (:func:`talkface.batch.manifest.read_manifest`) or its rows.
        out_dir: the output folder (created); the results go to :func:`results_path`.
        config: the run's :class:`talkface.pipeline.AnimateConfig` (rows may override its options).
        workers: models loaded at once: 1 = in this process; N = N worker processes (or N Ray actors).
        shard: ``(i, n)``: only rows whose index ``% n == i``.
        overwrite: render rows whose video exists (default: skip them).
        retries: times a row is tried again after its worker process (or actor) died.
        processes: render in worker processes (default: when ``workers > 1``).
        ray_address: run on Ray actors: ``"local"`` (start Ray here), ``"auto"`` (a running cluster)
            or a cluster address.
        animator: an already loaded :class:`talkface.pipeline.Animator` with ``config`` (``workers=1``).
        progress: show a progress bar.
        log: where errors and notes are printed (default stderr).

    Returns:
        :class:`BatchSummary`.

    Raises:
        InputError: the manifest file is unusable, or the output folder cannot be made.
    """
    from tqdm import tqdm

    from talkface.pipeline import AnimateConfig, read_bundle_info  # lazy: loads torch

    t0 = time.perf_counter()
    log = log or sys.stderr
    config = config or AnimateConfig()
    jobs = manifest if isinstance(manifest, list) else read_manifest(manifest)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(out, f"cannot create the output folder ({err.__class__.__name__})") from None
    if config.model is not None:
        read_bundle_info(Path(config.model))  # a bad --model fails here, once, not in every worker
    if config.person is not None and not Path(config.person).is_file():
        raise InputError(config.person, "person model not found")
    mine = shard_jobs(jobs, shard)
    todo, decided = plan_jobs(mine, out, overwrite)
    summary = BatchSummary(results=results_path(out, shard))
    # rows decided without rendering count from the start, so the rate and ETA are those of rendering
    bar = tqdm(total=len(mine), initial=len(decided), unit="clip", desc="batch", disable=not progress,
               dynamic_ncols=True, file=log)

    def note(text: str) -> None:
        if progress:
            bar.write(f"talkface batch: {text}", file=log)
        else:
            print(f"talkface batch: {text}", file=log, flush=True)

    assert summary.results is not None
    with open(summary.results, "w", encoding="utf-8") as fh:

        def record(rec: Record, advance: bool = True) -> None:
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            summary.records.append(rec)
            if rec["status"] == "ok":
                summary.ok += 1
            elif rec["status"] == "skipped":
                summary.skipped += 1
            else:
                summary.failed += 1
                note(f"{rec['id']}: {rec['error']}")
            if advance:
                bar.update(1)
            bar.set_postfix(ok=summary.ok, skipped=summary.skipped, failed=summary.failed, refresh=False)

        try:
            for rec in decided:
                record(rec, advance=False)
            if todo:
                results: Iterator[Record]
                if ray_address is not None:
                    results = ray_results(todo, config, out, address=ray_address, actors=workers, retries=retries,
                                          on_event=note)
                elif not (workers > 1 if processes is None else processes):
                    bar.set_description("loading models")
                    renderer = Renderer(config, out, animator=animator)
                    bar.set_description("batch")
                    results = _local_results(todo, renderer)
                else:
                    results = _pool_results(todo, config, out, workers, retries, overwrite, note)
                for rec in results:
                    record(rec)
        finally:
            bar.close()
    summary.seconds = time.perf_counter() - t0
    return summary
