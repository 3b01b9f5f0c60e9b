"""The one mapping from errors to WebSocket error and close codes follows the class tree."""

from __future__ import annotations

import pytest

from farmbridge.domain.errors import (
    BadPayload,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    RateLimited,
    StoreUnavailable,
    TokenExpired,
    Unauthenticated,
    ValidationFailed,
)
from farmbridge.protocol.client_messages import ProtocolViolation, parse
from farmbridge.protocol.const import CloseCode, ErrorCode
from farmbridge.ws.errors import close_code_of, error_code_of


class NoSuchDevice(NotFound):
    """A subclass without an entry of its own."""


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (TokenExpired("token expired"), ErrorCode.TOKEN_EXPIRED),
        (Unauthenticated("token expired"), ErrorCode.UNAUTHENTICATED),
        (Forbidden("no"), ErrorCode.FORBIDDEN),
        (NoSuchDevice("gone"), ErrorCode.NOT_FOUND),
        (RateLimited("slow down", retry_after_s=1), ErrorCode.RATE_LIMITED),
        (BadPayload("bad"), ErrorCode.INVALID_MESSAGE),
        (StoreUnavailable("disk"), ErrorCode.OVERLOADED),
        (Conflict("exists"), ErrorCode.OVERLOADED),
        (DomainError("?"), ErrorCode.OVERLOADED),
    ],
)
def test_error_code_of_follows_the_class_hierarchy(exc: DomainError, code: ErrorCode) -> None:
    """Each error gets the code of its nearest class with one, never by its message's words."""
    assert error_code_of(exc) is code


def test_protocol_violations_are_domain_errors_with_their_own_code() -> None:
    """A refused client message is a ValidationFailed whose code is the violation's own."""
    with pytest.raises(ProtocolViolation) as info:
        parse(b'{"type": "subscribe", "farm": "one"}')
    assert isinstance(info.value, ValidationFailed)
    assert info.value.field == "farm"
    assert error_code_of(info.value) is ErrorCode.INVALID_MESSAGE
    assert error_code_of(ProtocolViolation(ErrorCode.UNKNOWN_TYPE, "?")) is ErrorCode.UNKNOWN_TYPE


def test_close_code_of_names_the_errors_that_end_a_connection() -> None:
    """Auth failures, the auth timeout and the per-user limit close; other errors do not."""
    assert close_code_of(ErrorCode.UNAUTHENTICATED) is CloseCode.UNAUTHENTICATED
    assert close_code_of(ErrorCode.TOKEN_EXPIRED) is CloseCode.TOKEN_EXPIRED
    assert close_code_of(ErrorCode.AUTH_TIMEOUT) is CloseCode.AUTH_TIMEOUT
    assert close_code_of(ErrorCode.TOO_MANY_CONNECTIONS) is CloseCode.TOO_MANY_CONNECTIONS
    for code in (ErrorCode.FORBIDDEN, ErrorCode.INVALID_JSON, ErrorCode.RATE_LIMITED):
        assert close_code_of(code) is None
