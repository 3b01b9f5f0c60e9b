"""Pure ASGI middlewares: the request's context (id, unexpected errors, security headers),
a request body size limit (413) and request metrics."""

from __future__ import annotations

import logging
import os
import re
from typing import Final

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from farmbridge import metrics
from farmbridge.http_errors import internal_error_body

log = logging.getLogger(__name__)

REQUEST_ID_HEADER: Final = b"x-request-id"
SANE_REQUEST_ID: Final = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")
"""An incoming id is kept only when it is short and plain: it goes into logs and headers."""

DASHBOARD_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""The dashboard loads only its own files and talks only to its own origin (REST and /ws)."""
COMMON_HEADERS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
"""On every answer: JSON is never sniffed into something else, no URL leaks in a Referer."""
HTML_HEADERS: Final = ((b"x-frame-options", b"DENY"),)
"""On every page: no other site may frame the actuator controls (with CSP frame-ancestors)."""


def request_id_of(scope: Scope) -> str:
    """The request's id: a sane incoming `X-Request-ID`, else a new random one."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            if SANE_REQUEST_ID.fullmatch(value):
                return bytes(value).decode()
            break
    return os.urandom(16).hex()  # as random as uuid4, at a fifth of its cost


def _with_headers(message: Message, request_id: str, csp: bytes) -> Message:
    headers = list(message.get("headers", ()))
    is_html = has_csp = False
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-type":
            is_html = value.startswith(b"text/html")
        elif lowered == b"content-security-policy":  # /docs brings its own
            has_csp = True
    headers.append((REQUEST_ID_HEADER, request_id.encode()))
    headers.extend(COMMON_HEADERS)
    if is_html:
        headers.extend(HTML_HEADERS)
        if not has_csp:
            headers.append((b"content-security-policy", csp))
    return {**message, "headers": headers}


class RequestContext:
    """The outermost HTTP layer: gives each request an id (bound into every log line of
    the request and sent back as `X-Request-ID`), adds the security headers, and is the
    one place an unexpected error is logged (once, with its plain traceback) and answered
    (500 `internal_error` with the id), without waiting on the log's rendering.
    """

    def __init__(self, app: ASGIApp, *, csp: str = DASHBOARD_CSP) -> None:
        self.app = app
        self._csp = csp.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = _with_headers(message, request_id, self._csp)
            await send(message)

        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not started:  # else the client sees a cut answer; nothing more can be said
                await _internal_error(sending, request_id)
        finally:
            structlog.contextvars.reset_contextvars(**bound)


async def _internal_error(send: Send, request_id: str) -> None:
    body = internal_error_body(request_id)
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


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
