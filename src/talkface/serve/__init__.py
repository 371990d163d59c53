"""``talkface serve``: a web page and an HTTP API that animate a face photo with speech.

:func:`create_app` builds the application from a :class:`ServeConfig`; :func:`serve` runs it
with uvicorn. See :mod:`talkface.serve.app` for the routes.
"""

from __future__ import annotations

from talkface.serve.app import ServeConfig, create_app, pipeline_factory

__all__ = ["ServeConfig", "create_app", "pipeline_factory", "serve"]


def serve(config: ServeConfig) -> None:
    """Run the server in the foreground until interrupted (uvicorn, one process)."""
    import logging

    import uvicorn

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="info", access_log=False)
