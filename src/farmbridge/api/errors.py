"""The one place that maps exceptions to HTTP statuses and the error body.

Body: {"error": {"code": "...", "message": "...", "field": "..."}}. Unknown errors
become 500 internal_error with the traceback logged, never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from farmbridge.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    RateLimited,
    StoreUnavailable,
    Unauthenticated,
    ValidationFailed,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: Final[dict[type[DomainError], int]] = {
    NotFound: 404,
    Conflict: 409,
    ValidationFailed: 422,
    Unauthenticated: 401,
    Forbidden: 403,
    RateLimited: 429,
    StoreUnavailable: 503,
}


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


def error_body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    err: dict[str, object] = {"code": code, "message": message}
    if field is not None:
        err["field"] = field
    return {"error": err}


def field_path(loc: Sequence[Any], error_type: str = "") -> str:
    """`("body", "sensors", 1, "name")` -> `sensors[1].name`, the style ingest uses too."""
    if error_type == "json_invalid" or (error_type == "missing" and tuple(loc) == ("body",)):
        return "body"
    out = ""
    for i, part in enumerate(loc):
        if i == 0 and part in ("body", "query", "path", "header"):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        status = 413 if isinstance(exc, PayloadTooLarge) else STATUS_BY_ERROR.get(type(exc), 400)
        headers: dict[str, str] = {}
        if isinstance(exc, Unauthenticated):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(max(1, round(exc.retry_after_s + 0.5)))
        field = exc.field if isinstance(exc, ValidationFailed) else None
        return JSONResponse(error_body(exc.code, exc.message, field), status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = field_path(first.get("loc", ()), str(first.get("type", "")))
        body = error_body("invalid", f"{field}: {first.get('msg')}", field)
        return JSONResponse(body, 422)

    @app.exception_handler(ClientDisconnect)
    async def disconnected(_: Request, exc: ClientDisconnect) -> Response:
        return Response(status_code=499)  # nobody is listening any more

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "internal error"), 500)
