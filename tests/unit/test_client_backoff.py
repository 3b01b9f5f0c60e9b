"""The client's reconnect delays: full jitter, growth, cap, reset and a server's retry-after."""

from __future__ import annotations

import random

import pytest

from farmbridge.client.backoff import RESTART_JITTER_MAX_S, Backoff, full_jitter_s


def top(a: float, b: float) -> float:
    """A random source that always draws the top of the range."""
    return b


def bottom(a: float, b: float) -> float:
    return a


def test_full_jitter_ceiling_doubles_from_base() -> None:
    """The ceiling of attempt n is base * 2**n while under the cap."""
    ceilings = [full_jitter_s(n, base_s=0.25, max_s=100.0, uniform=top) for n in range(5)]
    assert ceilings == [0.25, 0.5, 1.0, 2.0, 4.0]


def test_full_jitter_ceiling_stops_at_cap_even_for_huge_attempts() -> None:
    """No attempt, however late, draws from beyond max_s (and nothing overflows)."""
    assert full_jitter_s(7, base_s=0.25, max_s=30.0, uniform=top) == 30.0
    assert full_jitter_s(10_000, base_s=0.25, max_s=30.0, uniform=top) == 30.0


def test_full_jitter_draws_over_the_whole_window_from_zero() -> None:
    """Full jitter: the low end of every window is 0, not a fraction of the ceiling."""
    assert full_jitter_s(6, base_s=0.25, max_s=30.0, uniform=bottom) == 0.0


def test_backoff_delays_stay_in_bounds_with_a_real_random_source() -> None:
    """Seeded draws all fall in [0, min(max, base * 2**attempt)]."""
    backoff = Backoff(base_s=0.1, max_s=5.0, uniform=random.Random(7).uniform)
    for attempt in range(40):
        delay = backoff.next_delay_s()
        assert 0.0 <= delay <= min(5.0, 0.1 * 2**attempt)


def test_backoff_grows_per_attempt_then_reset_starts_over() -> None:
    """Each failure widens the window; a reset (after authenticated) goes back to base."""
    backoff = Backoff(base_s=1.0, max_s=60.0, uniform=top)
    assert [backoff.next_delay_s() for _ in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff.attempt == 4
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay_s() == 1.0


def test_backoff_retry_after_is_a_floor_with_jitter_on_top() -> None:
    """A server's retry_after is waited in full, and the jitter comes on top of it."""
    low = Backoff(base_s=0.25, max_s=30.0, uniform=bottom)
    assert low.next_delay_s(retry_after_s=5.0) == 5.0
    high = Backoff(base_s=0.25, max_s=30.0, uniform=top)
    assert high.next_delay_s(retry_after_s=5.0) == 5.25
    seeded = Backoff(base_s=0.25, max_s=30.0, uniform=random.Random(3).uniform)
    assert all(seeded.next_delay_s(retry_after_s=2.0) >= 2.0 for _ in range(20))


def test_backoff_retry_after_counts_as_an_attempt() -> None:
    """Waiting out a retry-after still widens the next window."""
    backoff = Backoff(base_s=1.0, max_s=60.0, uniform=top)
    backoff.next_delay_s(retry_after_s=3.0)
    assert backoff.next_delay_s() == 2.0


def test_backoff_restart_delay_is_tiny_and_resets() -> None:
    """After a server restart the client comes back within 100 ms, from attempt 0."""
    backoff = Backoff(base_s=1.0, max_s=60.0, uniform=top)
    for _ in range(5):
        backoff.next_delay_s()
    assert backoff.restart_delay_s() == RESTART_JITTER_MAX_S == 0.1
    assert backoff.attempt == 0
    assert backoff.next_delay_s() == 1.0


def test_backoff_jitter_leaves_the_attempt_count_alone() -> None:
    """The small jitter used for a retried subscribe does not reset the backoff."""
    backoff = Backoff(base_s=1.0, max_s=60.0, uniform=top)
    backoff.next_delay_s()
    assert backoff.jitter_s() <= RESTART_JITTER_MAX_S
    assert backoff.attempt == 1


def test_backoff_refuses_negative_delays() -> None:
    """A negative base or cap is a configuration error, raised at once."""
    with pytest.raises(ValueError, match="negative"):
        Backoff(base_s=-1.0, max_s=1.0)
