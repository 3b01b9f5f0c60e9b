"""Running the app under uvicorn, in-process, with uvloop and httptools when available."""

from __future__ import annotations

import contextlib
import gc
import socket
from collections.abc import Callable, Iterator

import uvicorn

from farmbridge import logs
from farmbridge.app import BridgeApp


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

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's, with the log flushed first: after a graceful stop uvicorn raises the
        caught SIGTERM again, which ends the process without atexit hooks, and the lines
        still queued for the log's thread would be lost."""
        with super().capture_signals():
            try:
                yield
            finally:
                logs.flush()


GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Fewer, cheaper collections for a long-running server.

    Everything alive after start-up (modules, the app) is frozen out of the collector's
    view, and the young generation is collected every 50,000 allocations instead of 700:
    with many small objects per message, the default pauses the loop for milliseconds
    hundreds of times a second under load.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def make_server(app: BridgeApp) -> BridgeServer:
    settings = app.settings
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
        # uvicorn believes X-Forwarded-For from loopback unless told otherwise: only the
        # configured proxies (none by default) may set the client's address and scheme.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
        timeout_graceful_shutdown=5,
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_frame_bytes,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        # The bridge sends its own heartbeats (announced in `welcome`); no protocol pings.
        ws_ping_interval=None,
    )
    server = BridgeServer(config)
    server.on_shutdown.append(app.shutting_down)
    tune_gc()
    return server
