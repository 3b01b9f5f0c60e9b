"""The store's edge: driver errors named by their cause, unbindable values refused, the
writer reopening its connection after a failure, and the write probe."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import OperationalError, StatementError

from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import StoreUnavailable, ValidationFailed
from farmbridge.store.database import translate
from farmbridge.store.dialect import failure_reason, write_probe
from farmbridge.store.sql import SqlStore
from farmbridge.store.writer import GroupCommitWriter


def _driver_error(db: Path, sql: str, *, read_only: bool = False) -> sqlite3.Error:
    uri = f"file:{db}?mode=ro" if read_only else f"file:{db}"
    conn = sqlite3.connect(uri, uri=True, timeout=0, isolation_level=None)
    try:
        conn.execute(sql)
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError(f"{sql} did not fail")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.close()
    return path


def test_failure_reason_read_only_database(db: Path) -> None:
    """A write to a database opened read-only is `read_only`."""
    assert failure_reason(_driver_error(db, "INSERT INTO t VALUES (1)", read_only=True)) == (
        "read_only"
    )


def test_failure_reason_lock_held_elsewhere(db: Path) -> None:
    """A write while another connection holds the write lock is `locked`."""
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert failure_reason(_driver_error(db, "INSERT INTO t VALUES (1)")) == "locked"
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_failure_reason_from_message_without_code() -> None:
    """Without a driver code the message decides; an unknown one is `other`."""
    assert failure_reason(Exception("database or disk is full")) == "disk_full"
    assert failure_reason(Exception("something else")) == "other"
    assert failure_reason(None) == "other"


def test_translate_store_unavailable_names_the_reason(db: Path) -> None:
    """A driver's read-only error becomes StoreUnavailable whose reason and message name it."""
    orig = _driver_error(db, "INSERT INTO t VALUES (1)", read_only=True)
    err = translate(OperationalError("INSERT", {}, orig))
    assert isinstance(err, StoreUnavailable)
    assert (err.reason, err.message) == ("read_only", "store unavailable: read only")


def test_translate_unbindable_values_are_invalid() -> None:
    """An integer beyond 64 bits or JSON the encoder refuses is ValidationFailed, not 503."""
    engine = create_engine("sqlite://")
    with engine.connect() as conn, pytest.raises(OverflowError) as overflow:
        conn.execute(text("SELECT :x"), {"x": 2**64})
    assert isinstance(translate(overflow.value), ValidationFailed)
    statement = StatementError("bind", "SELECT", {}, TypeError("Integer exceeds 64-bit range"))
    assert isinstance(translate(statement), ValidationFailed)
    assert translate(TypeError("a bug")).__class__ is TypeError  # our own bugs stay bugs


async def test_writer_reopens_its_connection_after_the_store_failed(db: Path) -> None:
    """After a job fails with StoreUnavailable the next group runs on a fresh connection."""
    engine = create_engine(f"sqlite:///{db}")
    seen: list[object] = []  # the connections themselves, so no id is reused

    def handler(conn: Connection, payloads: Sequence[str]) -> list[int | Exception]:
        seen.append(conn.connection.dbapi_connection)
        return [StoreUnavailable("x") if p == "fail" else 1 for p in payloads]

    writer: GroupCommitWriter[str, int] = GroupCommitWriter(
        engine, handler, window_s=0, max_jobs=1, translate=lambda e: e
    )
    writer.start()
    try:
        assert await writer.submit("ok") == 1
        assert await writer.submit("ok") == 1
        with pytest.raises(StoreUnavailable):
            await writer.submit("fail")
        assert await writer.submit("ok") == 1
    finally:
        await asyncio.to_thread(writer.stop)
    *before, after = seen  # the failing job runs twice: in its group, then alone
    assert len(before) == 4
    assert all(c is before[0] for c in before)
    assert after is not before[0]


async def test_write_probe_fails_with_the_reason_and_recovers(db: Path) -> None:
    """The store's write probe raises StoreUnavailable(locked) while another connection holds
    the write lock, and succeeds once it is released."""
    store = SqlStore(f"sqlite:///{db.with_name('s.db')}", clock=FakeClock())
    await store.start()
    try:
        await store.probe_write()
        holder = sqlite3.connect(db.with_name("s.db"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreUnavailable) as locked:
                await store.probe_write()
            assert locked.value.reason == "locked"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        await store.probe_write()
    finally:
        await store.close()


def test_write_probe_changes_nothing(db: Path) -> None:
    """The probe leaves the database's user_version as it was."""
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA user_version=7")
        write_probe(conn)
        assert conn.exec_driver_sql("PRAGMA user_version").scalar_one() == 7


def test_a_plain_postgresql_url_gets_the_psycopg_3_driver() -> None:
    from farmbridge.store.dialect import build_engine

    engine = build_engine("postgresql://farm:secret@127.0.0.1:5/farmbridge")
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
    engine.dispose()
