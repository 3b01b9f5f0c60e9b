"""Request and response bodies of the alarm routes (docs/api.md, Alarms)."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, Field

from farmbridge.api.schemas import Body
from farmbridge.domain import Alarm, AlarmRule, RuleAudit, RuleKind, RuleSpec, Severity
from farmbridge.domain.alarms import alarm_json, rule_json
from farmbridge.domain.bounds import Id

MAX_FOR_S: Final = 30 * 86_400
MAX_MESSAGE_CHARS: Final = 500


class AckOut(BaseModel):
    by: int
    user: str
    at: int
    comment: str


class AlarmOut(BaseModel):
    """The alarm object, the same in REST answers, the snapshot and the stream."""

    id: int
    farm: int
    seq: int
    rule: int | None
    device: int | None
    sensor: int | None
    kind: str
    code: str
    severity: str
    message: str
    value: float | None
    state: str
    raised_at: int
    cleared_at: int | None
    ack: AckOut | None

    @classmethod
    def of(cls, a: Alarm) -> AlarmOut:
        return cls.model_validate(alarm_json(a))


class AlarmsOut(BaseModel):
    alarms: list[AlarmOut]


class AckIn(Body):
    comment: str = Field(default="", max_length=MAX_MESSAGE_CHARS)


class RuleIn(Body):
    name: str = Field(min_length=1, max_length=100)
    kind: RuleKind
    severity: Severity
    sensor_id: Id | None = None
    sensor_name: str | None = Field(default=None, min_length=1, max_length=64)
    device_id: Id | None = Field(
        default=None, description="null: every device of the farm (no_data, offline, ...)"
    )
    threshold: float | None = Field(default=None, description="above/below: required")
    clear_threshold: float | None = Field(
        default=None, description="where it clears (hysteresis); defaults to the threshold"
    )
    for_s: float = Field(
        default=0, ge=0, le=MAX_FOR_S, description="how long it must hold; > 0 for no_data/offline"
    )
    enabled: bool = True
    message: str = Field(default="", max_length=MAX_MESSAGE_CHARS)

    def spec(self) -> RuleSpec:
        return RuleSpec(
            name=self.name,
            kind=self.kind,
            severity=self.severity,
            for_ms=round(self.for_s * 1000),
            sensor_id=self.sensor_id,
            sensor_name=self.sensor_name,
            device_id=self.device_id,
            threshold=self.threshold,
            clear_threshold=self.clear_threshold,
            enabled=self.enabled,
            message=self.message,
        )


class RuleOut(BaseModel):
    id: int
    farm: int
    name: str
    code: str
    kind: str
    severity: str
    sensor_id: int | None
    sensor_name: str | None
    device_id: int | None
    threshold: float | None
    clear_threshold: float | None
    for_s: float
    enabled: bool
    message: str
    created_at: int
    updated_at: int
    updated_by: int | None

    @classmethod
    def of(cls, r: AlarmRule) -> RuleOut:
        return cls.model_validate(rule_json(r))


class AuditEntryOut(BaseModel):
    at: int
    user: str
    user_id: int | None
    action: str
    rule: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @classmethod
    def of(cls, a: RuleAudit) -> AuditEntryOut:
        return cls(
            at=a.at_ms, user=a.username, user_id=a.user_id, action=a.action, rule=a.rule_id,
            before=a.before, after=a.after,
        )  # fmt: skip


class AuditOut(BaseModel):
    entries: list[AuditEntryOut]
