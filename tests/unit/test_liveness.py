"""Liveness for every transport on a FakeClock: the learned interval, the sweep that marks a
silent device offline (exactly once, even from two stores on one database), and data that
brings a device back online."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from farmbridge.domain import (
    Device,
    DeviceKind,
    DeviceState,
    IngestBatch,
    ReadingIn,
    StatusChange,
    StatusRecord,
)
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import ValidationFailed
from farmbridge.domain.liveness import (
    BURST_FLOOR_MS,
    LEARN_WEIGHT,
    MAX_STEP_RATIO,
    LivenessPolicy,
    learn,
    next_estimate,
)
from farmbridge.domain.reports import DeviceReport, ReportedReading
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.service.access import Principal
from farmbridge.service.bundle import Services
from farmbridge.service.directory import DeviceEntry
from farmbridge.service.liveness import LivenessService
from farmbridge.store.schema import devices, status_changes
from farmbridge.store.sql import SqlStore
from tests.unit.bridge_services import Heard, admin, device, running_services

TEMP = SensorSpec("temp", "C", -40, 80)
INTERVAL_S = 10.0
MIN_SILENCE_S = 5.0
POLICY = LivenessPolicy(multiple=3.0, min_silence_s=MIN_SILENCE_S)
OFFLINE_AFTER_S = 30.0
"""3 x INTERVAL_S, above the floor."""


def _learn_all(received_ms: list[int]) -> float | None:
    est: float | None = None
    anchor: int | None = None
    for r in received_ms:
        est, anchor = learn(est, anchor, r)
    return est


# The estimate.


def test_estimate_of_steady_reports_is_their_interval() -> None:
    """A device reporting every 60 s learns 60 s."""
    est = _learn_all([i * 60_000 for i in range(10)])
    assert est == pytest.approx(60.0)


def test_estimate_ignores_bursts_closer_than_the_floor() -> None:
    """A device that posts three messages at once every minute learns about a minute."""
    times = [m * 60_000 + k * 50 for m in range(20) for k in range(3)]
    est = _learn_all(times)
    assert est is not None
    assert 59.0 <= est <= 61.0


def test_estimate_of_a_device_faster_than_the_floor_is_the_floor() -> None:
    """Reports every 300 ms are bursts: the estimate is about the floor, never a few ms."""
    est = _learn_all([i * 300 for i in range(100)])
    assert est is not None
    assert BURST_FLOOR_MS / 1000 <= est <= 2 * BURST_FLOOR_MS / 1000


def test_estimate_moves_by_a_bounded_step_on_one_outlier() -> None:
    """One hour-long gap among minute reports moves the estimate by at most 2 ** 0.25."""
    est = next_estimate(60.0, 3_600.0)
    assert est == pytest.approx(60.0 * MAX_STEP_RATIO**LEARN_WEIGHT)
    assert next_estimate(60.0, 0.001) == pytest.approx(60.0 / MAX_STEP_RATIO**LEARN_WEIGHT)


def test_estimate_follows_a_changed_interval() -> None:
    """A device that moves from 60 s to 600 s reports is learned anew within 20 reports."""
    est: float | None = 60.0
    for _ in range(20):
        est = next_estimate(est, 600.0)
    assert est == pytest.approx(600.0, rel=0.05)


def test_estimate_anchor_moves_back_on_a_clock_step_without_a_sample() -> None:
    """A report older than the burst anchor (the wall clock stepped back) only re-anchors."""
    assert learn(60.0, 100_000, 50_000) == (60.0, 50_000)


def test_policy_offline_after_is_the_multiple_or_the_floor() -> None:
    """offline_after_s is max(multiple x interval, min silence); unknown interval: None."""
    assert POLICY.offline_after_s(INTERVAL_S) == OFFLINE_AFTER_S
    assert POLICY.offline_after_s(1.0) == MIN_SILENCE_S
    assert POLICY.offline_after_s(None) is None
    assert not POLICY.silent_too_long(None, 0, 10**12)


# The sweep on one bridge's services.


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def svc(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Services]:
    async with running_services(
        tmp_path, clock, liveness_multiple=3.0, liveness_min_silence_s=MIN_SILENCE_S
    ) as services:
        yield services


@pytest.fixture
async def who(svc: Services) -> Principal:
    return await admin(svc)


@pytest.fixture
async def node(svc: Services, who: Principal) -> DeviceEntry:
    """A sensor node whose expected interval is set to INTERVAL_S."""
    dev, key = await device(svc, "node", sensors=(TEMP,))
    await svc.farms.set_expected_interval(who, dev.id, INTERVAL_S)
    return await svc.ingest.authenticate(key)


async def _post(svc: Services, entry: DeviceEntry, clock: FakeClock) -> list[object]:
    report = DeviceReport(readings=[ReportedReading("temp", 20.0, clock.wall_ms())])
    return list((await svc.ingest.ingest(entry, report)).stored)


async def _state(svc: Services, device_id: int) -> DeviceState:
    return (await svc.store.get_device(device_id)).status.state


async def test_first_data_of_a_device_stores_it_online(
    svc: Services, clock: FakeClock, node: DeviceEntry
) -> None:
    """A device that never reported a status is online with its first data: one status
    change stored before its readings, then none with the next data."""
    first = await _post(svc, node, clock)
    assert isinstance(first[0], StatusRecord)
    assert first[0].status.state is DeviceState.ONLINE
    clock.advance(1)
    (again,) = await _post(svc, node, clock)
    assert not isinstance(again, StatusRecord)
    assert await _state(svc, node.device.id) is DeviceState.ONLINE


async def test_sweep_marks_a_silent_device_offline_after_the_multiple_not_before(
    svc: Services, clock: FakeClock, node: DeviceEntry
) -> None:
    """Silent for exactly multiple x interval it stays online; a moment later the sweep
    stores (and streams) one offline status with the farm's next seq."""
    heard = Heard(svc)
    await _post(svc, node, clock)
    head = (await svc.store.get_farm(node.device.farm_id)).last_seq
    clock.advance(OFFLINE_AFTER_S)
    assert await svc.liveness.sweep() == []
    clock.advance(0.001)
    (marked,) = await svc.liveness.sweep()
    assert marked.status.state is DeviceState.OFFLINE
    assert marked.seq == head + 1
    assert marked.received_ms == clock.wall_ms()
    assert await _state(svc, node.device.id) is DeviceState.OFFLINE
    stored = await svc.store.changes_since(node.device.farm_id, head, 10)
    assert stored == [marked]
    await svc.store.get_farm(node.device.farm_id)  # a round trip: the listener has run
    assert heard.changes[-1] == marked
    assert await svc.liveness.sweep() == []  # said once


async def test_offline_device_comes_back_online_with_its_next_data(
    svc: Services, clock: FakeClock, node: DeviceEntry
) -> None:
    """Data from a device the sweep marked offline stores an online status first."""
    await _post(svc, node, clock)
    clock.advance(OFFLINE_AFTER_S + 1)
    assert len(await svc.liveness.sweep()) == 1
    clock.advance(1)
    back, reading = await _post(svc, node, clock)
    assert isinstance(back, StatusRecord)
    assert back.status.state is DeviceState.ONLINE
    assert reading.seq == back.seq + 1  # type: ignore[attr-defined]
    assert await _state(svc, node.device.id) is DeviceState.ONLINE


async def test_device_that_never_reported_stays_unknown(
    svc: Services, clock: FakeClock, node: DeviceEntry
) -> None:
    """However long a never-heard-of device is silent, the sweep leaves it unknown."""
    clock.advance(100 * OFFLINE_AFTER_S)
    assert await svc.liveness.sweep() == []
    assert await _state(svc, node.device.id) is DeviceState.UNKNOWN


async def test_device_without_an_interval_is_never_marked_offline(
    svc: Services, clock: FakeClock, who: Principal
) -> None:
    """A device that reported once (nothing learned yet, nothing set) is not swept."""
    dev, key = await device(svc, "lonely", sensors=(TEMP,))
    await _post(svc, await svc.ingest.authenticate(key), clock)
    clock.advance(86_400)
    assert await svc.liveness.sweep() == []
    assert await _state(svc, dev.id) is DeviceState.ONLINE


async def test_learned_interval_is_kept_on_the_device_and_times_the_sweep(
    svc: Services, clock: FakeClock, who: Principal
) -> None:
    """A device posting a burst of three every 20 s learns 20 s in the store; the sweep
    then marks it offline after 3 x 20 s of silence, not before."""
    dev, key = await device(svc, "learner", sensors=(TEMP,))
    entry = await svc.ingest.authenticate(key)
    for _ in range(6):
        for _ in range(3):
            await _post(svc, entry, clock)
            clock.advance(0.01)
        clock.advance(20 - 0.03)
    stored = await svc.store.get_device(dev.id)
    assert stored.learned_interval_s == pytest.approx(20.0, rel=0.01)
    assert stored.interval_s == stored.learned_interval_s
    clock.advance(60 - 20 - 0.5)  # 59.5 s after the last burst's last message
    assert await svc.liveness.sweep() == []
    clock.advance(1)
    assert len(await svc.liveness.sweep()) == 1


async def test_a_set_interval_wins_over_the_learned_one_and_null_learns_again(
    svc: Services, clock: FakeClock, who: Principal, node: DeviceEntry
) -> None:
    """expected_interval_s, when set, is the interval; set back to None the learned one is."""
    for _ in range(3):
        await _post(svc, node, clock)
        clock.advance(2)
    set_ = await svc.store.get_device(node.device.id)
    assert set_.interval_s == INTERVAL_S
    assert set_.learned_interval_s == pytest.approx(2.0)
    learned = await svc.farms.set_expected_interval(who, node.device.id, None)
    assert learned.interval_s == pytest.approx(2.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, 8 * 86_400.0])
async def test_set_interval_refuses_bad_values_naming_the_field(
    svc: Services, who: Principal, node: DeviceEntry, bad: float
) -> None:
    """Zero, negative, non-finite or beyond a week: ValidationFailed on expected_interval_s."""
    with pytest.raises(ValidationFailed) as err:
        await svc.farms.set_expected_interval(who, node.device.id, bad)
    assert err.value.field == "expected_interval_s"


async def test_sweep_leaves_a_device_heard_of_between_its_read_and_its_write(
    svc: Services, clock: FakeClock, node: DeviceEntry
) -> None:
    """Data committed after the sweep read the device and before it wrote wins: the
    conditional update finds last-seen moved and stores nothing."""
    await _post(svc, node, clock)
    clock.advance(OFFLINE_AFTER_S + 1)
    store = svc.store
    real = store.watched_devices

    async def read_then_data() -> list[Device]:
        seen = await real()
        await _post(svc, node, clock)
        return seen

    store.watched_devices = read_then_data  # type: ignore[method-assign]
    assert await svc.liveness.sweep() == []
    assert await _state(svc, node.device.id) is DeviceState.ONLINE


async def test_concurrent_data_from_an_offline_device_says_online_once(
    svc: Services, clock: FakeClock, node: DeviceEntry
) -> None:
    """Many batches of one offline device committed together store one online status."""
    await _post(svc, node, clock)
    clock.advance(OFFLINE_AFTER_S + 1)
    await svc.liveness.sweep()
    results = await asyncio.gather(*(_post(svc, node, clock) for _ in range(20)))
    online = [c for r in results for c in r if isinstance(c, StatusRecord)]
    assert len(online) == 1


# Signs of life.


async def _store_with_device(tmp_path: Path, clock: FakeClock) -> tuple[SqlStore, int, int, int]:
    store = SqlStore(f"sqlite:///{tmp_path / 'fb.db'}", clock=clock)
    await store.start()
    farm = await store.create_farm("f", "F")
    dev = await store.create_device(farm.id, "n", DeviceKind.SENSOR_NODE, "N", "h", [TEMP])
    (sensor,) = await store.list_sensors(device_id=dev.id)
    return store, farm.id, dev.id, sensor.id


def _reading(farm: int, dev: int, sensor: int, at_ms: int, *, alive: bool = True) -> IngestBatch:
    return IngestBatch(
        dev, farm, at_ms, readings=(ReadingIn(sensor, 1.0, at_ms),), sign_of_life=alive
    )


async def test_a_batch_that_is_no_sign_of_life_neither_revives_nor_moves_last_seen(
    tmp_path: Path, clock: FakeClock
) -> None:
    """An MQTT broker's retained message (sign_of_life False) is stored, but the device
    stays unknown and its last-seen does not move."""
    store, farm, dev, sensor = await _store_with_device(tmp_path, clock)
    try:
        result = await store.ingest(_reading(farm, dev, sensor, clock.wall_ms(), alive=False))
        assert [type(c).__name__ for c in result.stored] == ["Reading"]
        stored = await store.get_device(dev)
        assert stored.status.state is DeviceState.UNKNOWN
        assert stored.last_seen_ms is None
    finally:
        await store.close()


async def test_an_offline_status_alone_does_not_move_last_seen(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A last will (an offline status and nothing else) is the broker's word: last-seen
    stays at the device's own last report."""
    store, farm, dev, sensor = await _store_with_device(tmp_path, clock)
    try:
        first = clock.wall_ms()
        await store.ingest(_reading(farm, dev, sensor, first))
        clock.advance(5)
        will = StatusChange(DeviceState.OFFLINE, {}, clock.wall_ms())
        await store.ingest(IngestBatch(dev, farm, clock.wall_ms(), status=will))
        stored = await store.get_device(dev)
        assert stored.status.state is DeviceState.OFFLINE
        assert stored.last_seen_ms == first
    finally:
        await store.close()


# Two bridge instances on one database.


async def test_two_sweeps_over_one_database_mark_a_device_offline_exactly_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Two stores on one SQLite file (two bridge instances) both read the silent device
    before either writes; one stores the offline status, the other stores nothing."""
    one, farm, dev, sensor = await _store_with_device(tmp_path, clock)
    two = SqlStore(f"sqlite:///{tmp_path / 'fb.db'}", clock=clock)
    await two.start()
    try:
        await one.set_expected_interval(dev, INTERVAL_S)
        await one.ingest(_reading(farm, dev, sensor, clock.wall_ms()))
        clock.advance(OFFLINE_AFTER_S + 1)
        both_read = asyncio.Barrier(2)
        for store in (one, two):
            real = store.watched_devices

            async def read_then_wait(real: object = real) -> list[Device]:
                seen: list[Device] = await real()  # type: ignore[operator]
                await both_read.wait()
                return seen

            store.watched_devices = read_then_wait  # type: ignore[method-assign]
        sweeps = [LivenessService(s, policy=POLICY, clock=clock) for s in (one, two)]
        results = await asyncio.gather(*(s.sweep() for s in sweeps))
        assert sorted(len(r) for r in results) == [0, 1]
        with one.engine.connect() as conn:
            offline = conn.execute(
                select(func.count())
                .select_from(status_changes)
                .where(status_changes.c.device_id == dev, status_changes.c.state == "offline")
            ).scalar_one()
            state = conn.execute(select(devices.c.state).where(devices.c.id == dev)).scalar_one()
        assert offline == 1
        assert state == "offline"
        farm_seq = (await two.get_farm(farm)).last_seq
        assert farm_seq == (results[0] or results[1])[0].seq  # no seq spent by the loser
    finally:
        await two.close()
        await one.close()


async def test_mqtt_silence_and_the_sweep_never_both_mark_a_device_offline(
    svc: Services, clock: FakeClock, node: DeviceEntry
) -> None:
    """MQTT's own silence timeout marks through the same conditional write: after the
    sweep marked the device, it stores nothing; after it marked, the sweep stores nothing."""
    await _post(svc, node, clock)
    clock.advance(OFFLINE_AFTER_S + 1)
    assert len(await svc.liveness.sweep()) == 1
    assert not await svc.named_devices.mark_silent(node, clock.wall_ms())
    clock.advance(1)
    await _post(svc, node, clock)  # back online
    clock.advance(OFFLINE_AFTER_S + 1)
    assert await svc.named_devices.mark_silent(node, clock.wall_ms())
    assert await svc.liveness.sweep() == []
    assert await _state(svc, node.device.id) is DeviceState.OFFLINE
