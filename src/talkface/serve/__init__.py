"""``talkface serve``: a web page and an HTTP API that animate a face photo with speech.

:func:`create_app` builds the application from a :class:`ServeConfig`; :func:`serve` runs it
with uvicorn. See :mod:`talkface.serve.app` for the routes.
"""

from __future__ import annotations

from talkface.serve.app import ServeConfig, create_app, pipeline_factory
from talkface.serve.guard import header_timeout_protocol
from talkface.serve.jobs import AnimatorFactory

__all__ = ["ServeConfig", "create_app", "pipeline_factory", "serve"]


def serve(config: ServeConfig, animator_factory: AnimatorFactory | None = None) -> None:
    """Run the server in the foreground until Ctrl-C (SIGINT) or SIGTERM (uvicorn, one process).

    Either signal stops it cleanly: no new jobs, queued ones cancelled, a running job stopped at
    its next chunk of frames (its partial video removed). Should a worker still be busy after
    that (e.g. loading models), the process exits without waiting for it rather than tearing
    down the libraries it is running in (which aborts the process).
    """
    import logging
    import os
    import sys

    import uvicorn

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config, animator_factory=animator_factory)
    uvicorn.run(app, host=config.host, port=config.port, log_level="info", access_log=False,
                timeout_keep_alive=5, timeout_graceful_shutdown=5,
                http=header_timeout_protocol(config.client_timeout_s))
    if app.state.manager.stuck_threads:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
