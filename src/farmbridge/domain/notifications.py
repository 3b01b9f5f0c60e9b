"""Notifications off the dashboard: webhooks, e-mail recipients, deliveries, the retry schedule.

An outbox row (written in the transaction of the change it tells of) becomes one delivery
per target of its farm; each delivery is tried until it is delivered or has failed
`max_attempts` times, waiting `retry_delay_s(n)` after its n-th failed attempt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

from farmbridge.domain.errors import ValidationFailed

WEBHOOK_SCHEMES: Final = ("http", "https")
MAX_URL_CHARS: Final = 2048
MAX_ADDRESS_CHARS: Final = 254
MAX_RECIPIENTS: Final = 50
# Deliberately narrow (no quoted local parts, no IP literals): an address must never
# carry what could end a header line or start another one.
_ADDRESS: Final = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\Z"
)


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class TargetKind(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class Webhook:
    """A farm's outgoing webhook; `secret` keys the HMAC signature of every body sent."""

    id: int
    farm_id: int
    url: str
    description: str
    enabled: bool
    created_by: int | None
    created_ms: int
    secret: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification to one target: a row of the delivery log."""

    id: int
    outbox_id: int
    farm_id: int
    topic: str
    kind: TargetKind
    target: str
    """The webhook's id (as text) or the e-mail address."""
    state: DeliveryState
    attempts: int
    next_attempt_ms: int
    last_status: int | None
    last_error: str
    created_ms: int
    delivered_ms: int | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery claimed for an attempt, with what sending it needs."""

    delivery: Delivery
    farm_name: str
    webhook: Webhook | None
    """The target webhook (kind webhook); None when it was deleted since, or for e-mail."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to: `ok`, or the status (HTTP or SMTP) and error it met.

    `final` marks a failure that no retry can mend (no SMTP server configured, the
    webhook deleted): the delivery fails at once.
    """

    ok: bool
    status: int | None = None
    error: str = ""
    final: bool = False


@dataclass(frozen=True, slots=True)
class Attempted:
    """An attempt's outcome as the store records it."""

    delivery_id: int
    outcome: Outcome
    at_ms: int
    next_attempt_ms: int | None
    """When to try again; None when the delivery is finished (delivered or failed)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently deliveries are retried (settings FARMBRIDGE_NOTIFY_*)."""

    max_attempts: int = 10
    base_delay_s: float = 10.0
    max_delay_s: float = 3600.0

    def retry_delay_s(self, failed_attempts: int) -> float:
        """The wait after the `failed_attempts`-th failure: base * 2^(n-1), capped at max.

        No jitter: the schedule is the same every time, so a log or a test can tell when
        the next attempt comes; deliveries to one receiver spread out by their own start.
        """
        if failed_attempts < 1:
            raise ValueError("the first retry follows the first failed attempt")
        return float(min(self.base_delay_s * 2 ** (failed_attempts - 1), self.max_delay_s))

    def next_attempt_ms(self, failed_attempts: int, now_ms: int) -> int | None:
        """When to try again after `failed_attempts` failures, or None: give up."""
        if failed_attempts >= self.max_attempts:
            return None
        return now_ms + round(self.retry_delay_s(failed_attempts) * 1000)


def check_webhook_url(url: str, *, field: str = "url") -> str:
    """`url` if it is an absolute http(s) URL with a host; ValidationFailed otherwise."""
    if len(url) > MAX_URL_CHARS:
        raise ValidationFailed(f"at most {MAX_URL_CHARS} characters", field=field)
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValidationFailed("a URL has no spaces or control characters", field=field)
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number raises here
    except ValueError as exc:
        raise ValidationFailed(f"not a URL: {exc}", field=field) from None
    if parts.scheme.lower() not in WEBHOOK_SCHEMES:
        raise ValidationFailed("the URL must be http or https", field=field)
    if not parts.hostname:
        raise ValidationFailed("the URL has no host", field=field)
    return url


def check_addresses(addresses: list[str], *, field: str = "addresses") -> list[str]:
    """The addresses, trimmed; ValidationFailed naming the first bad one (`addresses[2]`)."""
    if len(addresses) > MAX_RECIPIENTS:
        raise ValidationFailed(f"at most {MAX_RECIPIENTS} recipients", field=field)
    out = []
    for i, raw in enumerate(addresses):
        address = raw.strip()
        if len(address) > MAX_ADDRESS_CHARS or not _ADDRESS.match(address):
            raise ValidationFailed(f"not an e-mail address: {raw!r}", field=f"{field}[{i}]")
        out.append(address)
    return out
