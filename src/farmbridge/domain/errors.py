"""The domain's error tree; every layer raises these, the edges map them to codes.

DomainError
+-- NotFound           the thing asked for does not exist (or is not visible)
+-- Conflict           it already exists, or its state forbids the change
+-- ValidationFailed   input broke a rule; carries the field at fault
|   +-- BadPayload     a device's payload could not be read (wrong shape, type or value)
+-- Unauthenticated    no or bad credentials
|   +-- TokenExpired   the credentials were good but their time is up
+-- Forbidden          credentials fine, role too weak for that farm
+-- RateLimited        too many requests; carries the advised wait
+-- StoreUnavailable   the store could not commit (disk, database down)
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error Farm Bridge raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class ValidationFailed(DomainError):
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class BadPayload(ValidationFailed):
    """Raised by the readers of untrusted device payloads (HTTP, MQTT, LoRaWAN)."""


class Unauthenticated(DomainError):
    code = "unauthenticated"


class TokenExpired(Unauthenticated):
    """Over HTTP still `unauthenticated` (401); the WebSocket tells it apart (token_expired)."""


class Forbidden(DomainError):
    code = "forbidden"


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreUnavailable(DomainError):
    """Carries why (`reason`): disk_full, read_only, locked, io_error, unreachable or other, so an
    operator reads the cause in the 503 body and /readyz instead of a driver class name."""

    code = "store_unavailable"

    def __init__(self, message: str, *, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason
