"""What a device said in one message, as the pure parsers (HTTP, MQTT, LoRaWAN) read it.

These are statements from outside, not yet checked against the device's sensors or the
clock window: the ingest service validates a DeviceReport into an IngestBatch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from farmbridge.domain.devices import DeviceState
from farmbridge.domain.telemetry import EventLevel


@dataclass(frozen=True, slots=True)
class ReportedReading:
    sensor: str
    value: float
    ts_ms: int


@dataclass(frozen=True, slots=True)
class ReportedEvent:
    level: EventLevel
    code: str
    message: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class ReportedStatus:
    state: DeviceState
    actuator: dict[str, Any]
    ts_ms: int


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """What an adapter (HTTP, MQTT, ...) parsed from one device message."""

    readings: list[ReportedReading] = field(default_factory=list)
    status: ReportedStatus | None = None
    events: list[ReportedEvent] = field(default_factory=list)
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """Which device a message is about, as far as the topic or payload tells.

    `name` is the device's name within its farm; `farm` the farm's name when the topic
    carries it (otherwise the binding's farm); `key` a device key, when the topic carries
    the device's credential instead of its name (ThingsBoard's device form behind a broker
    that mounts each device's topics under its username).
    """

    name: str | None = None
    farm: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Data:
    """Readings, a status change and events from one device, stored all-or-nothing."""

    device: DeviceRef
    report: DeviceReport
    # Units the message states for its sensors (sensor name -> unit), for auto-registration.
    units: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Liveness:
    """A device came online or went offline (LWT, Homie $state, availability topics)."""

    device: DeviceRef
    online: bool
    ts_ms: int


@dataclass(frozen=True, slots=True)
class CommandReply:
    """A device answered a command.

    With `command_id` it names the command (native ack, ThingsBoard RPC reply). Without,
    `state` is what the device now reports (Tasmota RESULT, a Homie property), and the
    convention's `completes` decides which sent command it completes.
    """

    device: DeviceRef
    command_id: int | None
    ok: bool = True
    detail: str = ""
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Discovered:
    """A device describing itself (HA discovery config, Homie $description)."""

    device: DeviceRef
    title: str
    sensors: dict[str, str]  # sensor name -> unit ("" when none)
