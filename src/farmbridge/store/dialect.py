"""Everything in the SQL store that depends on the database behind the URL, in one place.

- `build_engine`: SQLite runs in WAL mode with the configured `synchronous` level,
  foreign keys on and a busy timeout (PRAGMAs on each new connection); other URLs get a
  plain pooled engine.
- `bulk_insert`: the hot table's executemany goes straight to the driver, in the
  driver's own parameter style.
- `upsert`: `INSERT ... ON CONFLICT DO UPDATE`, which SQLite and PostgreSQL spell alike.
- `failure_reason`: why the database refused (disk_full, read_only, locked, io_error,
  unreachable, other), read from the driver's error code (SQLite's result code,
  PostgreSQL's SQLSTATE) or message, in this one place.
- `write_probe`: the cheapest statement that really writes (readiness asks it).

The rest of the store is portable SQLAlchemy Core; it relies on `UPDATE ... RETURNING`
(SQLite 3.35 and later, PostgreSQL) to reserve sequence numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import orjson
from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

SQLITE_SYNCHRONOUS_LEVELS: Final = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
_PLACEHOLDER: Final = {"qmark": "?", "format": "%s", "pyformat": "%s"}


# SQLite's primary result codes (the low byte of the extended code) and what they mean here.
_SQLITE_REASONS: Final = {5: "locked", 6: "locked", 8: "read_only", 10: "io_error", 13: "disk_full"}
# PostgreSQL's SQLSTATE classes (first two characters) and codes, as psycopg reports them.
_PG_CLASS_REASONS: Final = {
    "08": "unreachable",
    "53": "disk_full",
    "57": "unreachable",
    "58": "io_error",
}
_PG_CODE_REASONS: Final = {
    "25006": "read_only",  # read_only_sql_transaction (a standby, or default_transaction_read_only)
    "40001": "locked",  # serialization_failure
    "40P01": "locked",  # deadlock_detected
    "55P03": "locked",  # lock_not_available
    "57014": "locked",  # query_canceled: statement or lock timeout
    "53200": "other",  # out_of_memory
    "53300": "unreachable",  # too_many_connections
}
_MESSAGE_REASONS: Final = (
    ("disk is full", "disk_full"),
    ("no space left", "disk_full"),
    ("readonly", "read_only"),
    ("read-only", "read_only"),
    ("database is locked", "locked"),
    ("table is locked", "locked"),
    ("lock timeout", "locked"),
    ("disk i/o error", "io_error"),
    ("connection refused", "unreachable"),
    ("server closed the connection", "unreachable"),
    ("connection is closed", "unreachable"),
    ("the database system is", "unreachable"),  # starting up / shutting down
)
SQLITE_PROBE_BUSY_TIMEOUT_MS: Final = 200
"""How long the write probe waits for a lock another process holds before it says `locked`."""


def failure_reason(driver_error: BaseException | None) -> str:
    """The reason a driver error names: disk_full, read_only, locked, io_error, unreachable
    (PostgreSQL: the server is down, restarting or refuses connections) or other."""
    if driver_error is None:
        return "other"
    code = getattr(driver_error, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _SQLITE_REASONS:
        return _SQLITE_REASONS[code & 0xFF]
    state = getattr(driver_error, "sqlstate", None)
    if isinstance(state, str) and len(state) == 5:
        reason = _PG_CODE_REASONS.get(state) or _PG_CLASS_REASONS.get(state[:2])
        if reason is not None:
            return reason
    text = str(driver_error).lower()
    for needle, reason in _MESSAGE_REASONS:
        if needle in text:
            return reason
    return "other"


def write_probe(conn: Connection) -> None:
    """A write that touches the database (SQLite: page 1's header, through the WAL;
    PostgreSQL: a commit record in the WAL) and changes nothing; on SQLite it waits only
    briefly for another process's lock."""
    if conn.dialect.name != "sqlite":
        # PostgreSQL: an UPDATE of no row is refused by a read-only transaction or a standby,
        # and the transaction id makes the commit write (and flush) a WAL record.
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = version_num WHERE false")
        conn.exec_driver_sql("SELECT txid_current()")
        return
    version = int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())
    busy_ms = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
    conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_PROBE_BUSY_TIMEOUT_MS}")
    try:
        conn.exec_driver_sql(f"PRAGMA user_version={version}")
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={busy_ms}")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def build_engine(
    url: str,
    *,
    sqlite_synchronous: str = "FULL",
    sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
) -> Engine:
    """Returns an engine; for SQLite, WAL with the given synchronous level, foreign keys on,
    and `sqlite_busy_timeout_ms` as the longest wait for another connection's lock."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not psycopg2
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            parsed, json_serializer=_json_dumps, json_deserializer=orjson.loads, pool_pre_ping=True
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        connect_args={"check_same_thread": False, "timeout": sqlite_busy_timeout_ms / 1000},
        pool_size=8,
    )
    synchronous = sqlite_synchronous.upper()
    if synchronous not in SQLITE_SYNCHRONOUS_LEVELS:
        raise ValueError(
            f"sqlite_synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous}"
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(sqlite_busy_timeout_ms)}")
        cur.close()

    return engine


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """An executemany of plain tuples straight to the driver.

    The hot table's rows skip SQLAlchemy's per-row parameter processing, which costs
    more than SQLite's own insert; the values are plain ints and floats.
    """
    mark = _PLACEHOLDER.get(conn.dialect.paramstyle)
    if mark is None:  # a driver with named parameters: let SQLAlchemy bind them
        conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608 - names from code
        f"VALUES ({', '.join(mark for _ in columns)})"
    )
    conn.exec_driver_sql(sql, list(rows))


def upsert(
    conn: Connection,
    table: Table,
    *,
    key: Sequence[str],
    values: Mapping[str, Any],
    on_conflict: Mapping[str, Any],
) -> None:
    """Inserts `values`, or, when a row with the same `key` columns exists, sets
    `on_conflict` on it (an expression there may name `table`'s columns: the old row)."""
    name = conn.dialect.name
    if name not in {"sqlite", "postgresql"}:
        raise ValueError(f"the store runs on SQLite or PostgreSQL, not {name}")
    insert = sqlite.insert(table) if name == "sqlite" else postgresql.insert(table)
    conn.execute(
        insert.values(**values).on_conflict_do_update(index_elements=key, set_=dict(on_conflict))
    )
