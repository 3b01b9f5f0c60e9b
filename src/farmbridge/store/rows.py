"""Row-to-record converters: database rows in, domain records out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from farmbridge.domain import (
    Ack,
    Alarm,
    AlarmChange,
    AlarmKind,
    AlarmRule,
    AlarmState,
    AlarmUpdate,
    Command,
    CommandState,
    CommandUpdate,
    Device,
    DeviceKind,
    DeviceRemoved,
    DeviceState,
    DeviceStatus,
    Event,
    EventLevel,
    Farm,
    PendingDevice,
    PendingState,
    Reading,
    Role,
    RuleAudit,
    RuleKind,
    Sensor,
    Severity,
    StatusRecord,
    User,
)
from farmbridge.domain.alarms import alarm_from_json
from farmbridge.domain.users import Membership


def user(r: Row[Any]) -> User:
    return User(
        id=r.id,
        username=r.username,
        is_admin=bool(r.is_admin),
        created_ms=r.created_ms,
        password_hash=r.password_hash,
        token_version=r.token_version,
    )


def membership(r: Row[Any]) -> Membership:
    return Membership(user_id=r.user_id, farm_id=r.farm_id, role=Role(r.role))


def farm(r: Row[Any]) -> Farm:
    return Farm(
        id=r.id,
        name=r.name,
        title=r.title,
        created_ms=r.created_ms,
        last_seq=r.last_seq,
        epoch=r.epoch,
    )


def device(r: Row[Any]) -> Device:
    return Device(
        id=r.id,
        farm_id=r.farm_id,
        name=r.name,
        kind=DeviceKind(r.kind),
        title=r.title,
        created_ms=r.created_ms,
        status=DeviceStatus(
            state=DeviceState(r.state),
            actuator=dict(r.actuator or {}),
            ts_ms=r.status_ts_ms,
            seq=r.status_seq,
        ),
        last_seen_ms=r.last_seen_ms,
        expected_interval_s=r.expected_interval_s,
        learned_interval_s=r.learned_interval_s,
        interval_anchor_ms=r.interval_anchor_ms,
        zone=r.zone,
        confirm_commands=bool(r.confirm_commands),
    )


def pending_device(r: Row[Any]) -> PendingDevice:
    return PendingDevice(
        id=r.id,
        farm_id=r.farm_id,
        name=r.name,
        source=r.source,
        state=PendingState(r.state),
        first_seen_ms=r.first_seen_ms,
        last_seen_ms=r.last_seen_ms,
        messages=r.messages,
        sample=r.sample,
    )


def sensor(r: Row[Any]) -> Sensor:
    return Sensor(
        id=r.id,
        device_id=r.device_id,
        farm_id=r.farm_id,
        name=r.name,
        unit=r.unit,
        min_value=r.min_value,
        max_value=r.max_value,
        last_value=r.last_value,
        last_ts_ms=r.last_ts_ms,
        last_seq=r.last_seq,
    )


def reading(r: Row[Any]) -> Reading:
    return Reading(
        sensor_id=r.sensor_id,
        device_id=r.device_id,
        farm_id=r.farm_id,
        value=r.value,
        ts_ms=r.ts_ms,
        received_ms=r.received_ms,
        seq=r.seq,
    )


def status_record(r: Row[Any]) -> StatusRecord:
    return StatusRecord(
        farm_id=r.farm_id,
        device_id=r.device_id,
        status=DeviceStatus(
            state=DeviceState(r.state), actuator=dict(r.actuator or {}), ts_ms=r.ts_ms, seq=r.seq
        ),
        received_ms=r.received_ms,
    )


def stored_command_update(r: Row[Any]) -> CommandUpdate:
    return CommandUpdate(
        command_id=r.command_id,
        farm_id=r.farm_id,
        device_id=r.device_id,
        state=CommandState(r.state),
        ts_ms=r.ts_ms,
        detail=r.detail,
        seq=r.seq,
        action=r.action,
    )


def event(r: Row[Any]) -> Event:
    return Event(
        id=r.id,
        farm_id=r.farm_id,
        device_id=r.device_id,
        level=EventLevel(r.level),
        code=r.code,
        message=r.message,
        ts_ms=r.ts_ms,
        received_ms=r.received_ms,
        seq=r.seq,
    )


def command(r: Row[Any]) -> Command:
    return Command(
        id=r.id,
        farm_id=r.farm_id,
        device_id=r.device_id,
        action=r.action,
        params=dict(r.params or {}),
        state=CommandState(r.state),
        created_ms=r.created_ms,
        updated_ms=r.updated_ms,
        expires_ms=r.expires_ms,
        created_by=r.created_by,
        detail=r.detail,
        seq=r.seq,
    )


def command_update(c: Command) -> CommandUpdate:
    return CommandUpdate(
        command_id=c.id,
        farm_id=c.farm_id,
        device_id=c.device_id,
        state=c.state,
        ts_ms=c.updated_ms,
        detail=c.detail,
        seq=c.seq,
        params=c.params,
        action=c.action,
    )


def alarm_rule(r: Row[Any]) -> AlarmRule:
    return AlarmRule(
        id=r.id,
        farm_id=r.farm_id,
        name=r.name,
        code=r.code,
        kind=RuleKind(r.kind),
        severity=Severity(r.severity),
        for_ms=r.for_ms,
        sensor_id=r.sensor_id,
        sensor_name=r.sensor_name,
        device_id=r.device_id,
        threshold=r.threshold,
        clear_threshold=r.clear_threshold,
        enabled=bool(r.enabled),
        message=r.message,
        created_ms=r.created_ms,
        updated_ms=r.updated_ms,
        updated_by=r.updated_by,
    )


def alarm(r: Row[Any]) -> Alarm:
    return Alarm(
        id=r.id,
        farm_id=r.farm_id,
        seq=r.seq,
        kind=AlarmKind(r.kind),
        code=r.code,
        severity=Severity(r.severity),
        message=r.message,
        state=AlarmState(r.state),
        raised_ms=r.raised_ms,
        rule_id=r.rule_id,
        device_id=r.device_id,
        sensor_id=r.sensor_id,
        value=r.value,
        cleared_ms=r.cleared_ms,
        ack=None
        if r.ack_by is None
        else Ack(r.ack_by, r.ack_user or "", r.ack_ms or 0, r.ack_comment or ""),
    )


def alarm_update(r: Row[Any]) -> AlarmUpdate:
    return AlarmUpdate(
        farm_id=r.farm_id,
        seq=r.seq,
        alarm=alarm_from_json(r.snapshot),
        change=AlarmChange(r.change),
        received_ms=r.received_ms,
    )


def rule_audit(r: Row[Any]) -> RuleAudit:
    return RuleAudit(
        farm_id=r.farm_id,
        rule_id=r.rule_id,
        action=r.action,
        at_ms=r.at_ms,
        user_id=r.user_id,
        username=r.username,
        before=r.before,
        after=r.after,
    )


def device_removed(r: Row[Any]) -> DeviceRemoved:
    return DeviceRemoved(farm_id=r.farm_id, device_id=r.device_id, seq=r.seq, ts_ms=r.ts_ms)
