"""Group commit: one writer thread runs queued write jobs in shared transactions.

Many small ingests then cost one fsync per group instead of one each. A job's
awaitable resolves only after the transaction holding it has committed. The window
that collects a group is timed on the injected clock's monotonic time.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from sqlalchemy import Connection, Engine

from farmbridge.domain.clock import SYSTEM_CLOCK, Clock
from farmbridge.domain.errors import StoreUnavailable

log = logging.getLogger(__name__)

WRITER_THREAD_NAME: Final = "farmbridge.store.writer"

P = TypeVar("P")
R = TypeVar("R")


@dataclass(slots=True)
class Job(Generic[P, R]):
    """One unit of write work; `payload` is whatever the group handler understands."""

    payload: P
    future: asyncio.Future[R]


GroupHandler = Callable[[Connection, Sequence[P]], list[R | Exception]]
"""Runs payloads inside one open transaction; returns a result or an Exception per payload."""


class GroupCommitWriter(Generic[P, R]):
    """Owns the only write connection; see the module docstring for the contract."""

    def __init__(
        self,
        engine: Engine,
        handler: GroupHandler[P, R],
        *,
        window_s: float,
        max_jobs: int,
        translate: Callable[[Exception], Exception],
        on_commit: Callable[[list[R]], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._engine = engine
        self._handler = handler
        self._window_s = window_s
        self._max_jobs = max_jobs
        self._translate = translate
        self._on_commit = on_commit
        self._clock = clock
        self._queue: queue.SimpleQueue[Job[P, R] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.groups = 0
        self.jobs = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=WRITER_THREAD_NAME, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finishes every job already queued, then ends the thread."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join()
        self._thread = None

    def submit(self, payload: P) -> asyncio.Future[R]:
        if self._thread is None:
            raise RuntimeError("writer is not running")
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put(Job(payload, fut))
        return fut

    def _collect(self, first: Job[P, R]) -> tuple[list[Job[P, R]], bool]:
        jobs = [first]
        stopping = False
        deadline = self._clock.monotonic() + self._window_s
        while len(jobs) < self._max_jobs:
            try:
                timeout = deadline - self._clock.monotonic()
                item = self._queue.get_nowait() if timeout <= 0 else self._queue.get(True, timeout)
            except queue.Empty:
                break
            if item is None:
                stopping = True
                break
            jobs.append(item)
        return jobs, stopping

    def _run(self) -> None:
        conn: Connection | None = None
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                jobs, stopping = self._collect(first)
                conn = self._run_on(conn, jobs)
                if stopping:
                    # Drain what was queued behind the stop marker so no awaiter hangs.
                    rest: list[Job[P, R]] = []
                    while True:
                        try:
                            item = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if item is not None:
                            rest.append(item)
                    if rest:
                        conn = self._run_on(conn, rest)
                    return
        finally:
            if conn is not None:
                conn.close()

    def _run_on(self, conn: Connection | None, jobs: list[Job[P, R]]) -> Connection | None:
        """Runs a group on the write connection, opened first if need be; returns the
        connection to use next, or None when the store failed and the next group must
        open a fresh one (a connection that met a read-only or I/O error keeps failing
        after the database is writable again, until it is reopened)."""
        if conn is None:
            try:
                conn = self._engine.connect()
            except Exception as exc:
                err = self._translate(exc)
                _resolve(jobs, [err] * len(jobs))
                return None
        if not self._run_group(conn, jobs):
            return conn
        conn.invalidate()  # the pool must not hand this DBAPI connection out again
        conn.close()
        return None

    def _run_group(self, conn: Connection, jobs: list[Job[P, R]]) -> bool:
        """Runs and resolves `jobs`; True when one failed because the store is unavailable."""
        payloads = [j.payload for j in jobs]
        results: list[R | Exception]
        try:
            with conn.begin():
                results = self._handler(conn, payloads)
                if any(isinstance(r, Exception) for r in results):
                    raise _GroupFailed
        except Exception:  # isolate the failing job below
            if len(jobs) == 1:
                results = [self._one(conn, payloads[0])]
            else:
                # Rerun each job alone so one bad job fails only its own caller.
                results = [self._one(conn, p) for p in payloads]
        self.groups += 1
        self.jobs += len(jobs)
        if self._on_commit is not None:
            # Called before the futures resolve, from this thread, in commit order.
            self._on_commit([r for r in results if not isinstance(r, Exception)])
        _resolve(jobs, results)
        return any(isinstance(r, StoreUnavailable) for r in results)

    def _one(self, conn: Connection, payload: P) -> R | Exception:
        try:
            with conn.begin():
                (result,) = self._handler(conn, [payload])
                if isinstance(result, Exception):
                    raise result
            return result
        except Exception as exc:  # handed to the awaiting caller
            return self._translate(exc)


class _GroupFailed(Exception):
    pass


def _resolve(jobs: Sequence[Job[P, R]], results: Sequence[R | Exception]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Job[P, R], R | Exception]]] = {}
    for job, result in zip(jobs, results, strict=True):
        by_loop.setdefault(job.future.get_loop(), []).append((job, result))
    for loop, pairs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, pairs)
        except RuntimeError:
            log.warning("event loop closed before %d write results were delivered", len(pairs))


def _settle(pairs: Sequence[tuple[Job[P, R], R | Exception]]) -> None:
    for job, result in pairs:
        if job.future.done():
            continue
        if isinstance(result, Exception):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)
