"""Running the app under uvicorn, in-process, with uvloop and httptools when available."""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from farmbridge.config import Settings


class BridgeServer(uvicorn.Server):
    """uvicorn's server, with hooks that run when shutdown begins.

    uvicorn waits for open requests before the app's lifespan ends; long polls and
    live streams must be told to finish first, or every stop takes the full grace time.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.on_shutdown: list[Callable[[], None]] = []

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for hook in self.on_shutdown:
            hook()
        await super().shutdown(sockets)


def make_server(app: FastAPI, settings: Settings) -> BridgeServer:
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
    server = BridgeServer(config)
    services = getattr(app.state, "services", None)
    if services is not None:
        server.on_shutdown.append(services.commands.close)
    return server
