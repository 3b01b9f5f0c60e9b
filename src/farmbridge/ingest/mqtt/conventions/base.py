"""What a topic convention makes of one MQTT message, and what it publishes for a command.

A convention is pure: topic and payload in, records out. Topics it sees and returns are
relative to its binding's prefix; the bridge adds and strips the prefix, resolves device
references to devices, stores what comes out and publishes what a command needs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from farmbridge.service.ingest import DeviceReport


class BadPayload(Exception):
    """A message the convention cannot read; the bridge logs it with its topic and counts it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


@dataclass(frozen=True, slots=True)
class Watch:
    """Subscribe to one more topic filter (a state topic learned from discovery)."""

    filter: str


Mapped = Data | Liveness | CommandReply | Discovered | Watch


@dataclass(frozen=True, slots=True)
class OutgoingCommand:
    id: int
    action: str
    params: dict[str, Any]
    expires_ms: int


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    retain: bool = False


class Convention(Protocol):
    """One device convention. Instances may keep state learned from discovery messages."""

    name: ClassVar[str]

    def filters(self) -> list[str]:
        """Topic filters to subscribe to, relative to the binding's prefix."""
        ...

    def map(self, topic: str, payload: bytes, now_ms: int) -> list[Mapped]:
        """Reads one message; raises BadPayload for one it cannot read. An empty list
        means the topic is not data (the bridge's own command echo, retained config
        it already knows, an unrelated topic)."""
        ...

    def command(self, device: DeviceRef, cmd: OutgoingCommand) -> list[Publish]:
        """What to publish to send `cmd` to `device`; raises BadPayload when this
        convention cannot express the command (the command fails with that message)."""
        ...

    def completes(self, cmd: OutgoingCommand, reply: CommandReply) -> bool:
        """Whether a reply without a command id completes `cmd` (a state report showing
        what the command asked for)."""
        ...


_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def clean_name(*parts: str) -> str:
    """A device or sensor name from topic or payload parts: joined by '.', characters
    outside [A-Za-z0-9_.-] become '_', at most 64 characters, starting alphanumeric.
    Raises BadPayload when nothing usable is left."""
    name = _BAD_NAME_CHARS.sub("_", ".".join(p for p in parts if p)).lstrip("_.-")[:64]
    if not name:
        raise BadPayload(f"no usable name in {parts!r}")
    return name


def number(value: Any, where: str) -> float:
    """A finite reading value: numbers, numeric strings and booleans (as 1/0); BadPayload
    else."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise BadPayload(f"{where}: {value!r} is not a finite number")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        low = text.lower()
        if low in ("on", "true", "open"):
            return 1.0
        if low in ("off", "false", "closed"):
            return 0.0
        try:
            parsed = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(parsed):
                return parsed
    shown = repr(value) if isinstance(value, str | int | float) else type(value).__name__
    raise BadPayload(f"{where}: {shown[:60]} is not a finite number")
