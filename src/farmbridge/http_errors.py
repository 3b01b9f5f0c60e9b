"""The one mapping from domain errors to HTTP statuses and the error body, for every HTTP edge.

Body: {"error": {"code": "...", "message": "...", "field": "..."}}; an `internal_error`
also carries the `request_id` that its log line has.
"""

from __future__ import annotations

from typing import Final

import orjson

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


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


STATUS_BY_ERROR: Final[dict[type[DomainError], int]] = {
    NotFound: 404,
    Conflict: 409,
    ValidationFailed: 422,
    Unauthenticated: 401,
    Forbidden: 403,
    RateLimited: 429,
    StoreUnavailable: 503,
    PayloadTooLarge: 413,
}


def status_of(exc: DomainError) -> int:
    """The status of the nearest class in `exc`'s hierarchy that has one, so a subclass
    (TokenExpired, BadPayload) answers like its parent and never falls back to 400."""
    for cls in type(exc).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status
    return 400


def error_body(
    code: str, message: str, field: str | None = None, *, request_id: str | None = None
) -> dict[str, object]:
    err: dict[str, object] = {"code": code, "message": message}
    if field is not None:
        err["field"] = field
    if request_id is not None:
        err["request_id"] = request_id
    return {"error": err}


def internal_error_body(request_id: str) -> bytes:
    """The 500 answer: nothing about the error itself, only the id to find its log line."""
    return orjson.dumps(error_body("internal_error", "internal error", request_id=request_id))


def error_response(exc: DomainError) -> tuple[int, bytes, dict[str, str]]:
    """(status, JSON body, extra headers) for a domain error."""
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s + 0.5)))
    field = exc.field if isinstance(exc, ValidationFailed) else None
    return status, orjson.dumps(error_body(exc.code, exc.message, field)), headers
