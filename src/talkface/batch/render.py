"""Rendering one batch row in a worker: the models are loaded once and reused for every row.

A :class:`Renderer` holds one :class:`talkface.pipeline.Animator` (plus one per ``person`` model a
row asks for) and turns a :class:`talkface.batch.manifest.BatchJob` into a result record. It
never raises for a bad row: any error becomes the record's one-line ``error``.
"""

from __future__ import annotations

import dataclasses
import os
import time
import traceback
from pathlib import Path
from typing import Any

from talkface.batch.manifest import BatchJob
from talkface.errors import InputError

__all__ = ["Renderer", "one_line", "result_record", "video_frames"]


def one_line(err: BaseException) -> str:
    """``err`` as one line: an InputError's own message, else ``Type: message``."""
    text = str(err) if isinstance(err, InputError) else f"{type(err).__name__}: {err}".rstrip(": ")
    return " ".join(text.split())[:500]


def result_record(job: BatchJob, status: str, *, error: str | None = None, seconds: float | None = None,
                  frames: int | None = None, attempts: int = 1, worker: str | None = None) -> dict[str, Any]:
    """One line of the results manifest."""
    return {"id": job.id, "line": job.line, "output": job.output or None, "status": status, "error": error,
            "seconds": None if seconds is None else round(seconds, 3), "frames": frames, "attempts": attempts,
            "worker": worker}


def video_frames(path: Path) -> int | None:
    """Frames in a finished video (from its header; None if it cannot be read)."""
    try:
        import av

        with av.open(str(path)) as container:
            frames = container.streams.video[0].frames
            return int(frames) if frames else None
    except Exception:
        return None


class Renderer:
    """One worker's models and the per-row call.

    Args:
        config: the run's :class:`talkface.pipeline.AnimateConfig` (model, device, threads, defaults).
        out_dir: the output folder (rows' ``output`` names are relative to it).
        animator: an already loaded animator with this config to use (tests, in-process runs).
    """

    def __init__(self, config: Any, out_dir: str | os.PathLike[str], animator: Any = None) -> None:
        from talkface.pipeline import Animator  # lazy: loads torch

        self.config = config
        self.out_dir = Path(out_dir)
        self._animators: dict[str | None, Any] = {config.person: animator or Animator(config)}
        self.name = f"pid{os.getpid()}"

    def _animator(self, person: str | None) -> Any:
        from talkface.pipeline import Animator  # lazy: loads torch

        if person not in self._animators:
            if len(self._animators) >= 3:  # keep at most two person models beside the base one
                for key in list(self._animators):
                    if key != self.config.person:
                        del self._animators[key]
                        break
            self._animators[person] = Animator(dataclasses.replace(self.config, person=person))
        return self._animators[person]

    def render(self, job: BatchJob, attempts: int = 1) -> dict[str, Any]:
        """Animate one row into ``out_dir / job.output`` (atomically) and return its result record."""
        start = time.perf_counter()
        if job.error is not None:
            return result_record(job, "error", error=job.error, seconds=0.0, attempts=attempts, worker=self.name)
        try:
            overrides = dict(job.config)
            animator = self._animator(overrides.pop("person", self.config.person))
            output = self.out_dir / job.output
            output.parent.mkdir(parents=True, exist_ok=True)
            base = animator.config
            animator.config = dataclasses.replace(base, **overrides)
            try:
                call = dict(job.call)
                if "blink_rate" in call and call["blink_rate"] is not None:
                    call["blink_rate"] = float(call["blink_rate"])
                result = animator.animate(job.photo, job.speech, output, **call)
            finally:
                animator.config = base
        except Exception as err:
            if not isinstance(err, InputError | ValueError):
                traceback.print_exc()
            return result_record(job, "error", error=f"line {job.line}: {one_line(err)}",
                                 seconds=time.perf_counter() - start,
                                 attempts=attempts, worker=self.name)
        return result_record(job, "ok", seconds=time.perf_counter() - start, frames=int(result.frames),
                             attempts=attempts, worker=self.name)
