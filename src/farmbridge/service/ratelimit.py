"""Token-bucket rate limits keyed by anything hashable (a device, a user, an address)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Final

from farmbridge.domain.clock import SYSTEM_CLOCK, Clock
from farmbridge.domain.errors import RateLimited

MAX_TRACKED_KEYS: Final = 100_000


class RateLimiter:
    """Allows `rate_per_s` on average with bursts up to `burst`; memory bounded by key count.

    Buckets refill on `clock`'s monotonic time (the machine's unless told otherwise).
    """

    def __init__(
        self,
        *,
        rate_per_s: float,
        burst: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._rate = rate_per_s
        self._burst = burst
        self._clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def take(self, key: Hashable, cost: float = 1.0) -> None:
        """Spends `cost` tokens of `key`'s bucket or raises RateLimited with the wait."""
        now = self._clock.monotonic()
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            raise RateLimited("rate limit exceeded", retry_after_s=(cost - tokens) / self._rate)
        if len(self._buckets) >= MAX_TRACKED_KEYS and key not in self._buckets:
            # Full buckets carry no state worth keeping; forget them first.
            self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self._burst}
        self._buckets[key] = (tokens - cost, now)
