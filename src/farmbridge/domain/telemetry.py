"""What devices report: sensors, readings, status changes, events, and an ingest batch of them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from farmbridge.domain.devices import DeviceState, DeviceStatus


@dataclass(frozen=True, slots=True)
class Sensor:
    """One metric of a device; `min_value`/`max_value` bound what a reading may carry."""

    id: int
    device_id: int
    farm_id: int
    name: str
    unit: str
    min_value: float | None = None
    max_value: float | None = None
    last_value: float | None = None
    last_ts_ms: int | None = None
    last_seq: int | None = None


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """A sensor to register: its name on the device, unit and the bounds of its readings."""

    name: str
    unit: str = ""
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    sensor_id: int
    device_id: int
    farm_id: int
    value: float
    ts_ms: int
    received_ms: int
    seq: int = 0


@dataclass(frozen=True, slots=True)
class ReadingBucket:
    """Readings of one sensor aggregated over [start_ms, start_ms + width)."""

    start_ms: int
    count: int
    min: float
    avg: float
    max: float


class EventLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ALARM = "alarm"


@dataclass(frozen=True, slots=True)
class Event:
    farm_id: int
    device_id: int | None
    level: EventLevel
    code: str
    message: str
    ts_ms: int
    received_ms: int = 0
    seq: int = 0
    id: int = 0


@dataclass(frozen=True, slots=True)
class StatusChange:
    state: DeviceState
    actuator: dict[str, Any]
    ts_ms: int


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """A stored status change of one device."""

    farm_id: int
    device_id: int
    status: DeviceStatus
    received_ms: int = 0

    @property
    def seq(self) -> int:
        return self.status.seq


Stored = Reading | Event | StatusRecord


@dataclass(frozen=True, slots=True)
class ReadingIn:
    """A reading as a device sent it, its sensor resolved, before it has a sequence."""

    sensor_id: int
    value: float
    ts_ms: int


@dataclass(frozen=True, slots=True)
class EventIn:
    level: EventLevel
    code: str
    message: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class IngestBatch:
    """Everything one device sent in one message; stored all together or not at all."""

    device_id: int
    farm_id: int
    received_ms: int
    readings: tuple[ReadingIn, ...] = ()
    status: StatusChange | None = None
    events: tuple[EventIn, ...] = ()
    message_id: str | None = None
    sign_of_life: bool = True
    """False for what is no sign the device lives (an MQTT broker's retained message):
    it is stored but neither moves last-seen nor brings the device back online."""
    dedup_since_ms: int | None = None
    """With a message id: a stored id received before this (epoch ms) names another
    message that happened to share it, so this one is stored and the id row names it from
    then on; None takes every stored id as this message (an id the device chose)."""

    @property
    def size(self) -> int:
        return len(self.readings) + len(self.events) + (1 if self.status else 0)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What the store did with a batch: the sequence range it used, or that it had it already."""

    accepted: int
    first_seq: int | None
    last_seq: int | None
    duplicate: bool = False
    stored: tuple[Stored, ...] = ()
