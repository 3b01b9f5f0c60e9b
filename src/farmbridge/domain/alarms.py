"""Alarms: the rules that raise them, their lifecycle, and the change that streams each step."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RuleKind(StrEnum):
    ABOVE = "above"
    BELOW = "below"
    NO_DATA = "no_data"
    OFFLINE = "offline"
    COMMAND_FAILED = "command_failed"

    @property
    def on_sensor(self) -> bool:
        """Watches a sensor's values (a threshold rule), not a device."""
        return self in (RuleKind.ABOVE, RuleKind.BELOW)


class AlarmKind(StrEnum):
    """What raised an alarm: a rule of one of the rule kinds, or the device itself."""

    ABOVE = "above"
    BELOW = "below"
    NO_DATA = "no_data"
    OFFLINE = "offline"
    COMMAND_FAILED = "command_failed"
    DEVICE = "device"


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class AlarmState(StrEnum):
    ACTIVE = "active"
    """The condition holds; nobody acknowledged it."""
    ACKNOWLEDGED = "acknowledged"
    """The condition holds; a person acknowledged it."""
    CLEARED = "cleared"
    """The condition is gone but nobody acknowledged it: it stays listed until someone does."""
    CLOSED = "closed"
    """Cleared and acknowledged: history only."""

    @property
    def open(self) -> bool:
        return self is not AlarmState.CLOSED

    @property
    def holding(self) -> bool:
        """The alarm's condition still holds (it has not cleared)."""
        return self in (AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED)


class AlarmChange(StrEnum):
    """What one streamed step of an alarm did."""

    RAISED = "raised"
    """The condition began: a new alarm, `active`."""
    ACKNOWLEDGED = "acknowledged"
    """A person acknowledged an alarm whose condition holds."""
    CLEARED = "cleared"
    """The condition ended: `cleared`, or `closed` when it was acknowledged already."""
    CLOSED = "closed"
    """A person acknowledged a cleared alarm."""


@dataclass(frozen=True, slots=True)
class AlarmRule:
    """A farm's rule. Threshold rules watch `sensor_id`, or every sensor named `sensor_name`
    on the farm; device rules watch `device_id`, or every device of the farm when it is None."""

    id: int
    farm_id: int
    name: str
    code: str
    kind: RuleKind
    severity: Severity
    for_ms: int = 0
    sensor_id: int | None = None
    sensor_name: str | None = None
    device_id: int | None = None
    threshold: float | None = None
    clear_threshold: float | None = None
    enabled: bool = True
    message: str = ""
    created_ms: int = 0
    updated_ms: int = 0
    updated_by: int | None = None

    @property
    def clear_at(self) -> float | None:
        """Where a threshold alarm clears: the clear threshold, by default the threshold."""
        return self.threshold if self.clear_threshold is None else self.clear_threshold


@dataclass(frozen=True, slots=True)
class RuleAudit:
    """One change to a farm's rules: who did what, when, with the rule before and after."""

    farm_id: int
    rule_id: int
    action: str
    at_ms: int
    user_id: int | None
    username: str
    before: dict[str, object] | None
    after: dict[str, object] | None


@dataclass(frozen=True, slots=True)
class Ack:
    by: int
    user: str
    at_ms: int
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Alarm:
    id: int
    farm_id: int
    seq: int
    kind: AlarmKind
    code: str
    severity: Severity
    message: str
    state: AlarmState
    raised_ms: int
    rule_id: int | None = None
    device_id: int | None = None
    sensor_id: int | None = None
    value: float | None = None
    cleared_ms: int | None = None
    ack: Ack | None = None


@dataclass(frozen=True, slots=True)
class AlarmUpdate:
    """One step of an alarm's lifecycle, stored with its farm sequence number."""

    farm_id: int
    seq: int
    alarm: Alarm
    change: AlarmChange
    received_ms: int
