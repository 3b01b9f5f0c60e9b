"""Simulated time: faster than an injected `Clock`, and mapped back onto it for timestamps."""

from __future__ import annotations

import time

from farmbridge.domain.clock import Clock


class SimClock:
    """Simulated epoch seconds running `time_scale` times as fast as `clock`'s monotonic time.

    Only the model runs fast: what a device sends carries the real wall time, which the
    bridge checks against its own, so simulated moments are mapped back onto the wall clock
    (`wall_ms_of`) to stamp what the model raised.

    Args:
        clock: the real clock; a FakeClock in tests.
        time_scale: simulated seconds per real second; 720 shows a day in two minutes.
        start_s: the simulated epoch second it is now; None for the wall clock's.

    Raises ValueError for a `time_scale` that is not positive.
    """

    __slots__ = ("_origin_mono_s", "_origin_sim_s", "_origin_wall_s", "clock", "time_scale")

    def __init__(self, *, clock: Clock, time_scale: float = 1.0, start_s: float | None = None):
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.clock = clock
        self.time_scale = time_scale
        self.anchor(clock.wall_s() if start_s is None else start_s)

    def anchor(self, sim_s: float) -> None:
        """Makes it simulated second `sim_s` now; time runs on from there, so a simulator
        started again goes on from where its model is instead of jumping."""
        self._origin_sim_s = sim_s
        self._origin_mono_s = self.clock.monotonic()
        self._origin_wall_s = self.clock.wall_s()

    def now_s(self) -> float:
        """The simulated epoch second it is now."""
        elapsed_s = self.clock.monotonic() - self._origin_mono_s
        return self._origin_sim_s + elapsed_s * self.time_scale

    def wall_ms_of(self, sim_s: float) -> int:
        """The wall-clock epoch milliseconds at which simulated second `sim_s` was simulated,
        never past now (the bridge refuses timestamps from the future)."""
        wall_s = self._origin_wall_s + (sim_s - self._origin_sim_s) / self.time_scale
        return min(self.clock.wall_ms(), int(wall_s * 1000))

    def utc_offset_s(self) -> int:
        """Local time minus UTC now, in seconds: puts the model's noon at the local noon."""
        return time.localtime(self.clock.wall_s()).tm_gmtoff
