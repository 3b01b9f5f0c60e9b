"""Model events on their way to the device that reports them, stamped on the wall clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from farmbridge.sim.clock import SimClock
from farmbridge.sim.devices import DeviceSpec
from farmbridge.sim.greenhouse import ModelEvent


@dataclass(frozen=True, slots=True)
class SimEvent:
    """A model event as its device reports it, at wall-clock epoch milliseconds."""

    level: str
    code: str
    message: str
    ts_ms: int


class EventOwners:
    """Hands each model event to the device that reports it, stamped on the wall clock.

    A model event concerns a sensor quantity or an actuator (`ModelEvent.subject`); the
    first of `devices` that measures or drives it reports it. An event that none of them
    concerns is dropped: no device played would know of it.

    Args:
        devices: the devices played, the first owner of a subject winning.
        clock: maps the simulated moment of an event onto the wall clock.
    """

    __slots__ = ("_clock", "_owner", "_pending")

    def __init__(self, devices: Iterable[DeviceSpec], *, clock: SimClock) -> None:
        self._clock = clock
        self._owner: dict[str, str] = {}
        for d in devices:
            if d.actuator:
                self._owner.setdefault(d.actuator, d.name)
            for s in d.sensors:
                self._owner.setdefault(d.channel(s), d.name)
        self._pending: dict[str, list[SimEvent]] = {name: [] for name in self._owner.values()}

    def owner(self, subject: str) -> str | None:
        """The device reporting events about `subject`, or None when no device does."""
        return self._owner.get(subject)

    def collect(self, events: Iterable[ModelEvent]) -> None:
        """Queues each event for its owner, stamped with the wall time of its moment."""
        for event in events:
            owner = self._owner.get(event.subject)
            if owner is not None:
                ts_ms = self._clock.wall_ms_of(event.time_s)
                self._pending[owner].append(SimEvent(event.level, event.code, event.message, ts_ms))

    def take(self, device: str) -> list[SimEvent]:
        """The events queued for `device` since the last take, oldest first."""
        pending = self._pending.get(device)
        if not pending:
            return []
        self._pending[device] = []
        return pending
