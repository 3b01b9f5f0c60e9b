"""Running the app under uvicorn, in-process, with uvloop and httptools when available."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from farmbridge.config import Settings


def make_server(app: FastAPI, settings: Settings) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="auto",
        http="auto",
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)
