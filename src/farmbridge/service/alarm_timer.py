"""The alarm timer: on each tick of the injected clock, one write job raises what held long
enough with no new input (durations of threshold rules, no_data, offline for).

The job runs under each farm's row lock (store/alarm_writes.py), so ticks of several
instances on one database raise each transition once (docs/design.md, Alarms).
"""

from __future__ import annotations

from farmbridge.domain import AlarmUpdate
from farmbridge.domain.clock import Clock
from farmbridge.store import AlarmStore


class AlarmTimer:
    def __init__(self, store: AlarmStore, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def tick(self) -> list[AlarmUpdate]:
        """Evaluates the timed rules at the clock's wall time; returns the alarm changes."""
        done = await self._store.evaluate_alarm_timers(self._clock.wall_ms())
        return list(done.updates)
