"""Pure ASGI middlewares: a request body size limit (413) and request metrics."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from farmbridge import metrics


class BodySizeLimit:
    """Checks Content-Length up front and counts streamed bytes for chunked bodies."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _refuse(send, self.max_bytes)
                return
        seen = 0
        refused = False

        async def limited() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer 413 ourselves: frameworks turn errors raised while reading
                    # the body into 400s. The app then sees a disconnect and its own
                    # answer is dropped.
                    refused = True
                    await _refuse(send, self.max_bytes)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited, guarded)


async def _refuse(send: Send, max_bytes: int) -> None:
    body = (
        b'{"error":{"code":"payload_too_large","message":"body larger than %d bytes"}}' % max_bytes
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestMetrics:
    """Counts requests by method, route template and status (bounded label values)."""

    def __init__(self, app: ASGIApp, *, route: str | None = None) -> None:
        self.app = app
        self._route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            name = self._route or getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.HTTP_REQUESTS.labels(scope["method"], name, str(status)).inc()
