"""Errors `StreamClient.messages()` raises when the client stops for good.

ClientError
 +-- ClientAuthError      the server refused the token (4001, 4003, token_expired)
 +-- ClientClosedError    the server closed for a reason retrying cannot mend (1009, 4029)
"""

from __future__ import annotations


class ClientError(Exception):
    """The live-stream client stopped; `code` is the WebSocket close code, if one came."""

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason


class ClientAuthError(ClientError):
    """The token was refused or expired and there is no way to get another."""


class ClientClosedError(ClientError):
    """The server closed the connection for a fault of this client's (frame too big, abuse)."""
