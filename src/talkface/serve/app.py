"""The ``talkface serve`` web application (FastAPI): a page and a JSON API for animating a face.

Routes:
    ``GET /``: the page: upload (or record) speech and a face photo, choose options, watch progress,
        play and download the video.
    ``POST /v1/animate``: multipart form ``face`` (image file), ``speech`` (audio file, or video with sound),
        ``blink_rate`` (blinks per second, or ``natural``), ``size`` (0 = whole photo, or the side
        of a square face crop), ``seed``, ``motion_scale`` (gain on the mouth motion, 0-3),
        ``head_motion`` (strength of the head and brow motion, 0-3; 0 = still head).
        Answers ``202 {"job": id, ...}``; a refused upload
        answers 4xx with ``{"error": one line, "code": reason, "field": form field}``.
    ``GET /v1/jobs/{id}``: the job's status (``queued``, ``running``, ``done``, ``failed``), progress and error.
    ``GET /v1/jobs/{id}/video``: the mp4 (``?download=1`` for an attachment); 409 until the job is done.
    ``DELETE /v1/jobs/{id}``: remove a finished job (or cancel a queued one) and its files.
    ``GET /v1/health``: workers, ready workers and job counts.
    ``GET /openapi.json``: the OpenAPI schema (no ``/docs``: Swagger UI would load its scripts from a CDN).

Uploads are checked from their bytes (:mod:`talkface.serve.validate`), stored under names the
server chooses inside the job's own folder (:mod:`talkface.serve.jobs`), and animated by a
bounded pool of workers each holding its own :class:`talkface.pipeline.Animator`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from talkface import __version__
from talkface.config_checks import LIMITS, OptionError, environment_error
from talkface.serve import live
from talkface.serve.config import ServeConfig, pipeline_factory
from talkface.serve.guard import ClientTooSlow, GuardMiddleware, drain_small_body, is_loopback, track_start
from talkface.serve.jobs import (
    JOB_ID_RE,
    AnimatorFactory,
    Job,
    JobManager,
    JobOptions,
    QueueFull,
    new_job_id,
)
from talkface.serve.redis_queue import RedisJobManager
from talkface.serve.validate import (
    AUDIO_FORMATS,
    IMAGE_FORMATS,
    UploadError,
    check_image,
    check_speech_file,
    human_bytes,
)

log = logging.getLogger("talkface.serve")

#: Upload files are copied in pieces of this many bytes.
_CHUNK = 1 << 20

#: Room for the form's text fields and multipart framing beyond the two files' bytes.
_FORM_OVERHEAD = 64 * 1024


# ------------------------------------------------------------------------------------- models


class ErrorBody(BaseModel):
    """A refused request."""

    error: str = Field(description="what is wrong, one line (names the form field where there is one)")
    code: str = Field(description="machine-readable reason, e.g. too_large, unsupported_type, audio_too_long")
    field: str | None = Field(default=None, description="the form field at fault")


class Accepted(BaseModel):
    """A job was created."""

    job: str = Field(description="job id")
    status_url: str
    video_url: str


class JobView(BaseModel):
    """A job's state. Poll until ``status`` is ``done`` (fetch ``video_url``) or ``failed`` (read ``error``)."""

    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float = Field(description="0..1 over the whole job")
    stage: str | None = Field(description="the stage the pipeline last reported: audio, face, motion, texture, done")
    stage_progress: float
    queue_position: int | None = Field(description="queued jobs ahead of this one (while queued)")
    error: str | None = Field(description="why the job failed, one line naming the form field")
    created_at: float
    started_at: float | None
    finished_at: float | None
    expires_at: float | None = Field(description="when the job and its video are deleted")
    options: dict[str, Any]
    result: dict[str, Any] = Field(description="frames, fps, duration_s, seconds, bytes (when done)")
    video_url: str | None


class Health(BaseModel):
    """Server state."""

    status: Literal["ok", "loading", "error"]
    version: str
    workers: int
    ready_workers: int
    max_queued: int
    jobs: dict[str, int]
    load_error: str | None


# ------------------------------------------------------------------------------------- helpers


def _error(status: int, code: str, message: str, field: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=" ".join(message.split()), code=code, field=field)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies over ``limit`` bytes with 413, before they are parsed or stored.

    A declared ``Content-Length`` over the limit is refused at once; a body without one
    (chunked) is counted as it arrives and cut off when it passes the limit.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        too_large = _error(413, "too_large", f"request too large (limit {human_bytes(self.limit)})")
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.limit:
                    await drain_small_body(scope, receive)
                    await too_large(scope, receive, send)
                    return
        seen = 0

        async def counted_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge
            return message

        tracked_send, started = track_start(send)
        try:
            await self.app(scope, counted_receive, tracked_send)
        except _BodyTooLarge:
            if not started():
                await drain_small_body(scope, receive)
                await too_large(scope, receive, send)


def _store_upload(upload: UploadFile, dest: Path, field: str, limit: int) -> None:
    """Copy an upload to ``dest`` (a server-chosen name), refusing it past ``limit`` bytes."""
    size = 0
    upload.file.seek(0)
    with open(dest, "wb") as out:
        while chunk := upload.file.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise UploadError(413, "too_large", field, f"file too large (limit {human_bytes(limit)})")
            out.write(chunk)


#: What each number field of the form expects, for a refusal (its range from LIMITS, the table the CLI uses).
_EXPECTED = {"blink_rate": "blinks per second ({lo:g} to {hi:g}) or 'natural'", "motion_scale": "a gain from {lo:g} to "
             "{hi:g}", "head_motion": "a strength from {lo:g} to {hi:g}"}


def _form_number(text: str | None, field: str, default: float | None) -> float | None:
    """A number from form field ``field`` (blank: ``default``; ``blink_rate`` also takes ``natural`` = None); else
    a 422 naming it. Its range is checked by :class:`talkface.serve.jobs.JobOptions` (the table the CLI uses too)."""
    if field == "blink_rate" and text is not None and text.strip().lower() == "natural":
        return None
    if text is None or not text.strip():
        return default
    try:
        return float(text)
    except ValueError:
        expected = _EXPECTED[field].format(lo=LIMITS[field].lo, hi=LIMITS[field].hi)
        raise UploadError(422, "bad_option", field, f"expected {expected}, got {text[:40]!r}") from None


def _defaults(config: ServeConfig) -> dict[str, float | None]:
    """The form's defaults: the server's blink rate, the job options' motion gains (AnimateConfig's, as the CLI's)."""
    return {"blink_rate": config.default_blink_rate, "motion_scale": JobOptions.motion_scale,
            "head_motion": JobOptions.head_motion}


def _span(name: str) -> str:
    """An option's range for the API schema (``"0-3"``), from :data:`talkface.config_checks.LIMITS`."""
    return f"{LIMITS[name].lo:g}-{LIMITS[name].hi:g}"


def _ranges() -> dict[str, list[float]]:
    """The accepted ranges of the numeric form fields (the CLI's, from :data:`talkface.config_checks.LIMITS`)."""
    return {name: [LIMITS[name].lo, LIMITS[name].hi] for name in ("blink_rate", "motion_scale", "head_motion", "seed")}


def _job_view(job: Job, manager: JobManager, base: str) -> JobView:
    expires = None if job.finished_at is None else job.finished_at + manager.ttl_s
    video_url = f"{base}/v1/jobs/{job.id}/video" if job.status == "done" else None
    return JobView(
        id=job.id, status=job.status, progress=round(job.progress, 4), stage=job.stage,
        stage_progress=round(job.stage_progress, 4), queue_position=manager.queue_position(job.id),
        error=job.error, created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
        expires_at=expires,
        options={"blink_rate": job.options.blink_rate, "size": job.options.size, "seed": job.options.seed,
                 "motion_scale": job.options.motion_scale, "head_motion": job.options.head_motion},
        result=job.result, video_url=video_url,
    )


def page_html(config: ServeConfig | None = None) -> str:
    """The page served at ``/`` (package data ``talkface/serve/page.html``), its sliders' ranges and values filled
    in from :data:`talkface.config_checks.LIMITS` and the server's defaults (``{{blink_rate.min}}`` ...)."""
    text = (resources.files("talkface.serve") / "page.html").read_text(encoding="utf-8")
    for name, default in _defaults(config or ServeConfig()).items():
        limit = LIMITS[name]
        shown = {"min": limit.lo, "max": limit.hi, "value": limit.lo if default is None else default}
        for key, value in shown.items():
            text = text.replace("{{" + f"{name}.{key}" + "}}", f"{value:g}")
    return text


# ------------------------------------------------------------------------------------- the app


def _job_manager(config: ServeConfig, factory: AnimatorFactory, work_dir: Path, own_dir: bool) -> JobManager:
    """The jobs' pool: in-process workers, or a Redis queue served by ``talkface worker`` processes."""
    if not config.queue:
        return JobManager(work_dir, factory, workers=config.workers, max_queued=config.max_queued,
                          ttl_s=config.job_ttl_s, cleanup_interval_s=config.cleanup_interval_s)
    if own_dir:
        raise ValueError("a server with a Redis queue needs a work_dir shared with its workers")
    return RedisJobManager(config.queue, work_dir, max_queued=config.max_queued, ttl_s=config.job_ttl_s,
                           cleanup_interval_s=config.cleanup_interval_s, retries=config.queue_retries,
                           lease_s=config.queue_lease_s)


def create_app(config: ServeConfig | None = None, animator_factory: AnimatorFactory | None = None) -> FastAPI:
    """Build the ``talkface serve`` application.

    Args:
        config: server settings (defaults: :class:`ServeConfig`).
        animator_factory: builds one animator per worker (called once in each); ``None`` = the real pipeline
            (:func:`pipeline_factory`). Tests of the server alone pass a small fake.

    Returns:
        The ASGI application. Its workers start when it starts (the ASGI lifespan) and stop with
        it; ``app.state.manager`` is its :class:`talkface.serve.jobs.JobManager`.
    """
    config = config or ServeConfig()
    own_dir = config.work_dir is None
    work_dir = Path(tempfile.mkdtemp(prefix="talkface-serve-")) if own_dir else Path(config.work_dir or ".")
    manager = _job_manager(config, animator_factory or pipeline_factory(config), work_dir, own_dir)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not is_loopback(config.host) and not config.token:
            log.warning("listening on %s without an API token: anyone who can reach it can use it (set --token or "
                        "TALKFACE_SERVE_TOKEN, or put an authenticating proxy in front)", config.host)
        manager.start()
        try:
            yield
        finally:
            manager.stop()
            if own_dir:
                shutil.rmtree(work_dir, ignore_errors=True)

    app = FastAPI(
        title="talkface",
        version=__version__,
        summary="One face photo + speech -> a talking-head video.",
        description="Upload a face photo and a speech recording to `POST /v1/animate`, poll "
        "`GET /v1/jobs/{id}` until it is `done`, then fetch `GET /v1/jobs/{id}/video` (H.264 + AAC mp4). "
        "Refused uploads answer 4xx with `{error, code, field}`; input the pipeline cannot use makes the job "
        "`failed` with a one-line `error`.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI / ReDoc would load their scripts from a CDN: the server stays offline
        redoc_url=None,
    )
    app.state.manager = manager
    app.state.config = config
    app.add_middleware(BodyLimitMiddleware, limit=2 * config.max_upload_bytes + _FORM_OVERHEAD)
    app.add_middleware(GuardMiddleware, listen_host=config.host, allowed_hosts=config.allowed_hosts,  # outermost
                       allowed_origins=config.allowed_origins, token=config.token, has_room=manager.has_room,
                       client_timeout_s=config.client_timeout_s)
    app.include_router(live.router(config))
    _add_error_handlers(app, config)
    _add_server_routes(app, config, manager)
    _add_animate_route(app, config, manager)
    _add_job_routes(app, manager)
    return app


def _add_error_handlers(app: FastAPI, config: ServeConfig) -> None:
    """Every refusal as ``{error, code, field}`` (one line), never a traceback."""

    @app.exception_handler(RequestValidationError)
    async def _on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "form")]
        field = loc[0] if loc else None
        msg = str(first.get("msg", "invalid request")).lower()
        code = "bad_request"
        if first.get("type") == "missing":
            code, msg = "missing_field", "missing"
        elif "uploadfile" in msg:  # a part without a file name arrives as text
            code, msg = "not_a_file", "expected a file (a multipart part with a file name)"
        return _error(422, code, f"{field}: {msg}" if field else msg, field)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, _BodyTooLarge):  # FastAPI wraps errors raised while reading the form
            return _error(413, "too_large",
                          f"request too large (limit {human_bytes(2 * config.max_upload_bytes + _FORM_OVERHEAD)})")
        if isinstance(exc.__cause__, ClientTooSlow):
            return _error(408, "timeout", f"request body too slow (a pause over {config.client_timeout_s:g} s)",
                          headers={"Connection": "close"})
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _on_any(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return _error(500, "internal", f"internal error ({type(exc).__name__})")


def _add_server_routes(app: FastAPI, config: ServeConfig, manager: JobManager) -> None:
    """``/`` (the page), ``/v1/health`` and ``/v1/limits``."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page_html(config))

    @app.get("/v1/health", response_model=Health, tags=["server"])
    def health() -> Health:
        """Workers, ready workers (models loaded) and job counts."""
        s = manager.stats()
        status: Literal["ok", "loading", "error"] = "loading"
        if s["load_error"]:
            status = "error"
        elif s["ready_workers"]:
            status = "ok"
        return Health(status=status, version=__version__, **s)

    @app.get("/v1/limits", tags=["server"])
    def limits() -> dict[str, Any]:
        """The upload limits and choices this server accepts."""
        return {"max_upload_bytes": config.max_upload_bytes, "max_audio_seconds": config.max_audio_seconds,
                "max_image_pixels": config.max_image_pixels, "max_side": config.max_side, "sizes": list(config.sizes),
                "default_blink_rate": config.default_blink_rate, "image_formats": sorted(IMAGE_FORMATS),
                "audio_formats": sorted(AUDIO_FORMATS), "job_ttl_s": config.job_ttl_s, "ranges": _ranges(),
                "defaults": _defaults(config),
                "token_required": config.token is not None}


def _add_animate_route(app: FastAPI, config: ServeConfig, manager: JobManager) -> None:
    """``POST /v1/animate``: check the form and the uploads, then queue a job."""

    @app.post(
        "/v1/animate", status_code=202, response_model=Accepted, tags=["jobs"],
        responses={413: {"model": ErrorBody}, 415: {"model": ErrorBody}, 422: {"model": ErrorBody},
                   503: {"model": ErrorBody}},
    )
    def animate(
        request: Request,
        face: Annotated[UploadFile, File(description="photo of one face: JPEG, PNG, WebP, BMP, TIFF, GIF or AVIF")],
        speech: Annotated[UploadFile, File(description="speech: WAV, MP3, FLAC, Ogg/Opus, WebM, M4A, "
                                                       "or a video with sound")],
        blink_rate: Annotated[str | None, Form(description=f"blinks per second ({_span('blink_rate')}), or "
                                                           "'natural'")] = None,
        size: Annotated[int, Form(description="0 = the whole photo; N = N x N face crop")] = JobOptions.size,
        seed: Annotated[int, Form(description="seed of the blink timing")] = JobOptions.seed,
        motion_scale: Annotated[str | None, Form(description=f"gain on the mouth motion, {_span('motion_scale')} "
                                                             f"(1 = as predicted)")] = None,
        head_motion: Annotated[str | None, Form(description=f"strength of the head and brow motion, "
                                                            f"{_span('head_motion')} (0 = still head, 1 = natural)")]
        = None,
    ) -> Any:
        """Queue a job animating ``face`` with ``speech``; answers its id at once (202)."""
        if not manager.has_room():
            return _error(503, "busy", "server busy: too many jobs waiting; retry later",
                          headers={"Retry-After": "5"})
        staging: Path | None = None
        try:
            if size not in config.sizes:
                raise UploadError(422, "bad_option", "size",
                                  f"must be one of {', '.join(map(str, config.sizes))}, got {size}")
            try:
                given = {"blink_rate": blink_rate, "motion_scale": motion_scale, "head_motion": head_motion}
                numbers: dict[str, Any] = {k: _form_number(v, k, _defaults(config)[k]) for k, v in given.items()}
                options = JobOptions(size=size, seed=seed, **numbers)
            except OptionError as err:
                raise UploadError(422, "bad_option", err.field, err.problem) from None
            for name, upload in (("face", face), ("speech", speech)):
                if upload.size is not None and upload.size > config.max_upload_bytes:
                    raise UploadError(413, "too_large", name,
                                      f"file too large (limit {human_bytes(config.max_upload_bytes)})")
            job_id = new_job_id()
            staging = manager.staging_dir(job_id)
            _store_upload(face, staging / "face.upload", "face", config.max_upload_bytes)
            _store_upload(speech, staging / "speech.upload", "speech", config.max_upload_bytes)
            image = check_image(staging / "face.upload", "face", max_pixels=config.max_image_pixels,
                                max_side=config.max_side)
            audio = check_speech_file(staging / "speech.upload", "speech", max_seconds=config.max_audio_seconds)
            face_name = "face" + IMAGE_FORMATS[image.format]
            speech_name = "speech" + AUDIO_FORMATS[audio.format]
            os.replace(staging / "face.upload", staging / face_name)
            os.replace(staging / "speech.upload", staging / speech_name)
            manager.submit(job_id, staging, face_name, speech_name, options)
            staging = None
        except UploadError as err:
            return _error(err.status, err.code, str(err), err.field)
        except QueueFull as err:
            return _error(503, "busy", str(err), headers={"Retry-After": "5"})
        except OSError as err:  # the server's disk, not the client's upload
            if environment_error(err) is None:
                raise
            log.error("could not store an upload: %s", environment_error(err))
            return _error(507, "server_storage", "the server could not store the upload (its disk is full or not "
                          "writable); retry later")
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            Accepted(job=job_id, status_url=f"{base}/v1/jobs/{job_id}",
                     video_url=f"{base}/v1/jobs/{job_id}/video").model_dump(),
            status_code=202, headers={"Location": f"/v1/jobs/{job_id}"},
        )


def _add_job_routes(app: FastAPI, manager: JobManager) -> None:
    """``GET``/``HEAD``/``DELETE`` of ``/v1/jobs/{id}`` and its video."""

    def _find(job_id: str) -> Job | None:
        return manager.get(job_id) if JOB_ID_RE.match(job_id) else None

    @app.get("/v1/jobs/{job_id}", response_model=JobView, tags=["jobs"], responses={404: {"model": ErrorBody}})
    def job_status(job_id: str, request: Request) -> Any:
        """A job's status, progress and error."""
        job = _find(job_id)
        if job is None:
            return _error(404, "not_found", "no such job (unknown, or expired and deleted)")
        return _job_view(job, manager, str(request.base_url).rstrip("/"))

    @app.get(
        "/v1/jobs/{job_id}/video", tags=["jobs"], response_class=FileResponse,
        responses={200: {"content": {"video/mp4": {}}}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
    )
    def job_video(job_id: str, download: bool = False) -> Any:
        """The job's mp4 (H.264 + AAC); ``download=true`` asks the browser to save it."""
        job = _find(job_id)
        if job is None:
            return _error(404, "not_found", "no such job (unknown, or expired and deleted)")
        if job.status != "done":
            return _error(409, "not_ready", f"job is {job.status}; the video exists only once it is done")
        if not job.output.is_file():
            return _error(404, "not_found", "the video was deleted")
        return FileResponse(job.output, media_type="video/mp4", filename=f"talkface-{job.id[:8]}.mp4",
                            content_disposition_type="attachment" if download else "inline")

    # HEAD (size and type without the bytes), for download managers and players that ask first
    app.add_api_route("/v1/jobs/{job_id}/video", job_video, methods=["HEAD"], include_in_schema=False)

    @app.delete("/v1/jobs/{job_id}", status_code=204, tags=["jobs"],
                responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}})
    def job_delete(job_id: str) -> Response:
        """Delete a job and its files (a queued job is cancelled; a running one cannot be)."""
        job = _find(job_id)
        if job is None:
            return _error(404, "not_found", "no such job")
        if not manager.delete(job_id):
            return _error(409, "running", "job is running; delete it once it has finished")
        return Response(status_code=204)
