"""Alarms in the SQLite store: evaluated in the transaction of their cause, sequenced, streamed,
resumable, audited, acknowledged, and raised by the timer exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from farmbridge.domain import (
    AlarmChange,
    AlarmFilter,
    AlarmState,
    AlarmUpdate,
    Change,
    CommandState,
    DeviceKind,
    DeviceState,
    EventIn,
    EventLevel,
    IngestBatch,
    ReadingIn,
    RuleKind,
    RuleSpec,
    Severity,
    StatusChange,
)
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import Conflict
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.store.results import OfflineCandidate
from farmbridge.store.schema import outbox
from farmbridge.store.sql import SqlStore

T0 = 1_700_000_000_000


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall_ms=T0)


@pytest.fixture
async def store(database_url: str, clock: FakeClock) -> AsyncIterator[SqlStore]:
    s = SqlStore(database_url, clock=clock)
    await s.start()
    yield s
    await s.close()


async def _farm(store: SqlStore, name: str = "f1") -> tuple[int, int, int]:
    farm = await store.create_farm(name, name.upper())
    dev = await store.create_device(
        farm.id, "node", DeviceKind.SENSOR_NODE, "Node", f"hash-{name}", [SensorSpec("temp", "C")]
    )
    (sensor,) = await store.list_sensors(device_id=dev.id)
    return farm.id, dev.id, sensor.id


def _reading(farm: int, dev: int, sensor: int, value: float, at: int) -> IngestBatch:
    return IngestBatch(dev, farm, at, readings=(ReadingIn(sensor, value, at),))


def _alarms(changes: list[Change]) -> list[AlarmUpdate]:
    return [c for c in changes if isinstance(c, AlarmUpdate)]


ABOVE_30 = RuleSpec(
    "Too hot", RuleKind.ABOVE, Severity.CRITICAL, sensor_name="temp", threshold=30.0,
    clear_threshold=28.0,
)  # fmt: skip


async def test_reading_over_a_threshold_raises_in_its_own_commit(store: SqlStore) -> None:
    """The raise takes the seq after the reading's, in the same commit, with an outbox row."""
    farm, dev, sensor = await _farm(store)
    await store.create_alarm_rule(farm, ABOVE_30, by=None, username="ann")
    heard: list[list[Change]] = []
    store.add_listener(heard.append)
    res = await store.ingest(_reading(farm, dev, sensor, 31.5, T0))
    assert res.last_seq is not None
    await store.ping()
    (commit,) = [h for h in heard if any(isinstance(c, AlarmUpdate) for c in h)]
    (up,) = _alarms(commit)
    assert up.seq == res.last_seq + 1
    assert up.change is AlarmChange.RAISED
    assert (up.alarm.state, up.alarm.value, up.alarm.sensor_id, up.alarm.device_id) == (
        AlarmState.ACTIVE, 31.5, sensor, dev,
    )  # fmt: skip
    assert up.alarm.code == "too_hot"
    assert (await store.get_farm(farm)).last_seq == up.seq


async def test_hysteresis_keeps_then_clears_and_the_changes_resume(store: SqlStore) -> None:
    """29 keeps the alarm (band 28..30), 31 raises nothing new, 27 clears; changes_since has all."""
    farm, dev, sensor = await _farm(store)
    await store.create_alarm_rule(farm, ABOVE_30, by=None, username="ann")
    heard: list[Change] = []
    store.add_listener(heard.extend)
    for i, v in enumerate([31.0, 29.0, 31.0, 27.0]):
        await store.ingest(_reading(farm, dev, sensor, v, T0 + i * 1000))
    await store.ping()
    ups = _alarms(heard)
    assert [u.change for u in ups] == [AlarmChange.RAISED, AlarmChange.CLEARED]
    assert ups[1].alarm.state is AlarmState.CLEARED
    replay = [c for c in await store.changes_since(farm, 0, 100) if isinstance(c, AlarmUpdate)]
    assert replay == ups
    (listed,) = await store.list_alarms(farm, AlarmFilter())
    assert listed.state is AlarmState.CLEARED
    assert await store.open_alarms(farm) == [listed]


async def test_outbox_holds_one_row_per_alarm_change(store: SqlStore) -> None:
    """Each raise and clear enqueues the alarm with its change and the farm's name."""
    farm, dev, sensor = await _farm(store)
    await store.create_alarm_rule(farm, ABOVE_30, by=None, username="ann")
    await store.ingest(_reading(farm, dev, sensor, 35.0, T0))
    await store.ingest(_reading(farm, dev, sensor, 20.0, T0 + 1))

    def read(c):  # type: ignore[no-untyped-def]
        return [r.payload for r in c.execute(select(outbox).order_by(outbox.c.id))]

    payloads = await store._db.read(read)
    assert [(p["change"], p["farm_name"], p["state"]) for p in payloads] == [
        ("raised", "f1", "active"), ("cleared", "f1", "cleared"),
    ]  # fmt: skip


async def test_device_alarm_event_raises_once_and_cleared_code_clears(store: SqlStore) -> None:
    """level alarm frost_risk raises (a repeat keeps it), frost_risk_cleared clears it."""
    farm, dev, _ = await _farm(store)
    heard: list[Change] = []
    store.add_listener(heard.extend)
    for code, level in [
        ("frost_risk", EventLevel.ALARM), ("frost_risk", EventLevel.ALARM),
        ("frost_risk_cleared", EventLevel.INFO),
    ]:  # fmt: skip
        await store.ingest(IngestBatch(dev, farm, T0, events=(EventIn(level, code, "cold", T0),)))
    await store.ping()
    ups = _alarms(heard)
    assert [(u.change, u.alarm.kind.value, u.alarm.code) for u in ups] == [
        (AlarmChange.RAISED, "device", "frost_risk"),
        (AlarmChange.CLEARED, "device", "frost_risk"),
    ]
    assert ups[0].alarm.rule_id is None


async def test_ack_moves_active_to_acknowledged_cleared_to_closed_and_refuses_closed(
    store: SqlStore,
) -> None:
    """An ack is its own sequenced change; a cleared acked alarm is closed; acking closed: 409."""
    farm, dev, sensor = await _farm(store)
    user = await store.create_user("ann", "x", is_admin=False)
    await store.create_alarm_rule(farm, ABOVE_30, by=None, username="ann")
    await store.ingest(_reading(farm, dev, sensor, 35.0, T0))
    (alarm,) = await store.open_alarms(farm)
    acked = await store.acknowledge_alarm(alarm.id, by=user.id, username="ann", comment="on it")
    assert acked.alarm.state is AlarmState.ACKNOWLEDGED
    assert acked.alarm.ack is not None
    assert (acked.alarm.ack.user, acked.alarm.ack.comment) == ("ann", "on it")
    assert acked.updates[0].change is AlarmChange.ACKNOWLEDGED
    assert acked.alarm.seq == (await store.get_farm(farm)).last_seq
    again = await store.acknowledge_alarm(alarm.id, by=user.id, username="ann", comment="")
    assert again.updates == ()
    await store.ingest(_reading(farm, dev, sensor, 20.0, T0 + 1))
    assert (await store.get_alarm(alarm.id)).state is AlarmState.CLOSED
    assert await store.open_alarms(farm) == []
    with pytest.raises(Conflict):
        await store.acknowledge_alarm(alarm.id, by=user.id, username="ann", comment="")


async def test_ack_of_a_cleared_alarm_closes_it(store: SqlStore) -> None:
    farm, dev, sensor = await _farm(store)
    await store.create_alarm_rule(farm, ABOVE_30, by=None, username="ann")
    await store.ingest(_reading(farm, dev, sensor, 35.0, T0))
    await store.ingest(_reading(farm, dev, sensor, 20.0, T0 + 1))
    (alarm,) = await store.open_alarms(farm)
    done = await store.acknowledge_alarm(alarm.id, by=1, username="ann", comment="")
    assert done.alarm.state is AlarmState.CLOSED
    assert done.updates[0].change is AlarmChange.CLOSED


async def test_timer_raises_a_duration_rule_once(store: SqlStore, clock: FakeClock) -> None:
    """below 2 for 5 min: the reading makes it pending; ticks before 5 min raise nothing,
    the tick at 5 min raises with the reading's value, later ticks raise nothing again."""
    farm, dev, sensor = await _farm(store)
    spec = RuleSpec(
        "Frost", RuleKind.BELOW, Severity.CRITICAL, for_ms=300_000, sensor_id=sensor, threshold=2.0
    )
    await store.create_alarm_rule(farm, spec, by=None, username="ann")
    await store.ingest(_reading(farm, dev, sensor, 1.4, T0))
    assert (await store.evaluate_alarm_timers(T0 + 299_000)).updates == ()
    (up,) = (await store.evaluate_alarm_timers(T0 + 300_000)).updates
    assert (up.change, up.alarm.value) == (AlarmChange.RAISED, 1.4)
    assert (await store.evaluate_alarm_timers(T0 + 900_000)).updates == ()


async def test_no_data_raises_on_the_timer_and_clears_on_data(store: SqlStore) -> None:
    """A device silent for the rule's duration raises once; its next data clears."""
    farm, dev, sensor = await _farm(store)
    spec = RuleSpec("Silent", RuleKind.NO_DATA, Severity.WARNING, for_ms=60_000)
    await store.create_alarm_rule(farm, spec, by=None, username="ann")
    await store.ingest(_reading(farm, dev, sensor, 10.0, T0))
    assert (await store.evaluate_alarm_timers(T0 + 59_999)).updates == ()
    (up,) = (await store.evaluate_alarm_timers(T0 + 60_000)).updates
    assert (up.alarm.kind.value, up.alarm.device_id) == ("no_data", dev)
    assert (await store.evaluate_alarm_timers(T0 + 120_000)).updates == ()
    heard: list[Change] = []
    store.add_listener(heard.extend)
    await store.ingest(_reading(farm, dev, sensor, 10.0, T0 + 130_000))
    await store.ping()
    assert [u.change for u in _alarms(heard)] == [AlarmChange.CLEARED]


async def test_offline_for_raises_by_timer_and_online_clears(store: SqlStore) -> None:
    farm, dev, _ = await _farm(store)
    spec = RuleSpec("Gone", RuleKind.OFFLINE, Severity.CRITICAL, for_ms=10_000, device_id=dev)
    await store.create_alarm_rule(farm, spec, by=None, username="ann")
    await store.ingest(IngestBatch(dev, farm, T0, status=StatusChange(DeviceState.OFFLINE, {}, T0)))
    assert (await store.evaluate_alarm_timers(T0 + 9_000)).updates == ()
    (up,) = (await store.evaluate_alarm_timers(T0 + 10_000)).updates
    assert up.alarm.kind.value == "offline"
    heard: list[Change] = []
    store.add_listener(heard.extend)
    await store.ingest(
        IngestBatch(dev, farm, T0 + 20_000, status=StatusChange(DeviceState.ONLINE, {}, T0 + 1))
    )
    await store.ping()
    assert [u.change for u in _alarms(heard)] == [AlarmChange.CLEARED]


async def test_command_failed_raises_and_the_next_acknowledged_clears(store: SqlStore) -> None:
    farm, dev, _ = await _farm(store)
    spec = RuleSpec("Cmd", RuleKind.COMMAND_FAILED, Severity.WARNING)
    await store.create_alarm_rule(farm, spec, by=None, username="ann")
    c1 = await store.create_command(dev, "on", {}, created_by=None, expires_ms=T0 + 1)
    failed = await store.update_command(c1.command.id, CommandState.FAILED, "no answer")
    assert [a.change for a in failed.alarms] == [AlarmChange.RAISED]
    assert failed.alarms[0].seq == failed.update.seq + 1
    c2 = await store.create_command(dev, "on", {}, created_by=None, expires_ms=T0 + 10)
    expired = await store.expire_commands(T0 + 5)
    assert expired.alarms == ()  # raised already: a second failure raises nothing
    c3 = await store.create_command(dev, "on", {}, created_by=None, expires_ms=T0 + 100)
    ok = await store.update_command(c3.command.id, CommandState.ACKNOWLEDGED)
    assert [a.change for a in ok.alarms] == [AlarmChange.CLEARED]
    assert c2.command.id != c3.command.id


async def test_rule_changes_are_audited_and_deleting_clears_its_alarms(store: SqlStore) -> None:
    farm, dev, sensor = await _farm(store)
    made = await store.create_alarm_rule(farm, ABOVE_30, by=7, username="ann")
    assert made.rule is not None
    await store.ingest(_reading(farm, dev, sensor, 35.0, T0))
    changed = await store.update_alarm_rule(
        made.rule.id, RuleSpec("Too hot", RuleKind.ABOVE, Severity.WARNING, sensor_id=sensor,
                               threshold=40.0), by=7, username="ann",
    )  # fmt: skip
    assert [u.change for u in changed.updates] == [AlarmChange.CLEARED]
    gone = await store.delete_alarm_rule(made.rule.id, by=7, username="ann")
    assert gone.rule is None
    audit = await store.alarm_rule_audit(farm)
    assert [a.action for a in audit] == ["deleted", "updated", "created"]
    assert audit[1].before is not None
    assert audit[1].after is not None
    assert (audit[1].before["threshold"], audit[1].after["threshold"]) == (30.0, 40.0)
    assert audit[2].username == "ann"
    assert await store.list_alarm_rules(farm) == []


async def test_a_farm_without_rules_streams_no_alarm_and_a_late_reading_is_ignored(
    store: SqlStore,
) -> None:
    """A late, buffered reading is not the sensor's latest: it does not raise."""
    farm, dev, sensor = await _farm(store)
    await store.ingest(_reading(farm, dev, sensor, 99.0, T0))
    await store.create_alarm_rule(farm, ABOVE_30, by=None, username="ann")
    await store.ingest(_reading(farm, dev, sensor, 20.0, T0 + 10))
    late = IngestBatch(dev, farm, T0 + 20, readings=(ReadingIn(sensor, 99.0, T0 + 5),))
    await store.ingest(late)
    assert await store.open_alarms(farm) == []


async def test_two_instances_on_one_database_raise_each_transition_once(
    database_url: str, clock: FakeClock
) -> None:
    """Two stores (two bridge instances) share a database: both run the timer at the same
    time, ingest through either; the alarm is raised once, and the other's cache follows."""
    url = database_url
    a, b = SqlStore(url, clock=clock), SqlStore(url, clock=clock)
    await a.start()
    await b.start()
    try:
        farm, dev, sensor = await _farm(a)
        spec = RuleSpec(
            "Frost", RuleKind.BELOW, Severity.CRITICAL, for_ms=1_000, sensor_id=sensor,
            threshold=2.0,
        )  # fmt: skip
        await a.create_alarm_rule(farm, spec, by=None, username="ann")
        await b.ingest(_reading(farm, dev, sensor, 1.0, T0))  # b's cache: pending
        await a.ingest(_reading(farm, dev, sensor, 1.5, T0 + 10))  # a: still pending
        ta, tb = await asyncio.gather(
            a.evaluate_alarm_timers(T0 + 5_000), b.evaluate_alarm_timers(T0 + 5_000)
        )
        assert len(ta.updates) + len(tb.updates) == 1
        # Whichever raised it, the other instance's ingest sees it raised: one clear, no raise.
        other = b if ta.updates else a
        await other.ingest(_reading(farm, dev, sensor, 0.5, T0 + 6_000))
        await other.ingest(_reading(farm, dev, sensor, 5.0, T0 + 7_000))
        states = [x.state for x in await a.list_alarms(farm, AlarmFilter())]
        assert states == [AlarmState.CLEARED]
    finally:
        await a.close()
        await b.close()


async def test_a_device_the_liveness_sweep_marks_offline_raises_its_offline_rule(
    store: SqlStore,
) -> None:
    """The sweep's offline status (store.mark_offline, not an ingested one) is seen by the
    farm's `offline` rules in its own commit: the timer raises the alarm once it has lasted
    `for_ms`, and the device's next data (back online) clears it."""
    farm, dev, sensor = await _farm(store)
    spec = RuleSpec("Gone", RuleKind.OFFLINE, Severity.CRITICAL, for_ms=10_000, device_id=dev)
    await store.create_alarm_rule(farm, spec, by=None, username="ann")
    await store.ingest(_reading(farm, dev, sensor, 20.0, T0))
    (device,) = await store.watched_devices()
    assert device.last_seen_ms == T0
    marked = await store.mark_offline(
        [OfflineCandidate(dev, farm, DeviceState.ONLINE, T0)], T0 + 60_000
    )
    assert [r.status.state for r in marked.records] == [DeviceState.OFFLINE]
    assert (await store.evaluate_alarm_timers(T0 + 69_000)).updates == ()
    (up,) = (await store.evaluate_alarm_timers(T0 + 70_000)).updates
    assert (up.alarm.kind.value, up.alarm.device_id, up.change) == (
        "offline",
        dev,
        AlarmChange.RAISED,
    )
    heard: list[Change] = []
    store.add_listener(heard.extend)
    await store.ingest(_reading(farm, dev, sensor, 21.0, T0 + 80_000))
    await store.ping()
    assert [u.change for u in _alarms(heard)] == [AlarmChange.CLEARED]
