"""The HTTP status of a domain error follows its class hierarchy."""

from __future__ import annotations

from farmbridge.domain.errors import (
    BadPayload,
    DomainError,
    TokenExpired,
    Unauthenticated,
    ValidationFailed,
)
from farmbridge.http_errors import error_response, status_of


def test_status_of_a_subclass_is_its_parents() -> None:
    """TokenExpired answers 401 like Unauthenticated, BadPayload 422 like ValidationFailed."""
    assert status_of(TokenExpired("token expired")) == status_of(Unauthenticated("x")) == 401
    assert status_of(BadPayload("bad", field="ts")) == status_of(ValidationFailed("x")) == 422


def test_status_of_an_unmapped_error_is_400() -> None:
    """An error with no mapped ancestor below DomainError is a plain bad request."""
    assert status_of(DomainError("odd")) == 400


def test_error_response_of_an_expired_token_asks_for_a_bearer() -> None:
    """A subclass keeps the parent's headers too: 401 with WWW-Authenticate."""
    status, body, headers = error_response(TokenExpired("token expired"))
    assert status == 401
    assert headers["WWW-Authenticate"] == "Bearer"
    assert b'"unauthenticated"' in body
