"""Plain typed records of the farm domain; this package imports nothing of ours."""

from farmbridge.domain.changes import Change
from farmbridge.domain.commands import Command, CommandState, CommandUpdate
from farmbridge.domain.devices import (
    Device,
    DeviceKind,
    DeviceRemoved,
    DeviceState,
    DeviceStatus,
    PendingDevice,
    PendingState,
)
from farmbridge.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from farmbridge.domain.farms import Farm
from farmbridge.domain.telemetry import (
    Event,
    EventIn,
    EventLevel,
    IngestBatch,
    IngestResult,
    Reading,
    ReadingBucket,
    ReadingIn,
    Sensor,
    StatusChange,
    StatusRecord,
    Stored,
)
from farmbridge.domain.users import Membership, Role, User

__all__ = [
    "Change",
    "Command",
    "CommandState",
    "CommandUpdate",
    "Conflict",
    "Device",
    "DeviceKind",
    "DeviceRemoved",
    "DeviceState",
    "DeviceStatus",
    "DomainError",
    "Event",
    "EventIn",
    "EventLevel",
    "Farm",
    "Forbidden",
    "IngestBatch",
    "IngestResult",
    "Membership",
    "NotFound",
    "PendingDevice",
    "PendingState",
    "Reading",
    "ReadingBucket",
    "ReadingIn",
    "Role",
    "Sensor",
    "StatusChange",
    "StatusRecord",
    "Stored",
    "Unauthenticated",
    "User",
    "ValidationFailed",
]
