"""Alarms: the rules that raise them, their lifecycle, and the change that streams each step."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule as an admin writes it (created or replaced), validated by the service."""

    name: str
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


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    """Which alarms a list asks for: `states` None = every state; newest (highest seq) first."""

    states: frozenset[AlarmState] | None = None
    severity: Severity | None = None
    device_id: int | None = None
    before_seq: int | None = None
    limit: int = 100


def slug(name: str) -> str:
    """A rule's code: its name in lower case, runs of other characters as one `_`."""
    out: list[str] = []
    for ch in name.lower():
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "_":
            out.append("_")
    return "".join(out).strip("_")[:64] or "rule"


def alarm_json(alarm: Alarm) -> dict[str, Any]:
    """The one JSON shape of an alarm: REST answers, the snapshot, the stream, the outbox."""
    ack = alarm.ack
    return {
        "id": alarm.id,
        "farm": alarm.farm_id,
        "seq": alarm.seq,
        "rule": alarm.rule_id,
        "device": alarm.device_id,
        "sensor": alarm.sensor_id,
        "kind": alarm.kind.value,
        "code": alarm.code,
        "severity": alarm.severity.value,
        "message": alarm.message,
        "value": alarm.value,
        "state": alarm.state.value,
        "raised_at": alarm.raised_ms,
        "cleared_at": alarm.cleared_ms,
        "ack": None
        if ack is None
        else {"by": ack.by, "user": ack.user, "at": ack.at_ms, "comment": ack.comment},
    }


def alarm_from_json(obj: dict[str, Any]) -> Alarm:
    """The inverse of `alarm_json` (the store keeps each change's alarm in that shape)."""
    ack = obj.get("ack")
    return Alarm(
        id=obj["id"],
        farm_id=obj["farm"],
        seq=obj["seq"],
        kind=AlarmKind(obj["kind"]),
        code=obj["code"],
        severity=Severity(obj["severity"]),
        message=obj["message"],
        state=AlarmState(obj["state"]),
        raised_ms=obj["raised_at"],
        rule_id=obj["rule"],
        device_id=obj["device"],
        sensor_id=obj["sensor"],
        value=obj["value"],
        cleared_ms=obj["cleared_at"],
        ack=None if ack is None else Ack(ack["by"], ack["user"], ack["at"], ack["comment"]),
    )


def rule_json(rule: AlarmRule) -> dict[str, Any]:
    """The one JSON shape of a rule: REST answers and the audit's before/after."""
    return {
        "id": rule.id,
        "farm": rule.farm_id,
        "name": rule.name,
        "code": rule.code,
        "kind": rule.kind.value,
        "severity": rule.severity.value,
        "sensor_id": rule.sensor_id,
        "sensor_name": rule.sensor_name,
        "device_id": rule.device_id,
        "threshold": rule.threshold,
        "clear_threshold": rule.clear_threshold,
        "for_s": rule.for_ms / 1000,
        "enabled": rule.enabled,
        "message": rule.message,
        "created_at": rule.created_ms,
        "updated_at": rule.updated_ms,
        "updated_by": rule.updated_by,
    }
