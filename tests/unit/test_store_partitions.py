"""PostgreSQL's day partitions of readings: the migration, partitions made ahead, drops."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, text

from farmbridge.domain import DeviceKind, IngestBatch, ReadingIn
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.retention import History, RetentionPolicy
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.service.retention import RetentionService
from farmbridge.store import partitions
from farmbridge.store.dialect import build_engine
from farmbridge.store.migrate import alembic_config
from farmbridge.store.partitions import DAY_MS, partition_name
from farmbridge.store.rollups import HOUR_MS
from farmbridge.store.sql import SqlStore
from tests.postgres import Postgres
from tests.unit.bridge_services import already_online

pytestmark = pytest.mark.integration

TODAY = partitions.day_start(int(time.time() * 1000))
"""The migration makes partitions from the real today on: tests live far from it."""
MINUTE_MS = 60_000


@pytest.fixture
def url(postgres: Postgres) -> str:
    return postgres.new_database()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall_ms=TODAY + 100 * DAY_MS + 12 * HOUR_MS)


@pytest.fixture
async def store(url: str, clock: FakeClock) -> AsyncIterator[SqlStore]:
    s = SqlStore(url, clock=clock)
    await s.start()
    yield s
    await s.close()


async def _sensor(store: SqlStore) -> tuple[int, int, int]:
    farm = await store.create_farm("f1", "F1")
    dev = await store.create_device(
        farm.id, "node", DeviceKind.SENSOR_NODE, "Node", "hash-f1", [SensorSpec("t", "C")]
    )
    already_online(store, dev.id)
    (sensor,) = await store.list_sensors(device_id=dev.id)
    return farm.id, dev.id, sensor.id


async def _ingest(store: SqlStore, ids: tuple[int, int, int], start_ms: int, minutes: int) -> int:
    """Two readings a minute for `minutes` from `start_ms`, received when measured."""
    farm_id, dev_id, sensor_id = ids
    for m in range(minutes):
        ts = start_ms + m * MINUTE_MS
        batch = (ReadingIn(sensor_id, float(m % 17), ts), ReadingIn(sensor_id, -m / 3, ts + 1))
        await store.ingest(IngestBatch(dev_id, farm_id, received_ms=ts, readings=batch))
    return 2 * minutes


def _rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(sql), params)]


def _where(engine: Engine) -> dict[str, int]:
    """Readings per partition they are stored in."""
    rows = _rows(engine, "SELECT tableoid::regclass::text, count(*) FROM readings GROUP BY 1")
    return {str(name): int(n) for name, n in rows}


def _relations(engine: Engine, name: str) -> tuple[int, int]:
    """(rows in pg_class, rows in pg_inherits) of the relation `name`."""
    in_class = _rows(engine, "SELECT count(*) FROM pg_class WHERE relname = :n", n=name)
    inherits = _rows(
        engine,
        "SELECT count(*) FROM pg_inherits JOIN pg_class c ON c.oid = inhrelid WHERE c.relname = :n",
        n=name,
    )
    return int(in_class[0][0]), int(inherits[0][0])


def _marks(engine: Engine, farm_id: int) -> tuple[int, int]:
    ((rolled, purged),) = _rows(
        engine, "SELECT rolled_seq, purged_seq FROM history_marks WHERE farm_id = :f", f=farm_id
    )
    return int(rolled), int(purged)


def _migrate(engine: Engine, revision: str) -> None:
    """Up or down to `revision`, as the store's start-up migrates (store/migrate.py)."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        if revision == "head":
            command.upgrade(cfg, revision)
        else:
            command.downgrade(cfg, revision)


async def test_migration_converts_a_table_with_rows_and_keeps_every_query(
    url: str, clock: FakeClock
) -> None:
    """Readings stored in the plain table of 0008 are all in the partitioned table after
    0009, each in its day's partition, and the store answers every query the same."""
    clock.set_wall_ms(TODAY - 3 * DAY_MS)
    store = SqlStore(url, clock=clock)
    await store.start()
    try:
        ids = await _sensor(store)
        n = await _ingest(store, ids, TODAY - 3 * DAY_MS + 23 * HOUR_MS, 120)
        n += await _ingest(store, ids, TODAY + 10 * HOUR_MS, 30)
    finally:
        await store.close()
    engine = build_engine(url)
    try:
        _migrate(engine, "0008")
        relkind = "SELECT relkind FROM pg_class WHERE relname = 'readings'"
        assert _rows(engine, relkind) == [("r",)]
        plain = _rows(engine, "SELECT * FROM readings ORDER BY farm_id, seq")
        assert len(plain) == n
        async with _started(url, clock) as before:
            answers = await _queries(before, ids)

        _migrate(engine, "head")

        assert _rows(engine, relkind) == [("p",)]
        assert _rows(engine, "SELECT * FROM readings ORDER BY farm_id, seq") == plain
        assert _where(engine) == {
            partition_name(TODAY - 3 * DAY_MS): 2 * 60,
            partition_name(TODAY - 2 * DAY_MS): 2 * 60,
            partition_name(TODAY): 2 * 30,
        }
        pk = _rows(
            engine,
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'readings'::regclass AND contype = 'p'",
        )
        assert pk == [("PRIMARY KEY (farm_id, seq, received_ms)",)]
        index = _rows(
            engine,
            "SELECT indexrelid::regclass::text, indisvalid FROM pg_index "
            "WHERE indrelid = 'readings'::regclass AND NOT indisprimary",
        )
        assert index == [("ix_readings_sensor_ts", True)]
        async with _started(url, clock) as after:
            assert await _queries(after, ids) == answers
    finally:
        engine.dispose()


@contextlib.asynccontextmanager
async def _started(url: str, clock: FakeClock) -> AsyncIterator[SqlStore]:
    """A store on `url` whose start-up migrates nothing (the test moved the revision)."""
    s = SqlStore(url, clock=clock)
    s._db.bind_loop(asyncio.get_running_loop())
    s._db.writer.start()
    try:
        yield s
    finally:
        await s.close()


async def _queries(store: SqlStore, ids: tuple[int, int, int]) -> list[object]:
    farm_id, _, sensor_id = ids
    span = (TODAY - 3 * DAY_MS, TODAY + DAY_MS)
    charts = [(span[0], span[1], HOUR_MS), (span[0] + 7, span[1], 10 * MINUTE_MS)]
    # The average up to float rounding: the sum's order follows the rows' storage.
    buckets = [
        [(b.start_ms, b.count, b.min, round(b.avg, 9), b.max) for b in bs]
        for bs in [await store.reading_buckets(sensor_id, *chart) for chart in charts]
    ]
    return [
        await store.readings(sensor_id, *span),
        buckets,
        await store.changes_since(farm_id, 0, 1_000),
    ]


async def test_partitions_are_made_ahead_and_an_insert_outside_them_lands_in_default(
    store: SqlStore, clock: FakeClock
) -> None:
    """The sweeper makes today's partition and a week's ahead, once however often it is
    asked; a reading received far outside them is stored in the DEFAULT partition."""
    now = clock.wall_ms()
    made = await store.prepare_partitions(now)
    want = [partition_name(TODAY + (100 + d) * DAY_MS) for d in range(8)]
    assert made == want
    assert await store.prepare_partitions(now) == []
    assert await store.prepare_partitions(now + DAY_MS) == [partition_name(TODAY + 108 * DAY_MS)]
    ids = await _sensor(store)
    await _ingest(store, ids, now, 3)
    await _ingest(store, ids, now + 400 * DAY_MS, 2)
    assert _where(store.engine) == {partition_name(now): 6, partitions.DEFAULT_PARTITION: 4}
    assert [r.ts_ms for r in await store.readings(ids[2], now, now + 401 * DAY_MS)][-1] == (
        now + 400 * DAY_MS + MINUTE_MS + 1
    )


async def test_a_day_with_rows_in_default_gets_no_partition(
    store: SqlStore, clock: FakeClock
) -> None:
    """Rows already in DEFAULT for a day keep it from getting a partition (PostgreSQL
    would refuse one); the other days get theirs."""
    now = clock.wall_ms()
    ids = await _sensor(store)
    await _ingest(store, ids, now + 2 * DAY_MS, 2)
    made = await store.prepare_partitions(now)
    assert partition_name(now + 2 * DAY_MS) not in made
    assert len(made) == 7
    assert _where(store.engine) == {partitions.DEFAULT_PARTITION: 4}


async def _old_and_new(store: SqlStore, clock: FakeClock) -> tuple[tuple[int, int, int], int]:
    """Readings on a day 40 days back (in its own partition) and today; returns the
    sensor's ids and the last seq of the old day."""
    now = clock.wall_ms()
    old_day = partitions.day_start(now) - 40 * DAY_MS
    await store.prepare_partitions(old_day)
    await store.prepare_partitions(now)
    ids = await _sensor(store)
    await _ingest(store, ids, old_day + 6 * HOUR_MS, 3 * 60)
    last_old = (await store.get_farm(ids[0])).last_seq
    await _ingest(store, ids, now - 2 * HOUR_MS, 60)
    return ids, last_old


async def test_a_sweep_drops_an_old_rolled_up_partition_and_charts_stay(
    store: SqlStore, clock: FakeClock
) -> None:
    """A day partition wholly past the raw cutoff and rolled up is dropped in one go: it
    is gone from pg_class and pg_inherits, today's readings stay, the farm's purged_seq is
    the day's last seq and the day's hourly chart, now from rollups, is the same."""
    ids, last_old = await _old_and_new(store, clock)
    farm_id, _, sensor_id = ids
    old_day = partitions.day_start(clock.wall_ms()) - 40 * DAY_MS
    old_name = partition_name(old_day)
    chart = (old_day, old_day + DAY_MS, HOUR_MS)
    before = await store.reading_buckets(sensor_id, *chart)
    assert [b.count for b in before] == [120, 120, 120]
    sweeper = RetentionService(store, policy=RetentionPolicy(), clock=clock)

    report = await sweeper.sweep()

    assert old_name in report.partitions_dropped
    assert _relations(store.engine, old_name) == (0, 0)
    assert report.deleted[History.READINGS] == 0  # nothing left for the batched delete
    assert _where(store.engine) == {partition_name(clock.wall_ms()): 120}
    assert _marks(store.engine, farm_id) == ((await store.get_farm(farm_id)).last_seq, last_old)
    assert await store.history_horizon(farm_id) == last_old
    assert await store.reading_buckets(sensor_id, *chart) == before
    assert (await sweeper.sweep()).partitions_dropped == []


async def test_a_partition_not_all_rolled_up_is_not_dropped(
    store: SqlStore, clock: FakeClock
) -> None:
    """An old partition with readings not rolled up stays; the batched delete takes only
    its rolled-up prefix, and once the rest is rolled up the partition is dropped."""
    ids, last_old = await _old_and_new(store, clock)
    farm_id = ids[0]
    old_name = partition_name(partitions.day_start(clock.wall_ms()) - 40 * DAY_MS)
    cutoff = clock.wall_ms() - 30 * DAY_MS
    assert old_name not in await store.drop_partitions(cutoff)
    assert await store.roll_up(farm_id, 100) == 100
    assert old_name not in await store.drop_partitions(cutoff)
    assert _relations(store.engine, old_name) == (1, 1)
    assert await store.purge(History.READINGS, farm_id, cutoff, 5_000) == 100
    assert _where(store.engine)[old_name] == 3 * 60 * 2 - 100
    assert await store.history_horizon(farm_id) == _marks(store.engine, farm_id)[0]
    while await store.roll_up(farm_id):
        pass
    assert old_name in await store.drop_partitions(cutoff)
    assert await store.history_horizon(farm_id) == last_old


async def test_a_day_partition_stays_until_the_whole_day_is_past_the_cutoff(
    store: SqlStore, clock: FakeClock
) -> None:
    """Readings in a day partition are not deleted row by row as they pass the cutoff:
    they wait, at most a day, for their partition to be dropped whole."""
    ids, _ = await _old_and_new(store, clock)
    old_day = partitions.day_start(clock.wall_ms()) - 40 * DAY_MS
    while await store.roll_up(ids[0]):
        pass
    mid_day = old_day + 12 * HOUR_MS
    assert partition_name(old_day) not in await store.drop_partitions(mid_day)
    assert await store.purge(History.READINGS, ids[0], mid_day, 5_000) == 0
    assert _where(store.engine)[partition_name(old_day)] == 360


async def test_two_sweepers_at_once_are_safe(store: SqlStore, url: str, clock: FakeClock) -> None:
    """Two instances sweeping one database at once make each partition once and drop the
    old one once, without an error, and the charts stay exact."""
    ids, last_old = await _old_and_new(store, clock)
    farm_id, _, sensor_id = ids
    old_day = partitions.day_start(clock.wall_ms()) - 40 * DAY_MS
    chart = (old_day, old_day + DAY_MS, HOUR_MS)
    before = await store.reading_buckets(sensor_id, *chart)
    clock.set_wall_ms(clock.wall_ms() + 20 * DAY_MS)  # new days to make ahead
    other = SqlStore(url, clock=clock)
    await other.start()
    try:
        reports = await asyncio.gather(
            *(
                RetentionService(s, policy=RetentionPolicy(), clock=clock).sweep()
                for s in (store, other)
            )
        )
    finally:
        await other.close()
    made = [name for r in reports for name in r.partitions_made]
    assert sorted(made) == sorted(set(made))
    assert len(made) == 8
    dropped = [name for r in reports for name in r.partitions_dropped]
    assert dropped.count(partition_name(old_day)) == 1
    assert _relations(store.engine, partition_name(old_day)) == (0, 0)
    assert await store.history_horizon(farm_id) >= last_old
    assert await store.reading_buckets(sensor_id, *chart) == before
    assert sum(r.rolled for r in reports) == 3 * 60 * 2 + 60 * 2


async def test_a_drop_gives_up_while_the_table_is_in_use(
    store: SqlStore, url: str, clock: FakeClock
) -> None:
    """While another transaction reads readings, a drop waits at most its lock timeout and
    drops nothing (ingest would queue behind it); the next sweep drops the partition."""
    ids, last_old = await _old_and_new(store, clock)
    old_name = partition_name(partitions.day_start(clock.wall_ms()) - 40 * DAY_MS)
    while await store.roll_up(ids[0]):
        pass
    cutoff = clock.wall_ms() - 30 * DAY_MS
    holder = build_engine(url)
    try:
        with holder.connect() as reading:
            reading.execute(text("SELECT count(*) FROM readings"))  # its lock lasts till commit
            assert await store.drop_partitions(cutoff) == []
            assert _relations(store.engine, old_name) == (1, 1)
            assert await store.history_horizon(ids[0]) == 0
            reading.commit()
    finally:
        holder.dispose()
    assert old_name in await store.drop_partitions(cutoff)
    assert await store.history_horizon(ids[0]) == last_old
