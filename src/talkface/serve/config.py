"""Settings of ``talkface serve`` (:class:`ServeConfig`) and the default animator factory.

Apart from :mod:`talkface.serve.app` so that :mod:`talkface.serve.redis_queue` (``talkface worker``)
and the app can both use them without importing each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from talkface.config_checks import DEFAULT_MAX_SIDE, OptionError, check_value
from talkface.serve.jobs import DEFAULT_JOB_TTL_S, AnimatorFactory, AnimatorLike, JobOptions

__all__ = ["ServeConfig", "pipeline_factory"]


@dataclass
class ServeConfig:
    """Settings of ``talkface serve``.

    Attributes:
        host, port: where to listen (``127.0.0.1`` = this machine only).
        workers: jobs animated at once (one set of models loaded per worker).
        max_upload_bytes: largest accepted file, per file.
        max_audio_seconds: longest accepted speech (checked from the header at upload, again while decoding).
        max_image_pixels: largest accepted photo, width x height as decoded (sides are also limited to 8192 px;
            a JPEG larger than ``max_side`` counts at the 1/2, 1/4 or 1/8 scale it is decoded at).
        max_side: the workers downscale photos whose longer side is larger to this (as
            :attr:`talkface.animate_config.AnimateConfig.max_side`; 0: never).
        job_ttl_s: seconds a finished job's video is kept before it is deleted.
        work_dir: folder for the jobs' files; ``None`` = a fresh temporary folder, removed at shutdown.
        max_queued: jobs allowed to wait for a worker; more are refused with 503.
        sizes: output sizes clients may choose (0 = the whole photo, N = N x N face crop).
        default_blink_rate: blinks per second when the client gives none.
        model: model bundle folder (``None`` = the bundled default).
        threads: torch threads per worker (``None`` = the pipeline's choice).
        cleanup_interval_s: how often expired jobs are looked for.
        allowed_hosts: ``Host`` names answered beyond the listening address (a proxy's public name; ``*``: any);
            see :mod:`talkface.serve.guard`.
        allowed_origins: web origins (``https://app.example``) allowed to submit and delete jobs beyond the
            server's own (``*``: any).
        token: API token required on ``/v1/`` (``Authorization: Bearer``, or the cookie ``/?token=`` sets);
            ``None``: none.
        client_timeout_s: longest pause while a client sends a request body, seconds (slower uploads are cut off).
        queue: ``redis://HOST:PORT/DB``: keep the jobs in Redis for ``talkface worker`` processes (on any
            machine that sees ``work_dir``) instead of running them here (:mod:`talkface.serve.redis_queue`).
        queue_retries, queue_lease_s: with ``queue``: times a job is queued again after its worker died; seconds without
            a heartbeat after which a worker counts as dead.
        max_live_sessions: live sessions (``/live``, ``/v1/live``) at once; more are answered "busy".
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_upload_bytes: int = 32 * 1024 * 1024
    max_audio_seconds: float = 120.0
    max_image_pixels: int = 40_000_000
    max_side: int = DEFAULT_MAX_SIDE
    job_ttl_s: float = DEFAULT_JOB_TTL_S
    work_dir: Path | None = None
    max_queued: int = 32
    sizes: tuple[int, ...] = (0, 128, 256)
    default_blink_rate: float | None = JobOptions.blink_rate
    model: str | None = None
    threads: int | None = None
    cleanup_interval_s: float = 60.0
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    token: str | None = None
    client_timeout_s: float = 30.0
    queue: str | None = None
    queue_retries: int = 1
    queue_lease_s: float = 30.0
    max_live_sessions: int = 1

    def __post_init__(self) -> None:
        check_value("port", self.port)
        check_value("workers", self.workers)
        check_value("max_queued", self.max_queued)
        check_value("max_audio_seconds", self.max_audio_seconds)
        check_value("client_timeout", self.client_timeout_s)
        check_value("max_side", self.max_side)
        check_value("queue_lease_s", self.queue_lease_s)
        check_value("queue_retries", self.queue_retries)
        if self.threads is not None:
            check_value("threads", self.threads)
        for name in ("max_upload_bytes", "max_image_pixels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionError(name, f"must be a whole number >= 1, got {value!r}")
        if not (math.isfinite(self.job_ttl_s) and self.job_ttl_s >= 0):
            raise OptionError("job_ttl_s", f"must be a number of seconds >= 0, got {self.job_ttl_s!r}",
                              "--job-ttl-minutes")
        for size in self.sizes:
            check_value("size", size)
        if self.default_blink_rate is not None:
            check_value("blink_rate", self.default_blink_rate)
        if self.token is not None and not self.token.strip():
            raise OptionError("token", "must not be empty")


def pipeline_factory(config: ServeConfig) -> AnimatorFactory:
    """The default animator factory: a :class:`talkface.pipeline.Animator` with the server's settings."""

    def make() -> AnimatorLike:
        from talkface.pipeline import AnimateConfig, Animator  # lazy: loads torch

        return Animator(AnimateConfig(model=config.model, max_duration_s=config.max_audio_seconds,
                                      threads=config.threads, max_side=config.max_side))

    return make
