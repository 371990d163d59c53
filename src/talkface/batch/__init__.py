"""``talkface batch``: render a manifest of (photo, speech) jobs, models loaded once per worker.

:func:`talkface.batch.runner.run_batch` runs a manifest (:mod:`talkface.batch.manifest`) in this
process, in a pool of worker processes, or on Ray actors (:mod:`talkface.batch.ray_backend`);
see docs/batch.md.
"""

from __future__ import annotations

from talkface.batch.manifest import BatchJob, read_manifest, shard_jobs
from talkface.batch.runner import BatchSummary, run_batch

__all__ = ["BatchJob", "BatchSummary", "read_manifest", "run_batch", "shard_jobs"]
