"""Devices of a farm and their reported status."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final


class DeviceKind(StrEnum):
    SENSOR_NODE = "sensor_node"
    ACTUATOR = "actuator"
    CONTROLLER = "controller"


class DeviceState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    ERROR = "error"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A device's state plus actuator state such as `{"power": "on"}` or a set-point."""

    state: DeviceState
    actuator: dict[str, Any] = field(default_factory=dict)
    ts_ms: int = 0
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Device:
    id: int
    farm_id: int
    name: str
    kind: DeviceKind
    title: str
    created_ms: int
    status: DeviceStatus = field(default_factory=lambda: DeviceStatus(DeviceState.UNKNOWN))
    last_seen_ms: int | None = None
    expected_interval_s: float | None = None
    """Set by an admin; None: learned from the device's reports."""
    learned_interval_s: float | None = None
    interval_anchor_ms: int | None = None
    """When the device's current burst of reports began (see domain.liveness.learn)."""
    zone: str | None = None
    """Where the device stands (a greenhouse, a bay), set by an admin; None: no zone."""
    confirm_commands: bool = True
    """Whether the dashboard asks before sending the device a command."""

    @property
    def interval_s(self) -> float | None:
        """The expected reporting interval: set, else learned, else None (unknown)."""
        return (
            self.expected_interval_s
            if self.expected_interval_s is not None
            else (self.learned_interval_s)
        )


MAX_ZONE_CHARS: Final = 64


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """The settings of a device an admin edits; None in `zone` is no zone."""

    name: str
    title: str
    zone: str | None
    confirm_commands: bool


class PendingState(StrEnum):
    PENDING = "pending"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class PendingDevice:
    """A device heard of on a known farm but not registered: an admin approves or rejects it.

    `sample` is the start of its latest message, so the admin can tell what it is.
    """

    id: int
    farm_id: int
    name: str
    source: str
    state: PendingState
    first_seen_ms: int
    last_seen_ms: int
    messages: int
    sample: str


@dataclass(frozen=True, slots=True)
class DeviceRemoved:
    """A device deleted from its farm, as a change of the farm's stream: clients drop the
    device and its sensors. `ts_ms` is when it was removed (the bridge's wall time)."""

    farm_id: int
    device_id: int
    seq: int
    ts_ms: int
