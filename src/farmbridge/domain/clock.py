"""The one clock every layer reads: wall time for timestamps, monotonic time for intervals.

Nothing in Farm Bridge reads `time` directly; it is given a `Clock`, so tests of expiry,
rate limits, liveness and time-outs move a `FakeClock` and run at once, deterministically.
"""

from __future__ import annotations

import time
from typing import Final, Protocol


class Clock(Protocol):
    """Wall and monotonic time in the units the code needs them."""

    def wall_ms(self) -> int:
        """Epoch milliseconds (UTC): the unit of every stored and streamed timestamp."""
        ...

    def wall_s(self) -> float:
        """Epoch seconds, for token expiry (JWT `exp` is in seconds)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes back: for intervals only."""
        ...


class SystemClock:
    """The machine's clocks."""

    __slots__ = ()

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def wall_s(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK: Final[Clock] = SystemClock()


class FakeClock:
    """A clock that moves only when told to: `advance(seconds)` moves wall and monotonic
    time together, `set_wall_ms` jumps the wall clock alone (an NTP step)."""

    __slots__ = ("_mono_s", "_wall_ms_f")

    def __init__(self, *, wall_ms: int = 1_700_000_000_000, monotonic_s: float = 1_000.0) -> None:
        self._wall_ms_f = float(wall_ms)
        self._mono_s = monotonic_s

    def wall_ms(self) -> int:
        return int(self._wall_ms_f)

    def wall_s(self) -> float:
        return self._wall_ms_f / 1000

    def monotonic(self) -> float:
        return self._mono_s

    def advance(self, seconds: float) -> None:
        """Moves both clocks forward by `seconds` (never backward)."""
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self._mono_s += seconds
        self._wall_ms_f += seconds * 1000

    def set_wall_ms(self, wall_ms: int) -> None:
        self._wall_ms_f = float(wall_ms)
