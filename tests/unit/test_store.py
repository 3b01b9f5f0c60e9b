"""The SQLite store: sequencing, idempotency, snapshots, buckets, commands, durability."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from farmbridge.domain import (
    Change,
    CommandState,
    DeviceKind,
    DeviceState,
    EventIn,
    EventLevel,
    IngestBatch,
    IngestResult,
    PendingState,
    ReadingIn,
    StatusChange,
)
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import Conflict, NotFound
from farmbridge.domain.queries import EventFilter
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.store.ingest_writes import known_message_query, known_messages
from farmbridge.store.schema import metadata
from farmbridge.store.sql import SqlStore
from tests.unit.bridge_services import already_online

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


async def _farm_with_device(store: SqlStore, name: str = "f1") -> tuple[int, int, list[int]]:
    farm = await store.create_farm(name, name.upper())
    dev = await store.create_device(
        farm.id,
        "node",
        DeviceKind.SENSOR_NODE,
        "Node",
        f"hash-{name}",
        [SensorSpec("temp", "C", -40, 80), SensorSpec("hum", "%", 0, 100)],
    )
    sensors = await store.list_sensors(device_id=dev.id)
    already_online(store, dev.id)  # so readings alone take the seqs these tests count
    return farm.id, dev.id, [s.id for s in sensors]


def _batch(farm: int, dev: int, sensor: int, n: int, *, msg: str | None = None) -> IngestBatch:
    return IngestBatch(
        device_id=dev,
        farm_id=farm,
        received_ms=T0,
        readings=tuple(ReadingIn(sensor, float(i), T0 + i) for i in range(n)),
        message_id=msg,
    )


async def test_ingest_assigns_gap_free_sequence_per_farm(store: SqlStore) -> None:
    """Concurrent batches on two farms get contiguous, unique sequence numbers per farm."""
    f1, d1, s1 = await _farm_with_device(store, "a")
    f2, d2, s2 = await _farm_with_device(store, "b")
    jobs = [store.ingest(_batch(f1, d1, s1[0], 3)) for _ in range(50)]
    jobs += [store.ingest(_batch(f2, d2, s2[0], 2)) for _ in range(50)]
    results = await asyncio.gather(*jobs)
    seqs_a = sorted(s for r in results[:50] for s in range(r.first_seq or 0, (r.last_seq or 0) + 1))
    seqs_b = sorted(s for r in results[50:] for s in range(r.first_seq or 0, (r.last_seq or 0) + 1))
    assert seqs_a == list(range(1, 151))
    assert seqs_b == list(range(1, 101))
    assert (await store.get_farm(f1)).last_seq == 150


async def test_two_stores_on_one_database_keep_a_farms_sequence_gap_free(
    database_url: str, clock: FakeClock
) -> None:
    """Two instances ingest one farm at once: every seq is taken exactly once, the rows
    stored are the seqs returned, and a message id retried on the other instance is a
    duplicate there too."""
    a, b = SqlStore(database_url, clock=clock), SqlStore(database_url, clock=clock)
    await a.start()
    await b.start()
    try:
        f, d, s = await _farm_with_device(a)
        already_online(b, d)

        def job(i: int, first: SqlStore, second: SqlStore) -> Awaitable[IngestResult]:
            return (first if i % 2 else second).ingest(_batch(f, d, s[i % 2], 3, msg=f"m-{i}"))

        jobs = [job(i, a, b) for i in range(80)]
        results = await asyncio.gather(*jobs)
        seqs = sorted(x for r in results for x in range(r.first_seq or 0, (r.last_seq or 0) + 1))
        assert seqs == list(range(1, 241))
        assert (await b.get_farm(f)).last_seq == 240
        stored = await a.changes_since(f, 0, 1_000)
        assert [c.seq for c in stored] == list(range(1, 241))
        again = [
            (b if i % 2 else a).ingest(_batch(f, d, s[i % 2], 3, msg=f"m-{i}")) for i in range(80)
        ]
        retried = await asyncio.gather(*again)
        assert all(r.duplicate for r in retried)
        assert (await a.get_farm(f)).last_seq == 240
        # The same message on both at the very same time (a redelivery racing the original).
        twins = await asyncio.gather(
            *(st.ingest(_batch(f, d, s[0], 2, msg=f"twin-{i}")) for i in range(20) for st in (a, b))
        )
        assert sorted(r.duplicate for r in twins) == [False] * 20 + [True] * 20
        assert (await a.get_farm(f)).last_seq == 280
    finally:
        await a.close()
        await b.close()


async def test_ingest_with_same_message_id_is_stored_once(store: SqlStore) -> None:
    """A retried batch (same device and message id) returns the first result and stores nothing."""
    f, d, s = await _farm_with_device(store)
    first = await store.ingest(_batch(f, d, s[0], 4, msg="m-1"))
    again, twin = await asyncio.gather(
        store.ingest(_batch(f, d, s[0], 4, msg="m-1")),
        store.ingest(_batch(f, d, s[0], 4, msg="m-2")),
    )
    assert not first.duplicate
    assert again.duplicate
    assert (again.first_seq, again.last_seq) == (first.first_seq, first.last_seq)
    assert not twin.duplicate
    rows = await store.readings(s[0], 0, T0 * 2)
    assert len(rows) == 8


async def test_message_id_outside_its_dedup_window_is_stored_and_takes_the_id(
    store: SqlStore,
) -> None:
    """A batch whose id row predates its dedup window (an MQTT first delivery reusing a
    packet id) is stored and the row names it; one within the window is a duplicate."""
    f, d, s = await _farm_with_device(store)
    first = await store.ingest(_batch(f, d, s[0], 2, msg="p-1"))
    repeat = dataclasses.replace(
        _batch(f, d, s[0], 2, msg="p-1"), received_ms=T0 + 10, dedup_since_ms=T0 + 11
    )
    stored = await store.ingest(repeat)
    assert not first.duplicate
    assert not stored.duplicate
    redelivered = dataclasses.replace(
        _batch(f, d, s[0], 2, msg="p-1"), received_ms=T0 + 20, dedup_since_ms=T0 + 5
    )
    again = await store.ingest(redelivered)
    assert again.duplicate
    assert (again.first_seq, again.last_seq) == (stored.first_seq, stored.last_seq)
    assert len(await store.readings(s[0], 0, T0 * 2)) == 4


async def test_prune_with_a_prefix_forgets_only_those_ids(store: SqlStore) -> None:
    """Pruning the MQTT packet-rule ids (prefix `p:`) keeps every other id of that age."""
    f, d, s = await _farm_with_device(store)
    await store.ingest(_batch(f, d, s[0], 1, msg="p:abc"))
    await store.ingest(_batch(f, d, s[0], 1, msg="p_abc"))  # close, but not the prefix
    await store.ingest(_batch(f, d, s[0], 1, msg="m-1"))
    assert await store.prune_ingest_messages(T0 + 1, prefix="p:") == 1
    again = await store.ingest(_batch(f, d, s[0], 1, msg="m-1"))
    assert again.duplicate
    assert (await store.ingest(_batch(f, d, s[0], 1, msg="p_abc"))).duplicate
    assert not (await store.ingest(_batch(f, d, s[0], 1, msg="p:abc"))).duplicate


async def test_latest_value_ignores_late_buffered_readings(store: SqlStore) -> None:
    """A reading with an older device timestamp arriving later does not replace the latest value."""
    f, d, s = await _farm_with_device(store)
    await store.ingest(IngestBatch(d, f, T0, readings=(ReadingIn(s[0], 21.5, T0 + 1000),)))
    await store.ingest(IngestBatch(d, f, T0, readings=(ReadingIn(s[0], 5.0, T0),)))
    (temp,) = [x for x in await store.list_sensors(farm_id=f) if x.id == s[0]]
    assert temp.last_value == 21.5
    assert temp.last_ts_ms == T0 + 1000


async def test_status_and_events_are_sequenced_and_queryable(store: SqlStore) -> None:
    """Status changes update the device; events page newest first and filter by level."""
    f, d, _ = await _farm_with_device(store)
    res = await store.ingest(
        IngestBatch(
            d,
            f,
            T0,
            status=StatusChange(DeviceState.ONLINE, {"power": "on"}, T0),
            events=(
                EventIn(EventLevel.INFO, "boot", "booted", T0),
                EventIn(EventLevel.ALARM, "hot", "too hot", T0 + 1),
            ),
        )
    )
    assert (res.first_seq, res.last_seq) == (1, 3)
    dev = await store.get_device(d)
    assert dev.status.state is DeviceState.ONLINE
    assert dev.status.actuator == {"power": "on"}
    assert dev.last_seen_ms == T0
    alarms = await store.events(f, EventFilter(level=EventLevel.ALARM))
    assert [e.code for e in alarms] == ["hot"]
    page = await store.events(f, EventFilter(limit=1))
    older = await store.events(f, EventFilter(before_seq=page[0].seq))
    assert [e.code for e in page + older] == ["hot", "boot"]


async def test_reading_buckets_aggregate_min_avg_max(store: SqlStore) -> None:
    """Buckets of 10 ms over 0..29 give three buckets of ten readings each."""
    f, d, s = await _farm_with_device(store)
    await store.ingest(_batch(f, d, s[0], 30))
    buckets = await store.reading_buckets(s[0], T0, T0 + 30, 10)
    assert [(b.start_ms - T0, b.count, b.min, b.avg, b.max) for b in buckets] == [
        (0, 10, 0.0, 4.5, 9.0),
        (10, 10, 10.0, 14.5, 19.0),
        (20, 10, 20.0, 24.5, 29.0),
    ]


async def test_command_lifecycle_refuses_leaving_a_final_state(store: SqlStore) -> None:
    """pending -> sent -> acknowledged works; acknowledged -> failed is a conflict."""
    f, d, _ = await _farm_with_device(store)
    created = await store.create_command(d, "switch", {"on": True}, created_by=None, expires_ms=T0)
    cmd, upd = created.command, created.update
    assert upd.state is CommandState.PENDING
    assert upd.seq == 1
    upd = (await store.update_command(cmd.id, CommandState.SENT)).update
    upd = (await store.update_command(cmd.id, CommandState.ACKNOWLEDGED)).update
    assert upd.seq == 3
    with pytest.raises(Conflict):
        await store.update_command(cmd.id, CommandState.FAILED)
    assert (await store.get_farm(f)).last_seq == 3


async def test_expire_commands_times_out_only_open_ones(store: SqlStore) -> None:
    """Expiry turns pending commands past their deadline into timed_out."""
    _, d, _ = await _farm_with_device(store)
    old = (await store.create_command(d, "a", {}, created_by=None, expires_ms=T0)).command
    new = (await store.create_command(d, "b", {}, created_by=None, expires_ms=T0 * 2)).command
    expired = await store.expire_commands(T0 + 1)
    assert [u.command_id for u in expired.updates] == [old.id]
    assert (await store.get_command(new.id)).state is CommandState.PENDING


async def test_duplicate_names_conflict_and_missing_things_are_not_found(store: SqlStore) -> None:
    """Unique names are enforced and unknown ids raise NotFound, not driver errors."""
    await _farm_with_device(store)
    with pytest.raises(Conflict):
        await store.create_farm("f1", "again")
    with pytest.raises(NotFound):
        await store.get_farm(999)
    with pytest.raises(NotFound):
        await store.get_device_by_key_hash("nope")


async def test_data_survives_reopening_the_database(database_url: str) -> None:
    """What an awaited ingest returned is there after the store is closed and opened again."""
    url = database_url
    s1 = SqlStore(url)
    await s1.start()
    f, d, s = await _farm_with_device(s1)
    await s1.ingest(_batch(f, d, s[0], 5))
    await s1.close()
    s2 = SqlStore(url)
    await s2.start()
    try:
        assert len(await s2.readings(s[0], 0, T0 * 2)) == 5
        assert (await s2.get_farm(f)).last_seq == 5
    finally:
        await s2.close()


async def test_changes_since_merges_every_kind_in_sequence_order(store: SqlStore) -> None:
    """Readings, status changes, events and command updates come back by seq, after N only."""
    f, d, s = await _farm_with_device(store)
    await store.ingest(
        IngestBatch(
            d,
            f,
            T0,
            readings=(ReadingIn(s[0], 1.0, T0),),
            status=StatusChange(DeviceState.ONLINE, {}, T0),
            events=(EventIn(EventLevel.INFO, "boot", "", T0),),
        )
    )
    await store.create_command(d, "on", {}, created_by=None, expires_ms=T0 * 2)
    await store.ingest(_batch(f, d, s[0], 2))
    changes = await store.changes_since(f, 1, 100)
    assert [c.seq for c in changes] == [2, 3, 4, 5, 6]
    assert [type(c).__name__ for c in changes] == [
        "StatusRecord",
        "Event",
        "CommandUpdate",
        "Reading",
        "Reading",
    ]
    assert [c.seq for c in await store.changes_since(f, 0, 2)] == [1, 2]


async def test_listeners_hear_every_commit_in_order(store: SqlStore) -> None:
    """A change listener sees each committed change once, in seq order, before the caller."""
    heard: list[int] = []
    store.add_listener(lambda changes: heard.extend(c.seq for c in changes))
    f, d, s = await _farm_with_device(store)
    results = await asyncio.gather(*(store.ingest(_batch(f, d, s[0], 2)) for _ in range(20)))
    await store.ingest(_batch(f, d, s[0], 1, msg="x"))
    await store.ingest(_batch(f, d, s[0], 1, msg="x"))  # a duplicate adds no change
    assert heard == list(range(1, 42))
    assert max(r.last_seq or 0 for r in results) == 40


def test_message_id_lookup_searches_the_primary_key_not_the_whole_table(tmp_path: Path) -> None:
    """Dedup looks up a group's message ids by index: a scan would cost a day of ids per
    commit. The plan is SQLite's own (EXPLAIN QUERY PLAN on the real schema)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    metadata.create_all(engine)
    query = known_message_query([(1, "a"), (2, "b")])
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.begin() as conn:
        plan = " ".join(str(row[3]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
        assert "SEARCH" in plan
        assert "SCAN" not in plan
        conn.execute(
            text(
                "INSERT INTO ingest_messages VALUES "
                "(1, 'a', 0, 1, 1, 1), (1, 'b', 0, 1, 2, 2), (2, 'b', 0, 1, 3, 3)"
            )
        )
        # The cross product's extra pair (1, 'b') is not reported.
        assert set(known_messages(conn, [(1, "a"), (2, "b")])) == {(1, "a"), (2, "b")}
    engine.dispose()


async def test_command_writes_stream_exactly_the_changes_they_return(store: SqlStore) -> None:
    """Creating, updating and expiring commands: listeners hear each result's `changes`,
    in seq order, and nothing else."""
    heard: list[Change] = []
    store.add_listener(heard.extend)
    _, d, _ = await _farm_with_device(store)
    created = await store.create_command(d, "on", {}, created_by=None, expires_ms=T0)
    sent = await store.update_command(created.command.id, CommandState.SENT)
    other = await store.create_command(d, "off", {}, created_by=None, expires_ms=T0)
    expired = await store.expire_commands(T0)
    assert created.changes == (created.update,)
    assert [u.command_id for u in expired.updates] == [created.command.id, other.command.id]
    assert heard == [*created.changes, *sent.changes, *other.changes, *expired.changes]
    assert [c.seq for c in heard] == [1, 2, 3, 4, 5]
    assert (await store.expire_commands(T0)).changes == ()


async def test_writes_are_stamped_by_the_stores_clock(store: SqlStore, clock: FakeClock) -> None:
    """Creation and update times come from the injected clock, not the machine's."""
    f, d, _ = await _farm_with_device(store)
    assert (await store.get_farm(f)).created_ms == T0
    clock.advance(2.5)
    cmd = (await store.create_command(d, "on", {}, created_by=None, expires_ms=T0 * 2)).command
    assert (cmd.created_ms, cmd.updated_ms) == (T0 + 2_500, T0 + 2_500)
    clock.advance(1)
    assert (await store.update_command(cmd.id, CommandState.SENT)).update.ts_ms == T0 + 3_500


async def test_note_pending_device_counts_messages_and_keeps_its_state(store: SqlStore) -> None:
    """Noting a device again updates its counters and sample (an upsert on farm and name)
    and keeps a rejection; another name is a record of its own."""
    farm = await store.create_farm("f", "F")
    first = await store.note_pending_device(farm.id, "ghost", "mqtt", "one", T0)
    assert (first.messages, first.first_seen_ms, first.state) == (1, T0, PendingState.PENDING)
    await store.set_pending_state(first.id, PendingState.REJECTED)
    again = await store.note_pending_device(farm.id, "ghost", "lorawan", "two", T0 + 5)
    assert again.id == first.id
    assert (again.messages, again.first_seen_ms, again.last_seen_ms) == (2, T0, T0 + 5)
    assert (again.sample, again.source, again.state) == ("two", "lorawan", PendingState.REJECTED)
    other = await store.note_pending_device(farm.id, "other", "mqtt", "", T0)
    assert other.id != first.id
    assert len(await store.list_pending_devices(farm.id)) == 2
