"""The retention sweeper over the services the app builds: periods, resume, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from farmbridge.app import build_app, build_services, retention_service
from farmbridge.config import Settings
from farmbridge.domain import DeviceState
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.reports import DeviceReport, ReportedReading, ReportedStatus
from farmbridge.domain.retention import DAY_MS, History, RetentionPolicy
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.hub.channel import Part, Subscription
from farmbridge.hub.hub import Hub
from farmbridge.protocol.const import ALL_TOPICS, Mode, ResyncReason
from farmbridge.service.access import Principal
from farmbridge.service.bundle import Services
from farmbridge.service.retention import MAX_BATCHES_PER_SWEEP, RetentionService
from farmbridge.service.stream import Resync, StreamService, Subscribed
from farmbridge.store.sql import SqlStore
from tests.unit.bridge_services import SECRET_KEY, admin, already_online, device, running_services

HOUR_MS = 3_600_000
T0 = 1_700_002_800_000  # a whole hour


@dataclass
class Client:
    live: list[int] = field(default_factory=list)

    def deliver(self, sub: Subscription, parts: Sequence[Part]) -> None:
        for _, changes in parts:
            self.live.extend(c.seq for c in changes)


@dataclass
class Farm:
    svc: Services
    clock: FakeClock
    hub: Hub
    stream: StreamService
    who: Principal
    farm_id: int
    sensor_id: int
    key: str

    async def post(self, n: int) -> None:
        entry = await self.svc.ingest.authenticate(self.key)
        now = self.clock.wall_ms()
        report = DeviceReport(
            readings=[ReportedReading("temp", float(i % 50), now) for i in range(n)]
        )
        await self.svc.ingest.ingest(entry, report)

    async def resume(self, since: int) -> Subscribed | Resync:
        channel = await self.stream.channel(self.farm_id)
        return await self.stream.subscribe(
            self.who,
            Client(),
            self.farm_id,
            topics=ALL_TOPICS,
            mode=Mode.ALL,
            since=since,
            epoch=channel.epoch,
        )

    def sweeper(
        self,
        policy: RetentionPolicy | None = None,
        *,
        batch_rows: int = 5_000,
        count_every_s: float = 900.0,
    ) -> RetentionService:
        return RetentionService(
            self.svc.store,
            policy=policy or RetentionPolicy(),
            clock=self.clock,
            batch_rows=batch_rows,
            count_every_s=count_every_s,
        )


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[Farm]:
    clock = FakeClock(wall_ms=T0)
    async with running_services(tmp_path, clock) as svc:
        hub = Hub(recent_size=2, clock=clock)  # so small that resumes read the store
        svc.store.add_listener(hub.publish)
        stream = StreamService(svc.store, hub, max_replay=1_000)
        dev, key = await device(svc, "node", sensors=(SensorSpec("temp", "C", -40, 80),))
        already_online(svc.store, dev.id)
        (sensor,) = await svc.store.list_sensors(device_id=dev.id)
        yield Farm(svc, clock, hub, stream, await admin(svc), dev.farm_id, sensor.id, key)


async def _until_heard(f: Farm, seq: int) -> None:
    channel = await f.stream.channel(f.farm_id)
    for _ in range(1_000):
        if channel.last_seq >= seq:
            f.hub.flush()
            return
        await f.svc.store.get_farm(f.farm_id)  # a round trip to a worker thread
    pytest.fail(f"seq {seq} never reached the hub")


async def test_sweep_deletes_raw_readings_past_their_period_only(farm: Farm) -> None:
    """Readings older than the raw period go (rolled up first); younger ones stay."""
    f = farm
    t0 = f.clock.wall_ms()
    await f.post(10)  # seqs 1..10, received at t0
    f.clock.advance(20 * 86_400)
    await f.post(5)  # 11..15, 20 days later
    f.clock.advance(11 * 86_400)  # the first ten are 31 days old, the five 11
    deleted_before = _deleted("readings")
    report = await f.sweeper().sweep()
    assert report.rolled == 15
    assert _deleted("readings") - deleted_before == 10
    assert report.deleted[History.READINGS] == 10
    kept = await f.svc.store.readings(f.sensor_id, t0, f.clock.wall_ms())
    assert [r.seq for r in kept] == [11, 12, 13, 14, 15]
    (hour,) = await f.svc.store.reading_buckets(f.sensor_id, t0, t0 + HOUR_MS, HOUR_MS)
    assert hour.count == 10  # the deleted readings' numbers are in the rollups


async def test_resume_from_before_deleted_history_is_told_to_reload(farm: Farm) -> None:
    """A client resuming from a seq whose successors retention deleted gets
    resync_required (too_far_behind), never a replay with a silent gap."""
    f = farm
    await f.post(10)
    f.clock.advance(31 * 86_400)
    await f.post(5)
    await _until_heard(f, 15)
    await f.sweeper().sweep()
    assert await f.svc.store.history_horizon(f.farm_id) == 10
    for since in (0, 4, 9):
        result = await f.resume(since)
        assert isinstance(result, Resync)
        assert result.reason is ResyncReason.TOO_FAR_BEHIND
        assert result.seq == 15
    result = await f.resume(10)  # nothing after 10 was deleted: a full replay
    assert isinstance(result, Subscribed)
    assert [c.seq for c in result.replay] == [11, 12, 13, 14, 15]


async def test_resume_before_any_deletion_replays_everything(farm: Farm) -> None:
    """Rolling up alone deletes nothing: a resume from 0 still replays every change."""
    f = farm
    await f.post(6)
    await _until_heard(f, 6)
    await f.sweeper(RetentionPolicy(readings_days=None)).sweep()
    result = await f.resume(0)
    assert isinstance(result, Subscribed)
    assert [c.seq for c in result.replay] == [1, 2, 3, 4, 5, 6]


async def test_two_instances_sweeping_at_once_keep_the_rollups_exact(
    farm: Farm, tmp_path: Path
) -> None:
    """Sweeps of two instances on one database, at once, count each reading once and
    delete each row once."""
    f = farm
    for _ in range(30):
        await f.post(7)
        f.clock.advance(60)
    f.clock.advance(31 * 86_400)
    other = SqlStore(f"sqlite:///{tmp_path / 'farmbridge.db'}", clock=f.clock)
    await other.start()
    try:
        mine = f.sweeper(batch_rows=16)
        theirs = RetentionService(other, policy=RetentionPolicy(), clock=f.clock, batch_rows=16)
        reports = await asyncio.gather(mine.sweep(), theirs.sweep())
    finally:
        await other.close()
    assert sum(r.rolled for r in reports) == 210
    assert sum(r.deleted[History.READINGS] for r in reports) == 210
    assert await f.svc.store.readings(f.sensor_id, T0, T0 + DAY_MS) == []
    (hour,) = await f.svc.store.reading_buckets(f.sensor_id, T0, T0 + HOUR_MS, HOUR_MS)
    assert hour.count == 210


def _deleted(kind: str) -> float:
    value = REGISTRY.get_sample_value("farmbridge_retention_deleted_total", {"kind": kind})
    return value or 0.0


def _rows(farm: str, table: str) -> float | None:
    return REGISTRY.get_sample_value("farmbridge_store_rows", {"farm": farm, "table": table})


async def test_sweep_sets_the_rows_gauge_per_farm_and_table(farm: Farm) -> None:
    """farmbridge_store_rows{farm, table} holds each farm's rows, counted by the sweep at
    most every count_every_s, not per request."""
    f = farm
    await f.post(4)
    sweeper = f.sweeper(count_every_s=900)
    assert (await sweeper.sweep()).counted
    assert _rows("farm-node", "readings") == 4
    assert _rows("farm-node", "reading_rollups") == 2
    await f.post(3)
    f.clock.advance(899)
    assert not (await sweeper.sweep()).counted
    assert _rows("farm-node", "readings") == 4
    f.clock.advance(1)
    assert (await sweeper.sweep()).counted
    assert _rows("farm-node", "readings") == 7


def test_settings_give_the_documented_retention_defaults(tmp_path: Path) -> None:
    """Raw 30 days, 5-minute rollups 400, hourly for ever, events 365, commands 90; a
    period of 0 keeps that history for ever."""
    settings = Settings(data_dir=tmp_path, secret_key=SECRET_KEY)
    store = SqlStore(settings.resolved_database_url)
    policy = retention_service(settings, store, FakeClock()).policy
    assert policy == RetentionPolicy(
        readings_days=30, rollups_5m_days=400, rollups_1h_days=None, events_days=365
    )
    assert policy.commands_days == 90
    assert settings.retention_sweep_s == 60
    assert settings.retention_batch_rows == 5_000
    forever = Settings(data_dir=tmp_path, secret_key=SECRET_KEY, retention_raw_days=0)
    assert retention_service(forever, store, FakeClock()).policy.readings_days is None
    store.engine.dispose()


async def test_the_app_runs_the_sweeper_on_its_own_timer(tmp_path: Path) -> None:
    """While the app runs, a task named farmbridge.retention sweeps (every
    RETENTION_SWEEP_S); it stops with the app."""
    settings = Settings(data_dir=tmp_path, secret_key=SECRET_KEY, commit_window_ms=0.0)
    app = build_app(settings, build_services(settings, clock=FakeClock(wall_ms=T0)))

    def named() -> list[str]:
        return [t.get_name() for t in asyncio.all_tasks() if not t.done()]

    async with app.router.lifespan_context(app):
        assert "farmbridge.retention" in named()
    assert "farmbridge.retention" not in named()


async def test_status_changes_are_kept_whatever_their_age(farm: Farm) -> None:
    """Retention deletes readings, rollups, events and commands, never status changes."""
    f = farm
    entry = await f.svc.ingest.authenticate(f.key)
    status = ReportedStatus(DeviceState.OFFLINE, {}, f.clock.wall_ms())
    await f.svc.ingest.ingest(entry, DeviceReport(status=status))
    f.clock.advance(3_000 * 86_400)
    await f.sweeper().sweep()
    assert _rows("farm-node", "status_changes") == 1


async def test_a_backlog_is_deleted_over_several_sweeps(farm: Farm) -> None:
    """One sweep deletes at most MAX_BATCHES_PER_SWEEP batches per farm and kind."""
    f = farm
    await f.post(250)
    f.clock.advance(31 * 86_400)
    sweeper = f.sweeper(batch_rows=1)
    assert (await sweeper.sweep()).deleted[History.READINGS] == MAX_BATCHES_PER_SWEEP
    assert (await sweeper.sweep()).deleted[History.READINGS] == 250 - MAX_BATCHES_PER_SWEEP
