"""The one mapping from errors to the WebSocket's error codes and close codes.

Lookups follow the class hierarchy, nearest class first, so a subclass answers like its
parent unless it has its own entry (TokenExpired is `token_expired`, not `unauthenticated`):

DomainError                  overloaded (the server could not do it now; retry later)
+-- ValidationFailed         invalid_message
|   +-- ProtocolViolation    the violation's own code (invalid_json, unknown_type, ...)
+-- Unauthenticated          unauthenticated, close 4001
|   +-- TokenExpired         token_expired, close 4003
+-- Forbidden                forbidden
+-- NotFound                 not_found
+-- RateLimited              rate_limited
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from farmbridge.domain.errors import (
    DomainError,
    Forbidden,
    NotFound,
    RateLimited,
    TokenExpired,
    Unauthenticated,
    ValidationFailed,
)
from farmbridge.protocol.client_messages import ProtocolViolation
from farmbridge.protocol.const import CloseCode, ErrorCode

CODE_BY_ERROR: Final[Mapping[type[DomainError], ErrorCode]] = {
    DomainError: ErrorCode.OVERLOADED,
    ValidationFailed: ErrorCode.INVALID_MESSAGE,
    Unauthenticated: ErrorCode.UNAUTHENTICATED,
    TokenExpired: ErrorCode.TOKEN_EXPIRED,
    Forbidden: ErrorCode.FORBIDDEN,
    NotFound: ErrorCode.NOT_FOUND,
    RateLimited: ErrorCode.RATE_LIMITED,
}

CLOSE_BY_CODE: Final[Mapping[ErrorCode, CloseCode]] = {
    ErrorCode.UNAUTHENTICATED: CloseCode.UNAUTHENTICATED,
    ErrorCode.AUTH_TIMEOUT: CloseCode.AUTH_TIMEOUT,
    ErrorCode.TOKEN_EXPIRED: CloseCode.TOKEN_EXPIRED,
    ErrorCode.TOO_MANY_CONNECTIONS: CloseCode.TOO_MANY_CONNECTIONS,
}
"""The errors that end a connection, and the close code each ends it with."""


def error_code_of(exc: DomainError) -> ErrorCode:
    """The error code of the nearest class of `exc` that has one."""
    if isinstance(exc, ProtocolViolation):
        return exc.code
    for cls in type(exc).__mro__:
        code = CODE_BY_ERROR.get(cls)
        if code is not None:
            return code
    raise AssertionError("unreachable: DomainError has a code")  # pragma: no cover


def close_code_of(code: ErrorCode) -> CloseCode | None:
    """The close code of a connection that an error of `code` ends; None: none ends it."""
    return CLOSE_BY_CODE.get(code)
