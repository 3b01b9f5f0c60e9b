"""The rolling window of live stream figures: fixed slots of connects, disconnects, resumes,
slow consumers and delivery latency, the last few minutes of them, in bounded memory.

Events go into the open slot: counters, and delivery latencies into a fixed-bucket sketch
(domain/latency_sketch.py), one frame at a time. `roll` closes the open slot once its time
is up, on the injected clock's monotonic time; the window keeps the newest `slots` closed
ones and forgets older ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

from farmbridge.domain.clock import Clock
from farmbridge.domain.latency_sketch import (
    INDEX,
    LIMIT_MS,
    OVERFLOW,
    new_counts,
    quantile,
)

MIN_SLOT_S: Final = 0.1
"""Shorter slots would cost more in frames to watchers than they tell."""


@dataclass(frozen=True, slots=True)
class Slot:
    """One closed slot: what happened from `t_ms` (wall time) for `seconds`."""

    t_ms: int
    seconds: float
    connections: int
    """Open connections when the slot closed."""
    connects: int
    disconnects: int
    resumes: int
    """Subscriptions that resumed with `since` (a client back after a reconnect)."""
    slow: int
    """Times a connection's queue overflowed or its socket stalled (slow consumers)."""
    frames: int
    """Frames with data written, each timed from its oldest change's storing."""
    counts: tuple[int, ...]
    """The latency sketch of those frames."""

    @property
    def p50_ms(self) -> int | None:
        return quantile(self.counts, 0.5)

    @property
    def p99_ms(self) -> int | None:
        return quantile(self.counts, 0.99)


class LiveWindow:
    """The open slot and the last `slots` closed ones, each `slot_s` long."""

    def __init__(self, *, slot_s: float, slots: int, clock: Clock) -> None:
        if slot_s < MIN_SLOT_S:
            raise ValueError(f"a slot lasts at least {MIN_SLOT_S} s")
        if slots < 1:
            raise ValueError("a window holds at least one slot")
        self.slot_s = slot_s
        self._clock = clock
        self.closed: deque[Slot] = deque(maxlen=slots)
        self._open_at = clock.monotonic()
        self._open_wall_ms = clock.wall_ms()
        self._counts = new_counts()
        self.connects = self.disconnects = self.resumes = self.slow = 0

    # Recording, into the open slot.

    def delivered(self, latency_ms: int) -> None:
        """A frame with data was written `latency_ms` after its oldest change was stored."""
        # latency_sketch.bucket_of, inlined: this runs once per frame written.
        if 0 <= latency_ms < LIMIT_MS:
            self._counts[INDEX[latency_ms]] += 1
        else:
            self._counts[OVERFLOW if latency_ms > 0 else 0] += 1

    def connected(self) -> None:
        self.connects += 1

    def disconnected(self) -> None:
        self.disconnects += 1

    def resumed(self) -> None:
        self.resumes += 1

    def slow_consumer(self) -> None:
        self.slow += 1

    # Time.

    def due_in(self) -> float:
        """Seconds until the open slot's time is up (0 when it is)."""
        return max(0.0, self._open_at + self.slot_s - self._clock.monotonic())

    def roll(self, connections: int) -> Slot | None:
        """Closes the open slot when its time is up, with `connections` open now; returns
        it, or None when it is not due. A late roll makes a longer slot, not empty ones:
        its `seconds` says how long it lasted."""
        now = self._clock.monotonic()
        if now < self._open_at + self.slot_s:
            return None
        counts = self._counts
        slot = Slot(
            t_ms=self._open_wall_ms,
            seconds=round(now - self._open_at, 3),
            connections=connections,
            connects=self.connects,
            disconnects=self.disconnects,
            resumes=self.resumes,
            slow=self.slow,
            frames=sum(counts),
            counts=tuple(counts),
        )
        self.closed.append(slot)
        self._open_at = now
        self._open_wall_ms = self._clock.wall_ms()
        self._counts = new_counts()
        self.connects = self.disconnects = self.resumes = self.slow = 0
        return slot
