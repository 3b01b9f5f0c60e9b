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
