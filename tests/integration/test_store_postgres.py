"""The store on a real PostgreSQL server: its refusals named, and a restart mid-stream.

PostgreSQL down must never look like success: every ingest answered while the server is
away fails with StoreUnavailable("unreachable"), every ingest answered before or after is
stored, and the store comes back by itself (a fresh connection for the next write).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Final

import psycopg
import pytest

from farmbridge.domain import DeviceKind, IngestBatch, IngestResult, ReadingIn
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import StoreUnavailable
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.store.dialect import build_engine, failure_reason
from farmbridge.store.migrate import upgrade
from farmbridge.store.sql import SqlStore
from tests.postgres import Postgres
from tests.unit.bridge_services import already_online

pytestmark = pytest.mark.integration

T0: Final = 1_700_000_000_000
RECOVERY_TIMEOUT_S: Final = 60.0


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    """A server of the test's own, since the test stops it."""
    pg = Postgres()
    pg.init()
    pg.start()
    pg.make_template()
    yield pg
    pg.destroy()


def _error(url: str, *statements: str) -> psycopg.Error:
    with psycopg.connect(url, autocommit=True) as c:
        try:
            for sql in statements:
                c.execute(sql)  # type: ignore[arg-type]  # the test's own SQL
        except psycopg.Error as exc:
            return exc
    raise AssertionError(f"{statements} did not fail")


def test_failure_reasons_of_real_postgresql_errors(postgres: Postgres) -> None:
    """A write in a read-only transaction is `read_only`, a lock wait past lock_timeout is
    `locked`, a server that is not there is `unreachable`."""
    url = postgres.new_database()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE t (x integer)")
        c.execute("INSERT INTO t VALUES (1)")
    ro = _error(url, "SET default_transaction_read_only = on", "INSERT INTO t VALUES (2)")
    assert failure_reason(ro) == "read_only"
    with psycopg.connect(url) as holder:
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        locked = _error(url, "SET lock_timeout = '50ms'", "INSERT INTO t VALUES (3)")
    assert failure_reason(locked) == "locked"
    port = Postgres().port  # a free port: nothing listens there
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/x", connect_timeout=2)
    assert failure_reason(refused.value) == "unreachable"


def test_the_write_probe_says_read_only_on_a_read_only_database(postgres: Postgres) -> None:
    """Readiness asks the write probe: a database that refuses writes is not ready."""

    async def work() -> None:
        url = postgres.new_database()
        store = SqlStore(url, clock=FakeClock(wall_ms=T0))
        await store.start()
        try:
            await store.probe_write()
            name = url.rsplit("/", 1)[1]
            postgres.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
            postgres.disconnect(name)
            with pytest.raises(StoreUnavailable) as refused:
                await _until_not_unreachable(store)
            assert refused.value.reason == "read_only"
            postgres.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = off")
            postgres.disconnect(name)
            await _until_ok(store)
        finally:
            await store.close()

    asyncio.run(work())


async def _until_not_unreachable(store: SqlStore) -> None:
    """The probe's first answer that is not a dropped connection (a terminated session
    may fail once as `unreachable` before the pool opens a new one)."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while True:
        try:
            await store.probe_write()
            return
        except StoreUnavailable as exc:
            if exc.reason != "unreachable" or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.02)


async def _until_ok(store: SqlStore) -> None:
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while True:
        try:
            await store.probe_write()
            return
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


def test_postgresql_restarted_mid_stream_loses_nothing_acknowledged(
    own_postgres: Postgres,
) -> None:
    """Ingest runs on while the server stops and starts again: what was acknowledged is
    stored once, what failed failed as `unreachable` (no false success), seqs stay
    gap-free, and the store writes again without being restarted itself."""

    async def work() -> None:
        store = SqlStore(own_postgres.new_database(), clock=FakeClock(wall_ms=T0))
        await store.start()
        try:
            farm = await store.create_farm("f", "F")
            dev = await store.create_device(
                farm.id, "n", DeviceKind.SENSOR_NODE, "N", "h", [SensorSpec("t", "C", -40, 80)]
            )
            sensor = (await store.list_sensors(device_id=dev.id))[0].id
            already_online(store, dev.id)
            acked: list[tuple[int, IngestResult]] = []
            refused: list[StoreUnavailable] = []
            stop = asyncio.Event()

            async def device() -> None:
                i = 0
                while not stop.is_set():
                    batch = IngestBatch(
                        device_id=dev.id,
                        farm_id=farm.id,
                        received_ms=T0,
                        readings=(ReadingIn(sensor, float(i), T0 + i),),
                        message_id=f"m-{i}",
                    )
                    try:
                        acked.append((i, await store.ingest(batch)))
                    except StoreUnavailable as exc:
                        refused.append(exc)
                    i += 1
                    await asyncio.sleep(0)

            task = asyncio.create_task(device())
            await _wait(lambda: len(acked) >= 50)
            await asyncio.to_thread(own_postgres.stop, "fast")
            await _wait(lambda: len(refused) >= 5)
            await asyncio.to_thread(own_postgres.start)
            after = len(acked)
            await _wait(lambda: len(acked) >= after + 50)
            stop.set()
            await task

            assert {e.reason for e in refused} == {"unreachable"}
            values = sorted(r.value for r in await store.readings(sensor, 0, T0 * 2))
            assert values == sorted(float(i) for i, _ in acked)
            seqs = sorted(r.first_seq or 0 for _, r in acked)
            assert seqs == list(range(1, len(acked) + 1))
            assert (await store.get_farm(farm.id)).last_seq == len(acked)
        finally:
            await store.close()

    asyncio.run(work())


async def _wait(cond: Callable[[], bool], timeout: float = RECOVERY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def test_instances_migrating_an_empty_database_at_once_create_it_once(
    postgres: Postgres,
) -> None:
    """Four instances start together on an empty database: each migration succeeds and
    the schema is at head once."""
    name = f"empty_{uuid.uuid4().hex[:8]}"
    postgres.execute(f"CREATE DATABASE {name}")
    engines = [build_engine(postgres.url(name)) for _ in range(4)]
    try:
        with concurrent.futures.ThreadPoolExecutor(len(engines)) as pool:
            for done in [pool.submit(upgrade, e) for e in engines]:
                done.result()
        with engines[0].connect() as c:
            versions = c.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        assert len(versions) == 1
    finally:
        for e in engines:
            e.dispose()
