"""The one place that maps exceptions to HTTP statuses and the error body.

Body: {"error": {"code": "...", "message": "...", "field": "..."}}. Unknown errors
become 500 internal_error with the traceback logged, never sent.
"""

from __future__ import annotations

import logging
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or None
        body = error_body("invalid", f"{field or 'request'}: {first.get('msg')}", field)
        return JSONResponse(body, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "internal error"), 500)
