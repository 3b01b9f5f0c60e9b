"""Rollups and retention in the SQL store: exact rollups, bounded deletes, same charts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Connection, event

from farmbridge.domain import (
    CommandState,
    DeviceKind,
    EventIn,
    EventLevel,
    IngestBatch,
    ReadingBucket,
    ReadingIn,
)
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.retention import DAY_MS, History
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.store import rollups
from farmbridge.store.rollups import FIVE_MINUTES_MS, HOUR_MS
from farmbridge.store.sql import SqlStore
from tests.unit.bridge_services import already_online

T0 = 1_700_002_800_000  # a whole hour
MINUTE_MS = 60_000


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall_ms=T0)


@pytest.fixture
def db_url(database_url: str) -> str:
    """SQLite, then PostgreSQL (tests/conftest.py's `database_url`)."""
    return database_url


@pytest.fixture
async def store(db_url: str, clock: FakeClock) -> AsyncIterator[SqlStore]:
    s = SqlStore(db_url, clock=clock)
    await s.start()
    yield s
    await s.close()


async def _sensor(store: SqlStore, name: str = "f1") -> tuple[int, int, int]:
    farm = await store.create_farm(name, name.upper())
    dev = await store.create_device(
        farm.id, "node", DeviceKind.SENSOR_NODE, "Node", f"hash-{name}", [SensorSpec("t", "C")]
    )
    already_online(store, dev.id)
    (sensor,) = await store.list_sensors(device_id=dev.id)
    return farm.id, dev.id, sensor.id


def _wave(i: int) -> float:
    """Values that differ in every bucket, so a misplaced reading shows."""
    return float((i * 37) % 101) / 4 - 10


async def _ingest_span(
    store: SqlStore, ids: tuple[int, int, int], start_ms: int, minutes: int, *, per_min: int = 3
) -> int:
    """`per_min` readings a minute for `minutes` from `start_ms`, received when measured."""
    farm_id, dev_id, sensor_id = ids
    n = 0
    for m in range(minutes):
        ts = start_ms + m * MINUTE_MS
        batch = tuple(ReadingIn(sensor_id, _wave(n + k), ts + k * 1_000) for k in range(per_min))
        n += per_min
        await store.ingest(IngestBatch(dev_id, farm_id, received_ms=ts, readings=batch))
    return n


async def _roll_all(store: SqlStore, farm_id: int) -> int:
    total = 0
    while added := await store.roll_up(farm_id):
        total += added
    return total


def _same(got: list[ReadingBucket], want: list[ReadingBucket]) -> None:
    assert [(b.start_ms, b.count, b.min, b.max) for b in got] == [
        (b.start_ms, b.count, b.min, b.max) for b in want
    ]
    assert [b.avg for b in got] == pytest.approx([b.avg for b in want])


def _python_buckets(
    values: list[tuple[int, float]], start_ms: int, end_ms: int, bucket_ms: int
) -> list[ReadingBucket]:
    groups: dict[int, list[float]] = {}
    for ts, v in values:
        if start_ms <= ts < end_ms:
            groups.setdefault((ts - start_ms) // bucket_ms, []).append(v)
    return [
        ReadingBucket(start_ms + b * bucket_ms, len(vs), min(vs), sum(vs) / len(vs), max(vs))
        for b, vs in sorted(groups.items())
    ]


async def test_roll_up_adds_each_reading_once(store: SqlStore) -> None:
    """A second roll-up adds nothing: every reading is in the rollups exactly once."""
    ids = await _sensor(store)
    n = await _ingest_span(store, ids, T0, 70)
    assert await _roll_all(store, ids[0]) == n
    assert await store.roll_up(ids[0]) == 0
    hours = await store.reading_buckets(ids[2], T0, T0 + 2 * HOUR_MS, HOUR_MS)
    assert [b.count for b in hours] == [180, 30]


async def test_roll_up_in_small_batches_matches_one_batch(store: SqlStore) -> None:
    """Rolling up 7 readings at a time gives the same rollups as all at once."""
    ids = await _sensor(store)
    await _ingest_span(store, ids, T0, 20)
    before = await store.reading_buckets(ids[2], T0, T0 + HOUR_MS, FIVE_MINUTES_MS)
    while await store.roll_up(ids[0], 7):
        pass
    await store.purge(History.READINGS, ids[0], T0 + DAY_MS, 10_000)
    _same(await store.reading_buckets(ids[2], T0, T0 + HOUR_MS, FIVE_MINUTES_MS), before)


async def test_roll_up_by_two_instances_at_once_counts_each_reading_once(
    store: SqlStore, db_url: str, clock: FakeClock
) -> None:
    """Two stores on one database rolling up at once add each reading once."""
    ids = await _sensor(store)
    n = await _ingest_span(store, ids, T0, 60)
    other = SqlStore(db_url, clock=clock)
    await other.start()
    try:
        for _ in range(20):
            await asyncio.gather(store.roll_up(ids[0], 13), other.roll_up(ids[0], 13))
    finally:
        await other.close()
    (hour,) = await store.reading_buckets(ids[2], T0, T0 + HOUR_MS, HOUR_MS)
    assert hour.count == n


async def test_chart_is_the_same_from_rollups_after_raw_readings_are_deleted(
    store: SqlStore, clock: FakeClock
) -> None:
    """Count, min, avg and max per bucket are those of the raw readings, before retention
    and after the raw readings were deleted, for 5-minute and hourly buckets."""
    ids = await _sensor(store)
    farm_id, _, sensor_id = ids
    await _ingest_span(store, ids, T0, 6 * 60)
    raw = [(r.ts_ms, r.value) for r in await store.readings(sensor_id, T0, T0 + DAY_MS)]
    charts = [
        (T0, T0 + 6 * HOUR_MS, 15 * MINUTE_MS),
        (T0, T0 + 6 * HOUR_MS, 2 * HOUR_MS),
        (T0 + HOUR_MS, T0 + 5 * HOUR_MS + 7 * MINUTE_MS, HOUR_MS),  # a partial last period
    ]
    before = [await store.reading_buckets(sensor_id, *chart) for chart in charts]
    for chart, got in zip(charts, before, strict=True):
        _same(got, _python_buckets(raw, *chart))
    await _roll_all(store, farm_id)
    clock.set_wall_ms(T0 + 31 * DAY_MS)
    deleted = 0
    while gone := await store.purge(History.READINGS, farm_id, T0 + 30 * DAY_MS, 500):
        deleted += gone
    assert deleted == len(raw)
    assert await store.readings(sensor_id, T0, T0 + DAY_MS) == []
    for chart, want in zip(charts[:2], before[:2], strict=True):
        _same(await store.reading_buckets(sensor_id, *chart), want)
    # A chart not on whole periods reads raw readings only: those are gone.
    assert await store.reading_buckets(sensor_id, T0 + MINUTE_MS, T0 + HOUR_MS, HOUR_MS) == []


async def test_chart_counts_readings_not_yet_rolled_up(store: SqlStore) -> None:
    """Readings above the roll-up mark are added to the rollups' numbers, not lost."""
    ids = await _sensor(store)
    await _ingest_span(store, ids, T0, 30)
    await _roll_all(store, ids[0])
    await _ingest_span(store, ids, T0 + 10 * MINUTE_MS, 10)  # late readings, same hour
    raw = [(r.ts_ms, r.value) for r in await store.readings(ids[2], T0, T0 + HOUR_MS)]
    want = _python_buckets(raw, T0, T0 + HOUR_MS, FIVE_MINUTES_MS)
    _same(await store.reading_buckets(ids[2], T0, T0 + HOUR_MS, FIVE_MINUTES_MS), want)
    await _roll_all(store, ids[0])
    _same(await store.reading_buckets(ids[2], T0, T0 + HOUR_MS, FIVE_MINUTES_MS), want)


async def test_readings_not_rolled_up_are_never_deleted(store: SqlStore) -> None:
    """Retention deletes raw readings only up to the farm's roll-up mark."""
    ids = await _sensor(store)
    n = await _ingest_span(store, ids, T0, 10)
    assert await store.purge(History.READINGS, ids[0], T0 + DAY_MS, 10_000) == 0
    assert await store.roll_up(ids[0], 12) == 12
    assert await store.purge(History.READINGS, ids[0], T0 + DAY_MS, 10_000) == 12
    assert len(await store.readings(ids[2], T0, T0 + DAY_MS)) == n - 12


async def test_purge_deletes_in_bounded_batches_oldest_first(store: SqlStore) -> None:
    """Each purge deletes at most its limit, the oldest first, and keeps the young."""
    ids = await _sensor(store)
    await _ingest_span(store, ids, T0, 100)  # 300 readings, received a minute apart
    await _roll_all(store, ids[0])
    cutoff = T0 + 50 * MINUTE_MS
    gone = [await store.purge(History.READINGS, ids[0], cutoff, 40) for _ in range(5)]
    assert gone == [40, 40, 40, 30, 0]
    kept = await store.readings(ids[2], T0, T0 + DAY_MS)
    assert len(kept) == 150
    assert min(r.received_ms for r in kept) == cutoff


async def test_purge_raises_the_history_horizon_to_the_last_deleted_seq(store: SqlStore) -> None:
    """The horizon is the highest seq deleted, so a resume knows what it cannot replay."""
    ids = await _sensor(store)
    assert await store.history_horizon(ids[0]) == 0
    await _ingest_span(store, ids, T0, 10)
    await _roll_all(store, ids[0])
    await store.purge(History.READINGS, ids[0], T0 + 5 * MINUTE_MS, 10_000)
    first_kept = min(r.seq for r in await store.readings(ids[2], T0, T0 + DAY_MS))
    assert await store.history_horizon(ids[0]) == first_kept - 1


async def test_events_and_commands_are_deleted_after_their_own_period(
    store: SqlStore, clock: FakeClock
) -> None:
    """Old events, finished commands and their updates go; young ones and open commands stay."""
    farm_id, dev_id, _ = await _sensor(store)
    for day in (0, 10):
        clock.set_wall_ms(T0 + day * DAY_MS)
        event = EventIn(EventLevel.INFO, "door", f"day {day}", T0 + day * DAY_MS)
        await store.ingest(IngestBatch(dev_id, farm_id, T0 + day * DAY_MS, events=(event,)))
        cmd = (await store.create_command(dev_id, "a", {}, created_by=None, expires_ms=0)).command
        await store.update_command(cmd.id, CommandState.CANCELLED)
    clock.set_wall_ms(T0)
    await store.create_command(dev_id, "open", {}, created_by=None, expires_ms=T0 + DAY_MS)
    cutoff = T0 + 5 * DAY_MS
    assert await store.purge(History.EVENTS, farm_id, cutoff, 100) == 1
    assert await store.purge(History.COMMAND_UPDATES, farm_id, cutoff, 100) == 2
    assert await store.purge(History.COMMANDS, farm_id, cutoff, 100) == 1
    from farmbridge.domain.queries import EventFilter

    assert [e.message for e in await store.events(farm_id, EventFilter())] == ["day 10"]
    left = await store.list_commands(farm_id=farm_id)
    assert sorted(c.action for c in left) == ["a", "open"]


async def test_five_minute_rollups_go_and_hourly_charts_stay(store: SqlStore) -> None:
    """After the 5-minute rollups are deleted, hourly buckets are unchanged."""
    ids = await _sensor(store)
    await _ingest_span(store, ids, T0, 3 * 60)
    await _roll_all(store, ids[0])
    await store.purge(History.READINGS, ids[0], T0 + DAY_MS, 10_000)
    hourly = await store.reading_buckets(ids[2], T0, T0 + 3 * HOUR_MS, HOUR_MS)
    gone = await store.purge(History.ROLLUPS_5M, ids[0], T0 + DAY_MS, 10)
    assert gone == 10
    while await store.purge(History.ROLLUPS_5M, ids[0], T0 + DAY_MS, 10):
        pass
    assert await store.reading_buckets(ids[2], T0, T0 + HOUR_MS, FIVE_MINUTES_MS) == []
    _same(await store.reading_buckets(ids[2], T0, T0 + 3 * HOUR_MS, HOUR_MS), hourly)
    # An hour goes only once it ended before the cutoff.
    assert await store.purge(History.ROLLUPS_1H, ids[0], T0 + HOUR_MS - 1, 10) == 0
    assert await store.purge(History.ROLLUPS_1H, ids[0], T0 + HOUR_MS, 10) == 1


async def test_table_rows_counts_each_farms_rows_per_table(store: SqlStore) -> None:
    """The counts behind the disk-use gauge are the rows each farm holds per table."""
    a = await _sensor(store, "a")
    b = await _sensor(store, "b")
    await _ingest_span(store, a, T0, 4)
    await _ingest_span(store, b, T0, 2)
    await _roll_all(store, a[0])
    rows = await store.table_rows()
    assert rows[(a[0], "readings")] == 12
    assert rows[(b[0], "readings")] == 6
    assert rows[(a[0], "reading_rollups")] == 2  # one 5-minute, one hourly
    assert (b[0], "reading_rollups") not in rows


async def test_retention_batch_holds_the_writer_briefly(store: SqlStore) -> None:
    """A purge batch of 5,000 readings and a roll-up batch of 20,000 each take well under
    a second of the writer (figures for docs/benchmarks-notes.md are printed with -s)."""
    farm = await store.create_farm("big", "Big")
    specs = [SensorSpec(f"s{i}", "C") for i in range(20)]
    dev = await store.create_device(farm.id, "n", DeviceKind.SENSOR_NODE, "N", "h-big", specs)
    already_online(store, dev.id)
    sensor_ids = [s.id for s in await store.list_sensors(device_id=dev.id)]
    for m in range(1_000):  # 20,000 readings over 1,000 minutes
        ts = T0 + m * MINUTE_MS
        batch = tuple(ReadingIn(s, float(m % 17), ts) for s in sensor_ids)
        await store.ingest(IngestBatch(dev.id, farm.id, ts, readings=batch))
    t = time.perf_counter()
    assert await store.roll_up(farm.id) == 20_000
    roll_s = time.perf_counter() - t
    t = time.perf_counter()
    assert await store.purge(History.READINGS, farm.id, T0 + DAY_MS, 5_000) == 5_000
    purge_s = time.perf_counter() - t
    print(
        f"roll-up of 20000 readings: {roll_s * 1000:.1f} ms; purge of 5000: {purge_s * 1000:.1f} ms"
    )
    assert roll_s < 2.0
    assert purge_s < 1.0


async def test_chart_is_the_same_when_many_readings_wait_to_be_rolled_up(
    store: SqlStore,
) -> None:
    """With more seqs above the mark than the farm-seq scan takes, the readings not rolled
    up are found through the sensor's index, with the same numbers."""
    ids = await _sensor(store)
    await _ingest_span(store, ids, T0, 40)
    await store.roll_up(ids[0], 50)
    chart = (T0, T0 + HOUR_MS, FIVE_MINUTES_MS)
    want = await store.reading_buckets(ids[2], *chart)
    with store.engine.connect() as conn:
        got = rollups.rolled_buckets(conn, ids[2], *chart, FIVE_MINUTES_MS, scan_max_seqs=0)
    _same(got, want)
    assert sum(b.count for b in got) == 120


async def test_chart_read_again_when_a_roll_up_commits_between_its_reads(
    store: SqlStore,
) -> None:
    """A roll-up committed after the chart read the rollups, before it read the raw
    readings above the mark, counts nothing twice: the chart reads again."""
    ids = await _sensor(store)
    await _ingest_span(store, ids, T0, 30)
    chart = (T0, T0 + HOUR_MS, FIVE_MINUTES_MS)
    want = await store.reading_buckets(ids[2], *chart)
    rolled_between = []

    def roll_up_now(conn: Connection, cursor: object, statement: str, *_: object) -> None:
        if "reading_rollups" in statement and not rolled_between:
            with store.engine.begin() as other:  # another connection: its own commit
                rolled_between.append(rollups.write_batch(other, rollups.read_batch(other, ids[0])))

    with store.engine.connect() as conn:
        event.listen(conn, "after_cursor_execute", roll_up_now)
        got = rollups.rolled_buckets(conn, ids[2], *chart, FIVE_MINUTES_MS)
    assert rolled_between == [True]
    _same(got, want)


async def test_a_command_not_finished_stops_the_delete_of_older_ones(
    store: SqlStore, clock: FakeClock
) -> None:
    """An old pending command is kept, and so is every command after it, until it ends."""
    farm_id, dev_id, _ = await _sensor(store)
    pending = await store.create_command(dev_id, "p", {}, created_by=None, expires_ms=T0)
    done = (await store.create_command(dev_id, "d", {}, created_by=None, expires_ms=T0)).command
    await store.update_command(done.id, CommandState.CANCELLED)
    cutoff = T0 + DAY_MS
    assert await store.purge(History.COMMANDS, farm_id, cutoff, 100) == 0
    await store.update_command(pending.command.id, CommandState.TIMED_OUT)
    assert await store.purge(History.COMMANDS, farm_id, cutoff, 100) == 2


async def test_purge_with_nothing_old_enough_runs_no_write_job(store: SqlStore) -> None:
    """A sweep that finds nothing to delete costs the writer (and ingest) nothing."""
    ids = await _sensor(store)
    await _ingest_span(store, ids, T0, 5)
    await _roll_all(store, ids[0])
    _, jobs = store.writer_stats
    for what in History:
        assert await store.purge(what, ids[0], T0 - DAY_MS, 5_000) == 0
    assert store.writer_stats[1] == jobs
