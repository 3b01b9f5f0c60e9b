"""The token-bucket rate limiter."""

from __future__ import annotations

import pytest

from farmbridge.domain.errors import RateLimited
from farmbridge.service.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_allows_burst_then_refuses_with_wait() -> None:
    """Up to `burst` calls pass at once; the next one is refused with the time to wait."""
    clock = Clock()
    limiter = RateLimiter(rate_per_s=2, burst=3, clock=clock)
    for _ in range(3):
        limiter.take("dev")
    with pytest.raises(RateLimited) as info:
        limiter.take("dev")
    assert info.value.retry_after_s == pytest.approx(0.5)


def test_rate_limiter_refills_over_time_and_keys_are_independent() -> None:
    """Tokens come back at the rate; one key's flood does not limit another key."""
    clock = Clock()
    limiter = RateLimiter(rate_per_s=2, burst=1, clock=clock)
    limiter.take("a")
    limiter.take("b")
    with pytest.raises(RateLimited):
        limiter.take("a")
    clock.now = 0.5
    limiter.take("a")
