"""The SQL store's retention aggregate: roll readings up, delete old history in batches.

Every delete is one bounded write job: it reads at most `limit` of the oldest rows of a
farm in key order and deletes the prefix of them that is old enough, so the writer (and
ingest, which waits for it) is held for one batch at most. Raw readings go only up to
the farm's `rolled_seq` (what the rollups hold). A delete of sequenced rows raises the
farm's `purged_seq` in its transaction: a resume from before it is told to reload. Two
instances deleting at once delete the same prefix or nothing more; each batch is safe
to repeat.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, Table, delete, func, select, update

from farmbridge.domain.commands import CommandState
from farmbridge.domain.retention import History
from farmbridge.store import rollups
from farmbridge.store.database import SqlAggregate
from farmbridge.store.schema import (
    command_updates,
    commands,
    events,
    history_marks,
    reading_rollups,
    readings,
    status_changes,
)

COUNTED_TABLES: Final[tuple[Table, ...]] = (
    readings,
    reading_rollups,
    status_changes,
    events,
    command_updates,
    commands,
)
"""The tables whose rows per farm are counted for the metrics."""
_FINAL_STATES: Final = tuple(s.value for s in CommandState if s.final)


class SqlRetention(SqlAggregate):
    """See farmbridge.store.base.RetentionStore for the contract of each method."""

    async def roll_up(self, farm_id: int, max_rows: int = rollups.ROLLUP_BATCH_ROWS) -> int:
        batch = await self._db.read(lambda c: rollups.read_batch(c, farm_id, max_rows))
        if batch.upto_seq == batch.after_seq:
            return 0
        done = await self._db.write(lambda c: rollups.write_batch(c, batch))
        return batch.readings if done else 0

    async def purge(self, what: History, farm_id: int, older_than_ms: int, limit: int) -> int:
        return await self._db.write(lambda c: _PURGES[what](c, farm_id, older_than_ms, limit))

    async def history_horizon(self, farm_id: int) -> int:
        return await self._db.read(lambda c: rollups.marks(c, farm_id)[1])

    async def table_rows(self) -> dict[tuple[int, str], int]:
        def fn(c: Connection) -> dict[tuple[int, str], int]:
            out: dict[tuple[int, str], int] = {}
            for table in COUNTED_TABLES:
                q = select(table.c.farm_id, func.count()).group_by(table.c.farm_id)
                for farm_id, n in c.execute(q):
                    out[(int(farm_id), table.name)] = int(n)
            return out

        return await self._db.read(fn)


def _raise_purged(c: Connection, farm_id: int, seq: int) -> None:
    rollups.ensure_marks(c, farm_id)
    c.execute(
        update(history_marks)
        .where(history_marks.c.farm_id == farm_id, history_marks.c.purged_seq < seq)
        .values(purged_seq=seq)
    )


def _prefix(rows: Any, older_than_ms: int) -> int | None:
    """The key of the last row of the old prefix: rows are (key, age ms) in key order."""
    last = None
    for key, age_ms in rows:
        if age_ms >= older_than_ms:
            break
        last = key
    return None if last is None else int(last)


def _purge_sequenced(
    c: Connection,
    table: Table,
    age: ColumnElement[Any],
    farm_id: int,
    older_than_ms: int,
    limit: int,
    *,
    cap: int | None = None,
) -> int:
    # Seqs are given on receipt, so the receipt time grows with them: the oldest rows are
    # the lowest seqs, found by the primary key, and the scan stops at the first young one.
    q = select(table.c.seq, age).where(table.c.farm_id == farm_id)
    if cap is not None:
        q = q.where(table.c.seq <= cap)
    last = _prefix(c.execute(q.order_by(table.c.seq).limit(limit)), older_than_ms)
    if last is None:
        return 0
    gone = c.execute(delete(table).where(table.c.farm_id == farm_id, table.c.seq <= last))
    _raise_purged(c, farm_id, last)
    return int(gone.rowcount)


def _purge_readings(c: Connection, farm_id: int, older_than_ms: int, limit: int) -> int:
    rolled, _ = rollups.marks(c, farm_id)
    return _purge_sequenced(
        c, readings, readings.c.received_ms, farm_id, older_than_ms, limit, cap=rolled
    )


def _purge_events(c: Connection, farm_id: int, older_than_ms: int, limit: int) -> int:
    return _purge_sequenced(c, events, events.c.received_ms, farm_id, older_than_ms, limit)


def _purge_command_updates(c: Connection, farm_id: int, older_than_ms: int, limit: int) -> int:
    t = command_updates
    return _purge_sequenced(c, t, t.c.ts_ms, farm_id, older_than_ms, limit)


def _purge_commands(c: Connection, farm_id: int, older_than_ms: int, limit: int) -> int:
    # Only finished commands; a pending or sent one ends the prefix (it times out soon).
    q = (
        select(commands.c.id, commands.c.updated_ms, commands.c.state)
        .where(commands.c.farm_id == farm_id)
        .order_by(commands.c.id)
        .limit(limit)
    )
    rows = [
        (r.id, r.updated_ms if r.state in _FINAL_STATES else older_than_ms) for r in c.execute(q)
    ]
    last = _prefix(rows, older_than_ms)
    if last is None:
        return 0
    gone = c.execute(delete(commands).where(commands.c.farm_id == farm_id, commands.c.id <= last))
    return int(gone.rowcount)


def _rollup_purge(period_ms: int) -> Any:
    def purge(c: Connection, farm_id: int, older_than_ms: int, limit: int) -> int:
        r = reading_rollups.c
        where = (r.farm_id == farm_id, r.period_ms == period_ms)
        # Only periods wholly before the cutoff; the last of the `limit` oldest bounds it.
        oldest = (
            select(r.bucket_ms)
            .where(*where, r.bucket_ms <= older_than_ms - period_ms)
            .order_by(r.bucket_ms)
            .limit(limit)
            .subquery()
        )
        last = c.execute(select(func.max(oldest.c.bucket_ms))).scalar()
        if last is None:
            return 0
        return int(c.execute(delete(reading_rollups).where(*where, r.bucket_ms <= last)).rowcount)

    return purge


_PURGES = {
    History.READINGS: _purge_readings,
    History.ROLLUPS_5M: _rollup_purge(rollups.FIVE_MINUTES_MS),
    History.ROLLUPS_1H: _rollup_purge(rollups.HOUR_MS),
    History.EVENTS: _purge_events,
    History.COMMAND_UPDATES: _purge_command_updates,
    History.COMMANDS: _purge_commands,
}
