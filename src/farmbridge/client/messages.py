"""What `StreamClient.messages()` yields: frozen records decoded from the wire.

Times are epoch milliseconds. `Change` is the base of the four kinds of data change;
match on the subclass (or on `kind`) to read its fields.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from farmbridge.client.state import ConnectionState
from farmbridge.protocol.const import ErrorCode


class ChangeKind(StrEnum):
    READING = "reading"
    DEVICE_STATUS = "device_status"
    EVENT = "event"
    COMMAND = "command"


@dataclass(frozen=True, slots=True)
class SnapshotDevice:
    id: int
    name: str
    kind: str
    title: str
    state: str
    actuator: dict[str, Any]
    status_ts_ms: int
    last_seen_ms: int | None


@dataclass(frozen=True, slots=True)
class SnapshotSensor:
    id: int
    device_id: int
    name: str
    unit: str
    min: float | None
    max: float | None
    value: float | None
    ts_ms: int | None
    seq: int | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A farm's whole state as of `seq`: the start of a subscription without `since`."""

    farm: int
    seq: int
    epoch: str
    devices: tuple[SnapshotDevice, ...]
    sensors: tuple[SnapshotSensor, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Change(ABC):
    """One change of a farm, in `seq` order; `sent_ms` is when the server wrote its frame.

    `received_at_ms` is this client's wall clock when the frame arrived.
    """

    farm: int
    seq: int
    kind: ChangeKind
    sent_ms: int
    received_at_ms: int

    @property
    @abstractmethod
    def committed_ms(self) -> int:
        """When the bridge committed the change."""

    @property
    def latency_ms(self) -> int:
        """From the bridge's commit to this client's receipt (clocks of two hosts)."""
        return self.received_at_ms - self.committed_ms


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredChange(Change):
    """A change a device reported: its own timestamp, and when the bridge stored it."""

    ts_ms: int
    stored_ms: int

    @property
    def committed_ms(self) -> int:
        return self.stored_ms


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadingChange(StoredChange):
    kind: ChangeKind = field(default=ChangeKind.READING, init=False)
    sensor_id: int
    value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChange(StoredChange):
    kind: ChangeKind = field(default=ChangeKind.DEVICE_STATUS, init=False)
    device_id: int
    state: str
    actuator: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventChange(StoredChange):
    kind: ChangeKind = field(default=ChangeKind.EVENT, init=False)
    device_id: int
    level: str
    code: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandChange(Change):
    """A command's new state; `ts_ms` is when it changed, which is also when it was stored."""

    kind: ChangeKind = field(default=ChangeKind.COMMAND, init=False)
    command_id: int
    device_id: int
    state: str
    action: str
    detail: str | None
    ts_ms: int

    @property
    def committed_ms(self) -> int:
        return self.ts_ms


@dataclass(frozen=True, slots=True)
class Resynced:
    """The server ended a farm's subscription; a fresh `Snapshot` of it follows."""

    farm: int
    reason: str


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """The server ended a farm's subscription: `requested`, `forbidden` or `token_expired`.

    After `token_expired` the client re-authenticates (with a token callable) and resumes.
    """

    farm: int
    reason: str


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: ConnectionState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ServerError:
    """An `error` message; `farm` is set when it answers one of this client's subscribes."""

    code: ErrorCode | str
    message: str
    farm: int | None = None
    retry_after_ms: int | None = None


Message = Snapshot | Change | Resynced | Unsubscribed | StateChanged | ServerError
