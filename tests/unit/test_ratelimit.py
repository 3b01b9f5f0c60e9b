"""The token-bucket rate limiter."""

from __future__ import annotations

import pytest

from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import RateLimited
from farmbridge.service.ratelimit import RateLimiter


def test_rate_limiter_allows_burst_then_refuses_with_wait() -> None:
    """Up to `burst` calls pass at once; the next one is refused with the time to wait."""
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=2, burst=3, clock=clock)
    for _ in range(3):
        limiter.take("dev")
    with pytest.raises(RateLimited) as info:
        limiter.take("dev")
    assert info.value.retry_after_s == pytest.approx(0.5)


def test_rate_limiter_refills_over_time_and_keys_are_independent() -> None:
    """Tokens come back at the rate; one key's flood does not limit another key."""
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=2, burst=1, clock=clock)
    limiter.take("a")
    limiter.take("b")
    with pytest.raises(RateLimited):
        limiter.take("a")
    clock.advance(0.5)
    limiter.take("a")


def test_rate_limiter_ignores_wall_clock_steps() -> None:
    """A wall-clock jump (an NTP step) neither refills nor drains a bucket: it runs on
    monotonic time."""
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=1, burst=1, clock=clock)
    limiter.take("a")
    clock.set_wall_ms(clock.wall_ms() + 3_600_000)
    with pytest.raises(RateLimited):
        limiter.take("a")


def test_rate_limiter_defaults_to_the_system_clock() -> None:
    """Without a clock the limiter still works, on the machine's monotonic time."""
    limiter = RateLimiter(rate_per_s=0.001, burst=1)
    limiter.take("a")
    with pytest.raises(RateLimited):
        limiter.take("a")
