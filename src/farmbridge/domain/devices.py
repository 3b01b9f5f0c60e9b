"""Devices of a farm and their reported status."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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
