"""A fixed-bucket latency sketch: counts per bucket of whole milliseconds, and its quantiles.

The buckets are 1 ms wide up to 10 ms, then at most 25 % wide up to 60 s; one bucket holds
everything slower. Recording is one table lookup and one list increment, so the delivery
path can time every frame; memory is `BUCKETS` integers per sketch whatever the traffic.
A quantile is reported as the largest whole millisecond of the bucket it falls in: the
true value is at most that, and (below 10 ms) exactly that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

_MANTISSAS: Final = (1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0)

LIMIT_MS: Final = 60_000
"""Latencies from here on share the last bucket."""


def _upper_bounds() -> tuple[int, ...]:
    """Exclusive upper bounds of the buckets below LIMIT_MS, in ms."""
    bounds = list(range(1, 11))  # [0,1) .. [9,10): whole ms, exact
    decade = 10
    while decade < LIMIT_MS:
        for m in _MANTISSAS:
            bound = round(m * decade)
            if bounds[-1] < bound <= LIMIT_MS:
                bounds.append(bound)
        decade *= 10
    if bounds[-1] != LIMIT_MS:
        bounds.append(LIMIT_MS)
    return tuple(bounds)


UPPER_MS: Final = _upper_bounds()
"""Bucket i holds [UPPER_MS[i-1], UPPER_MS[i]) ms (bucket 0 from 0); bucket OVERFLOW the rest."""
OVERFLOW: Final = len(UPPER_MS)
BUCKETS: Final = OVERFLOW + 1


def _index_table() -> bytes:
    table = bytearray(LIMIT_MS)
    bucket = 0
    for ms in range(LIMIT_MS):
        while ms >= UPPER_MS[bucket]:
            bucket += 1
        table[ms] = bucket
    return bytes(table)


INDEX: Final = _index_table()
"""The bucket of each whole ms below LIMIT_MS."""


def bucket_of(latency_ms: int) -> int:
    """The bucket of a latency; negative ones (clocks of two hosts apart) count as 0 ms."""
    if latency_ms < LIMIT_MS:
        return INDEX[latency_ms] if latency_ms >= 0 else 0
    return OVERFLOW


def reported_ms(bucket: int) -> int:
    """What a quantile in `bucket` reads as: its largest whole ms (LIMIT_MS for the last)."""
    return UPPER_MS[bucket] - 1 if bucket < OVERFLOW else LIMIT_MS


def new_counts() -> list[int]:
    return [0] * BUCKETS


def quantile(counts: Sequence[int], q: float) -> int | None:
    """The `q` quantile (0 < q <= 1) of what `counts` holds, in ms; None when it is empty.

    The nearest-rank quantile: the smallest latency with at least `q` of them at or below.
    """
    total = sum(counts)
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket, n in enumerate(counts):
        seen += n
        if seen >= rank:
            return reported_ms(bucket)
    raise AssertionError("unreachable: the ranks add up to the total")  # pragma: no cover


def merge(into: list[int], other: Sequence[int]) -> None:
    """Adds `other`'s counts to `into` (the quantiles of several slots together)."""
    for i, n in enumerate(other):
        into[i] += n
