"""What every SQL aggregate shares: engine, group-commit writer, clock, change listeners.

Writes go through one group-commit writer thread; reads run on a small thread pool
(SQLite in WAL mode lets them proceed while the writer commits). Every write job ends as
a `Written` record, so the changes a commit streams are known by type, never guessed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Connection, Row, Table, event, select, update
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    NoResultFound,
    OperationalError,
    SQLAlchemyError,
    StatementError,
)

from farmbridge.domain import AlarmUpdate, Change, IngestBatch
from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import (
    Conflict,
    DomainError,
    NotFound,
    StoreUnavailable,
    ValidationFailed,
)
from farmbridge.store.alarm_cache import AlarmCache
from farmbridge.store.base import ChangeListener
from farmbridge.store.dialect import (
    SQLITE_BUSY_TIMEOUT_MS,
    build_engine,
    failure_reason,
    write_probe,
)
from farmbridge.store.ingest_writes import write_ingest_group
from farmbridge.store.results import Streamed
from farmbridge.store.writer import WRITER_THREAD_NAME, GroupCommitWriter

T = TypeVar("T")
S = TypeVar("S", bound=Streamed)
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Written(Generic[T]):
    """A write job's answer and the changes its commit streams (none for most writes)."""

    value: T
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True, slots=True)
class WriteJob:
    """A write that runs as a function of the open write transaction."""

    run: Callable[[Connection], Written[Any]]


Payload = IngestBatch | WriteJob
"""What the writer queues: ingest batches, written together per group, or write jobs."""


def translate(exc: Exception) -> Exception:
    """Maps driver exceptions to the domain tree; domain errors pass through.

    A value the driver cannot bind (an integer beyond 64 bits, JSON it cannot encode)
    is the caller's fault, never the store's: ValidationFailed, not StoreUnavailable.
    The edges validate first; this is the backstop.
    """
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, IntegrityError):
        return Conflict(f"conflicts with existing data: {exc.orig}")
    if isinstance(exc, NoResultFound):
        return NotFound("not found")
    unbindable = (
        exc.orig
        if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)
        else exc
        if isinstance(exc, OverflowError)
        else None
    )
    if isinstance(unbindable, OverflowError | TypeError | ValueError):
        err: DomainError = ValidationFailed(f"a value the store cannot hold: {unbindable}")
    elif isinstance(exc, OperationalError | SQLAlchemyError):
        orig = exc.orig if isinstance(exc, DBAPIError) else None
        reason = failure_reason(orig)
        err = StoreUnavailable(f"store unavailable: {reason.replace('_', ' ')}", reason=reason)
    else:
        return exc
    err.__cause__ = exc
    return err


class SqlDatabase:
    """One database behind a URL, shared by the aggregates of the SQL store."""

    def __init__(
        self,
        url: str,
        *,
        clock: Clock,
        commit_window_s: float = 0.0,
        commit_max_jobs: int = 512,
        sqlite_synchronous: str = "FULL",
        sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    ) -> None:
        self.clock = clock
        self.engine = build_engine(
            url,
            sqlite_synchronous=sqlite_synchronous,
            sqlite_busy_timeout_ms=sqlite_busy_timeout_ms,
        )
        # The writer thread's alarm rules and watches; what a rolled-back write transaction
        # put in it was never committed, so a rollback on the writer thread drops it
        # (store/alarm_cache.py). Reads roll back too, as they close: those change nothing.
        self.alarm_cache = AlarmCache()
        event.listen(self.engine, "rollback", self._rolled_back)
        self.writer: GroupCommitWriter[Payload, Written[Any]] = GroupCommitWriter(
            self.engine,
            functools.partial(_handle_group, cache=self.alarm_cache),
            window_s=commit_window_s,
            max_jobs=commit_max_jobs,
            translate=translate,
            on_commit=self._committed,
            clock=clock,
        )
        self._listeners: list[ChangeListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def _rolled_back(self, _conn: Connection) -> None:
        if threading.current_thread().name == WRITER_THREAD_NAME:
            self.alarm_cache.clear()

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop that listeners run on (the one the store was started on)."""
        self._loop = loop

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Runs `fn` on a pooled connection in a worker thread."""

        def run() -> T:
            try:
                with self.engine.connect() as conn:
                    return fn(conn)
            except Exception as exc:
                raise translate(exc) from exc

        return await asyncio.to_thread(run)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Runs `fn` in the writer's next transaction; for writes that stream no change."""
        done = await self.writer.submit(WriteJob(lambda c: Written(fn(c))))
        result: T = done.value
        return result

    async def probe_write(self) -> None:
        """Commits a write that changes nothing, through the writer like every write;
        raises StoreUnavailable (with its reason) when a write would fail now."""
        await self.write(write_probe)

    async def write_streamed(self, fn: Callable[[Connection], S]) -> S:
        """Runs `fn` in the writer's next transaction; the listeners hear its `changes`."""

        def run(c: Connection) -> Written[S]:
            value = fn(c)
            return Written(value, tuple(value.changes))

        done = await self.writer.submit(WriteJob(run))
        result: S = done.value
        return result

    def _committed(self, results: list[Written[Any]]) -> None:
        if not self._listeners or self._loop is None:
            return
        changes = [c for r in results for c in r.changes]
        if changes:
            self._loop.call_soon_threadsafe(self._notify, changes)

    def _notify(self, changes: list[Change]) -> None:
        for listener in self._listeners:
            try:
                listener(changes)
            except Exception:
                log.exception("change listener failed")


class SqlAggregate:
    """Base of the SQL store's aggregates (users, farms, history, commands): each is a
    class over the one shared database, and the SQL store is all of them at once."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db


def _handle_group(
    conn: Connection, payloads: Sequence[Payload], *, cache: AlarmCache
) -> list[Written[Any] | Exception]:
    """Runs a group in queue order; consecutive ingest batches are written in bulk."""
    out: list[Written[Any] | Exception] = []
    run: list[IngestBatch] = []

    def write_run() -> None:
        raised: list[AlarmUpdate] = []
        written = [Written(r, r.stored) for r in write_ingest_group(conn, run, cache, raised)]
        if raised:
            # The alarm changes the run caused stream with its last batch's commit.
            last = written[-1]
            written[-1] = Written(last.value, (*last.changes, *raised))
        out.extend(written)
        run.clear()

    for p in payloads:
        if isinstance(p, IngestBatch):
            run.append(p)
            continue
        if run:
            write_run()
        out.append(p.run(conn))
    if run:
        write_run()
    return out


def one_row(c: Connection, table: Table, where: ColumnElement[bool], what: str) -> Row[Any]:
    """The row of `table` matching `where`; raises NotFound naming `what`."""
    row = c.execute(select(table).where(where)).first()
    if row is None:
        raise NotFound(f"{what} not found")
    return row


def updater(
    table: Table, where: ColumnElement[bool], what: str, **values: Any
) -> Callable[[Connection], None]:
    """A write that sets `values` on the row matching `where`, or raises NotFound."""

    def fn(c: Connection) -> None:
        if not c.execute(update(table).where(where).values(**values)).rowcount:
            raise NotFound(f"{what} not found")

    return fn
