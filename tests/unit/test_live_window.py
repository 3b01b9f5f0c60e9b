"""The latency sketch and the rolling window of live figures: bucket math, quantiles, slots."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from farmbridge.domain.clock import FakeClock
from farmbridge.domain.latency_sketch import (
    BUCKETS,
    LIMIT_MS,
    OVERFLOW,
    UPPER_MS,
    bucket_of,
    merge,
    new_counts,
    quantile,
    reported_ms,
)
from farmbridge.domain.live_window import LiveWindow

latencies = st.lists(st.integers(min_value=0, max_value=2 * LIMIT_MS), min_size=1, max_size=300)


def exact_quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def sketch_of(values: list[int]) -> list[int]:
    counts = new_counts()
    for v in values:
        counts[bucket_of(v)] += 1
    return counts


def test_sketch_buckets_below_10_ms_are_whole_milliseconds() -> None:
    """Every latency under 10 ms has a bucket of its own, reported as itself."""
    assert [reported_ms(bucket_of(ms)) for ms in range(10)] == list(range(10))


def test_sketch_buckets_are_at_most_a_quarter_wide() -> None:
    """Above 10 ms each bucket is at most 25 % wider than its lower edge, up to 60 s."""
    assert UPPER_MS[-1] == LIMIT_MS
    for lo, hi in itertools.pairwise(UPPER_MS[9:]):
        assert lo < hi <= lo * 1.25 + 1e-9
    assert BUCKETS < 80


def test_sketch_negative_and_huge_latencies_have_buckets() -> None:
    """A latency below 0 (two hosts' clocks apart) is 0 ms; one past 60 s is the last bucket."""
    assert bucket_of(-5) == 0
    assert bucket_of(LIMIT_MS) == bucket_of(10**9) == OVERFLOW
    assert reported_ms(OVERFLOW) == LIMIT_MS


def test_quantile_of_an_empty_sketch_is_none() -> None:
    """No frames, no latency: the quantile says so instead of reading 0."""
    assert quantile(new_counts(), 0.5) is None


@given(latencies, st.sampled_from([0.5, 0.9, 0.99, 1.0]))
def test_quantile_bounds_the_exact_one_within_its_bucket(values: list[int], q: float) -> None:
    """The sketch's quantile is never below the exact one and in the same bucket."""
    exact = exact_quantile(values, q)
    got = quantile(sketch_of(values), q)
    assert got is not None
    assert bucket_of(got) == bucket_of(exact)
    assert got >= min(exact, LIMIT_MS)


@given(latencies, latencies)
def test_merge_is_the_sketch_of_both(a: list[int], b: list[int]) -> None:
    """Merging two slots' sketches gives the sketch of all their latencies."""
    counts = sketch_of(a)
    merge(counts, sketch_of(b))
    assert counts == sketch_of(a + b)


def test_window_closes_a_slot_only_when_due() -> None:
    """Nothing closes before the slot's time; then one slot with what was recorded."""
    clock = FakeClock()
    window = LiveWindow(slot_s=10, slots=3, clock=clock)
    window.connected()
    window.connected()
    window.disconnected()
    window.resumed()
    window.slow_consumer()
    for ms in (3, 3, 40):
        window.delivered(ms)
    clock.advance(9.9)
    assert window.roll(connections=1) is None
    assert window.due_in() == pytest.approx(0.1)
    clock.advance(0.1)
    slot = window.roll(connections=1)
    assert slot is not None
    assert (slot.connects, slot.disconnects, slot.resumes, slot.slow) == (2, 1, 1, 1)
    assert (slot.frames, slot.p50_ms, slot.p99_ms, slot.connections) == (3, 3, 44, 1)
    assert slot.t_ms == 1_700_000_000_000
    assert slot.seconds == 10


def test_window_starts_each_slot_empty() -> None:
    """What went into one slot is not counted again in the next."""
    clock = FakeClock()
    window = LiveWindow(slot_s=1, slots=3, clock=clock)
    window.connected()
    window.delivered(5)
    clock.advance(1)
    window.roll(connections=1)
    clock.advance(1)
    second = window.roll(connections=1)
    assert second is not None
    assert (second.connects, second.frames, second.p50_ms) == (0, 0, None)
    assert second.t_ms == 1_700_000_001_000


def test_window_keeps_only_its_newest_slots() -> None:
    """Memory is bounded: the window holds `slots` closed slots, the newest ones."""
    clock = FakeClock()
    window = LiveWindow(slot_s=1, slots=3, clock=clock)
    for i in range(10):
        for _ in range(i):
            window.connected()
        clock.advance(1)
        window.roll(connections=i)
    assert [s.connects for s in window.closed] == [7, 8, 9]


def test_window_late_roll_makes_one_longer_slot() -> None:
    """A roll that comes late (a busy loop) closes one slot that says how long it lasted."""
    clock = FakeClock()
    window = LiveWindow(slot_s=10, slots=30, clock=clock)
    window.connected()
    clock.advance(35)
    slot = window.roll(connections=0)
    assert slot is not None
    assert (slot.seconds, slot.connects, len(window.closed)) == (35, 1, 1)


def test_window_refuses_a_useless_shape() -> None:
    """A slot shorter than 0.1 s or a window of no slots is a configuration error."""
    with pytest.raises(ValueError, match="at least"):
        LiveWindow(slot_s=0.01, slots=3, clock=FakeClock())
    with pytest.raises(ValueError, match="at least one slot"):
        LiveWindow(slot_s=1, slots=0, clock=FakeClock())


@given(st.integers(min_value=-(10**6), max_value=10**7))
def test_window_records_a_latency_in_its_sketch_bucket(latency_ms: int) -> None:
    """The window's inlined recording puts every latency where the sketch says it goes."""
    clock = FakeClock()
    window = LiveWindow(slot_s=1, slots=1, clock=clock)
    window.delivered(latency_ms)
    clock.advance(1)
    slot = window.roll(connections=0)
    assert slot is not None
    assert slot.counts == tuple(sketch_of([latency_ms]))
