"""The alarm services on a FakeClock: the timer's ticks, roles, validation, the live snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from farmbridge.domain import (
    AlarmChange,
    AlarmFilter,
    AlarmState,
    Role,
    RuleKind,
    RuleSpec,
    Severity,
)
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import Forbidden, ValidationFailed
from farmbridge.domain.reports import DeviceReport, ReportedReading
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.service.access import Principal
from farmbridge.service.alarms import check_rule
from farmbridge.service.bundle import Services
from tests.unit.bridge_services import admin, device, running_services

TEMP = SensorSpec("temp", "C", -40, 80)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def svc(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Services]:
    async with running_services(tmp_path, clock) as services:
        yield services


async def test_timer_raises_no_data_once_the_silence_reached_the_duration(
    svc: Services, clock: FakeClock
) -> None:
    """no_data for 60 s: ticks before 60 s of silence raise nothing, the tick at 60 s raises,
    later ticks raise nothing more; the device's next report clears it."""
    dev, key = await device(svc, "node", sensors=(TEMP,))
    who = await admin(svc)
    spec = RuleSpec("Silent", RuleKind.NO_DATA, Severity.WARNING, for_ms=60_000)
    await svc.alarms.create_rule(who, dev.farm_id, spec)
    entry = await svc.ingest.authenticate(key)
    report = DeviceReport(readings=[ReportedReading("temp", 20.0, clock.wall_ms())])
    await svc.ingest.ingest(entry, report)
    clock.advance(59)
    assert await svc.alarm_timer.tick() == []
    clock.advance(1)
    (up,) = await svc.alarm_timer.tick()
    assert (up.change, up.alarm.device_id) == (AlarmChange.RAISED, dev.id)
    clock.advance(600)
    assert await svc.alarm_timer.tick() == []
    report = DeviceReport(readings=[ReportedReading("temp", 20.0, clock.wall_ms())])
    await svc.ingest.ingest(entry, report)
    (alarm,) = await svc.alarms.list_alarms(who, dev.farm_id, AlarmFilter())
    assert alarm.state is AlarmState.CLEARED


async def test_roles_viewer_reads_operator_acks_admin_manages(svc: Services) -> None:
    dev, _ = await device(svc, "node", sensors=(TEMP,))
    farm = dev.farm_id
    user = await svc.store.create_user("vic", "x", is_admin=False)
    viewer = Principal(user, {farm: Role.VIEWER})
    operator = Principal(user, {farm: Role.OPERATOR})
    spec = RuleSpec("Cmd", RuleKind.COMMAND_FAILED, Severity.WARNING)
    with pytest.raises(Forbidden):
        await svc.alarms.create_rule(operator, farm, spec)
    with pytest.raises(Forbidden):
        await svc.alarms.audit(operator, farm)
    rule = await svc.alarms.create_rule(await admin(svc), farm, spec)
    assert [r.id for r in await svc.alarms.list_rules(viewer, farm)] == [rule.id]
    with pytest.raises(Forbidden):
        await svc.alarms.delete_rule(operator, farm, rule.id)


async def test_open_channel_snapshot_follows_alarm_changes(svc: Services, clock: FakeClock) -> None:
    """The farm's live state (the snapshot) holds the open alarms as they change."""
    dev, key = await device(svc, "node", sensors=(TEMP,))
    who = await admin(svc)
    spec = RuleSpec("Hot", RuleKind.ABOVE, Severity.CRITICAL, sensor_name="temp", threshold=30.0)
    await svc.alarms.create_rule(who, dev.farm_id, spec)
    channel = await svc.stream.channel(dev.farm_id)
    entry = await svc.ingest.authenticate(key)
    await svc.ingest.ingest(entry, DeviceReport([ReportedReading("temp", 35.0, clock.wall_ms())]))
    await svc.store.ping()
    (alarm,) = channel.state.alarms.values()
    assert f'"alarms":[{{"id":{alarm.id}' in channel.state.encoded(with_alarms=True)
    assert '"alarms"' not in channel.state.encoded(with_alarms=False)
    await svc.alarms.acknowledge(who, dev.farm_id, alarm.id, "seen")
    clock.advance(1)
    await svc.ingest.ingest(entry, DeviceReport([ReportedReading("temp", 10.0, clock.wall_ms())]))
    await svc.store.ping()
    assert channel.state.alarms == {}  # acknowledged, then cleared: closed


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (RuleSpec("", RuleKind.OFFLINE, Severity.WARNING, for_ms=1), "name"),
        (RuleSpec("x", RuleKind.ABOVE, Severity.WARNING, sensor_id=1), "threshold"),
        (RuleSpec("x", RuleKind.ABOVE, Severity.WARNING, threshold=1.0), "sensor_id"),
        (RuleSpec("x", RuleKind.BELOW, Severity.WARNING, sensor_id=1, threshold=1.0,
                  clear_threshold=0.5), "clear_threshold"),
        (RuleSpec("x", RuleKind.NO_DATA, Severity.WARNING, threshold=1.0, for_ms=5), "threshold"),
        (RuleSpec("x", RuleKind.OFFLINE, Severity.WARNING), "for_s"),
    ],
)  # fmt: skip
def test_check_rule_names_the_field_at_fault(spec: RuleSpec, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_rule(spec)
    assert info.value.field == field
