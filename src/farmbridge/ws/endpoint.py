"""The /ws ASGI endpoint: admission (capacity, Origin, cookie), then one Connection."""

from __future__ import annotations

import contextlib
import logging
from http.cookies import SimpleCookie
from typing import Any

from starlette.types import Receive, Scope, Send

from farmbridge import metrics
from farmbridge.domain.clock import Clock
from farmbridge.protocol import server_messages as out
from farmbridge.protocol.const import CloseCode, ErrorCode
from farmbridge.service.access import AccessService
from farmbridge.service.connections import ConnectionRegistry
from farmbridge.service.live_stats import LiveStats
from farmbridge.service.stream import StreamService
from farmbridge.ws.connection import Connection
from farmbridge.ws.limits import WsLimits

log = logging.getLogger(__name__)

TOKEN_COOKIE = "farmbridge_token"  # noqa: S105 - a cookie name


class WsEndpoint:
    def __init__(
        self,
        *,
        access: AccessService,
        stream: StreamService,
        registry: ConnectionRegistry,
        limits: WsLimits,
        clock: Clock,
        stats: LiveStats | None = None,
    ) -> None:
        """`stats` records this instance's live figures (one of its own when not given)."""
        self._access = access
        self._stream = stream
        self._registry = registry
        self._limits = limits
        self._clock = clock
        self._stats = stats or LiveStats(registry=registry, clock=clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        await send({"type": "websocket.accept"})
        if len(self._registry) >= self._limits.max_connections:
            # Told how long to wait, returning clients spread out instead of storming back.
            retry_ms = int(self._limits.overload_retry_s * 1000)
            await send(
                {
                    "type": "websocket.send",
                    "text": out.error(
                        ErrorCode.OVERLOADED, "server at capacity", retry_after_ms=retry_ms
                    ),
                }
            )
            await send(
                {
                    "type": "websocket.close",
                    "code": CloseCode.TRY_AGAIN_LATER,
                    "reason": f"retry_after_ms={retry_ms}",
                }
            )
            return
        client = scope.get("client")
        conn = Connection(
            send=send,
            access=self._access,
            stream=self._stream,
            registry=self._registry,
            limits=self._limits,
            clock=self._clock,
            remote=f"{client[0]}:{client[1]}" if client else "unknown",
            cookie_token=self._cookie_token(headers),
            stats=self._stats,
        )
        self._registry.add(conn)
        metrics.WS_CONNECTIONS.inc()
        self._stats.window.connected()
        try:
            with contextlib.suppress(OSError):
                await conn.run(receive)
        finally:
            self._registry.remove(conn)
            metrics.WS_CONNECTIONS.dec()
            self._stats.window.disconnected()

    def _cookie_token(self, headers: dict[str, Any]) -> str | None:
        """A session cookie counts only from an allowed Origin (cross-site hijacking)."""
        raw = headers.get("cookie")
        if not raw:
            return None
        morsel = SimpleCookie(raw).get(TOKEN_COOKIE)
        if morsel is None:
            return None
        origin = headers.get("origin")
        host = headers.get("host", "")
        allowed = set(self._limits.allowed_origins) | {f"http://{host}", f"https://{host}"}
        if origin not in allowed:
            log.warning("ignoring session cookie from origin %r", origin)
            return None
        return morsel.value
