"""Typed results of the store's writes that stream: what was written and its changes.

A write that commits changes (ingest, command updates) answers with a record whose
`changes` are exactly what the store's listeners hear after the commit, in seq order;
nobody has to guess a result's shape to find them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from farmbridge.domain import (
    Alarm,
    AlarmRule,
    AlarmUpdate,
    Change,
    Command,
    CommandUpdate,
    DeviceRemoved,
    DeviceState,
    StatusRecord,
)


class Streamed(Protocol):
    """A write result carrying the changes it committed, in seq order."""

    @property
    def changes(self) -> Sequence[Change]: ...


@dataclass(frozen=True, slots=True)
class CommandChanged:
    """A command as written (created or moved to a new state) and the update that streams."""

    command: Command
    update: CommandUpdate
    alarms: tuple[AlarmUpdate, ...] = ()
    """The alarm changes the update caused (command_failed rules), after it in seq order."""

    @property
    def changes(self) -> tuple[Change, ...]:
        return (self.update, *self.alarms)


@dataclass(frozen=True, slots=True)
class CommandsExpired:
    """The commands that timed out in one sweep, as their updates, in seq order."""

    updates: tuple[CommandUpdate, ...] = ()
    alarms: tuple[AlarmUpdate, ...] = ()

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(sorted((*self.updates, *self.alarms), key=lambda c: c.seq))


@dataclass(frozen=True, slots=True)
class AlarmsChanged:
    """Alarm changes one write made (an acknowledgement, a timer sweep), in seq order."""

    updates: tuple[AlarmUpdate, ...] = ()

    @property
    def changes(self) -> tuple[Change, ...]:
        return self.updates


@dataclass(frozen=True, slots=True)
class RuleChanged:
    """A rule as written (None once deleted) and the alarm changes that caused: a replaced
    or deleted rule clears the alarms it held raised."""

    rule: AlarmRule | None
    updates: tuple[AlarmUpdate, ...] = ()

    @property
    def changes(self) -> tuple[Change, ...]:
        return self.updates


@dataclass(frozen=True, slots=True)
class AlarmAcked:
    """An alarm after an acknowledgement, and its change (none when it was acknowledged
    already: a second acknowledgement changes nothing)."""

    alarm: Alarm
    updates: tuple[AlarmUpdate, ...] = ()

    @property
    def changes(self) -> tuple[Change, ...]:
        return self.updates


@dataclass(frozen=True, slots=True)
class OfflineCandidate:
    """A device the liveness sweep found silent, as it saw it: marked offline only if its
    state and last-seen are still these when the write runs."""

    device_id: int
    farm_id: int
    state: DeviceState
    last_seen_ms: int


@dataclass(frozen=True, slots=True)
class MarkedOffline:
    """The offline status changes one sweep stored (none for a device heard of since)."""

    records: tuple[StatusRecord, ...] = ()
    alarms: tuple[AlarmUpdate, ...] = ()
    """What the offline statuses raised or cleared (`offline` rules), in the same commit."""
    ordered: tuple[Change, ...] = ()
    """Every change of the commit in seq order: each status, then what it raised."""

    @property
    def changes(self) -> tuple[Change, ...]:
        return self.ordered or self.records


@dataclass(frozen=True, slots=True)
class FarmDeleted:
    """What went with a deleted farm that the services cache or watch by id."""

    farm_id: int
    device_ids: tuple[int, ...]
    display_ids: tuple[int, ...]
    member_ids: tuple[int, ...]
    pending_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeviceDeleted:
    """A deleted device's removal, the change that streams it."""

    removal: DeviceRemoved

    @property
    def changes(self) -> tuple[Change, ...]:
        return (self.removal,)
