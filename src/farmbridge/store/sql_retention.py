"""The SQL store's retention aggregate: roll readings up, delete old history in batches.

Every delete is one bounded write job: it reads at most `limit` of the oldest rows of a
farm in key order and deletes the prefix of them that is old enough, so the writer (and
ingest, which waits for it) is held for one batch at most; when a look at the oldest row
on a read connection finds nothing old enough, there is no write job at all. Raw
readings go only up to the farm's `rolled_seq` (what the rollups hold). A delete of
sequenced rows raises the farm's `purged_seq` in its transaction: a resume from before
it is told to reload. Two instances deleting at once delete the same prefix or nothing
more; each batch is safe to repeat.

On PostgreSQL, readings are in day partitions (store/partitions.py): a day's partition is
dropped whole once old and rolled up, so the batched delete leaves a reading in one
until its whole day is past the cutoff, and takes only what the drop could not (a day
not all rolled up, rows in the DEFAULT partition).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    case,
    delete,
    func,
    literal_column,
    select,
)

from farmbridge.domain.commands import CommandState
from farmbridge.domain.retention import History
from farmbridge.store import partitions, rollups
from farmbridge.store.database import SqlAggregate
from farmbridge.store.schema import (
    command_updates,
    commands,
    events,
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
        kind = _KINDS[what]
        # A look on a read connection first: most sweeps find nothing old enough, and
        # then cost the writer (and the ingest queued behind it) no job at all.
        oldest = await self._db.read(lambda c: kind.candidates(c, farm_id, 1))
        if _prefix(oldest, older_than_ms) is None:
            return 0
        return await self._db.write(lambda c: kind.purge(c, farm_id, older_than_ms, limit))

    async def prepare_partitions(self, now_ms: int) -> list[str]:
        if self._db.engine.dialect.name != "postgresql":
            return []
        want = {
            partitions.day_start(now_ms) + d * partitions.DAY_MS
            for d in range(partitions.PARTITIONS_AHEAD_DAYS + 1)
        }
        have = await self._db.read(lambda c: {p.lo_ms for p in partitions.existing(c)})
        if want <= have:
            return []
        return await self._db.write(lambda c: partitions.create_ahead(c, now_ms))

    async def drop_partitions(self, older_than_ms: int) -> list[str]:
        if self._db.engine.dialect.name != "postgresql":
            return []
        old = await self._db.read(
            lambda c: [p for p in partitions.existing(c) if p.hi_ms <= older_than_ms]
        )
        if not old:
            return []
        done = await self._db.write(lambda c: partitions.drop_old(c, older_than_ms))
        return list(done.partitions)

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


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one kind of history is deleted: its oldest rows as (key, age ms) in key order,
    and the delete of every row up to a key."""

    candidates: Callable[[Connection, int, int], list[tuple[int, int]]]
    remove: Callable[[Connection, int, int], int]

    def purge(self, c: Connection, farm_id: int, older_than_ms: int, limit: int) -> int:
        last = _prefix(self.candidates(c, farm_id, limit), older_than_ms)
        return 0 if last is None else self.remove(c, farm_id, last)


def _prefix(rows: Iterable[tuple[int, int]], older_than_ms: int) -> int | None:
    """The key of the last row of the old prefix of `rows`, or None."""
    last = None
    for key, age_ms in rows:
        if age_ms >= older_than_ms:
            break
        last = key
    return last


def _reading_age(c: Connection) -> ColumnElement[Any]:
    """A reading's age for the batched delete: its receipt time; on PostgreSQL, in a day
    partition, the end of that day, so the rows there wait for the partition's drop."""
    if c.dialect.name != "postgresql":
        return readings.c.received_ms
    day_end = readings.c.received_ms - readings.c.received_ms % partitions.DAY_MS
    return case(
        (
            literal_column("readings.tableoid")
            == literal_column(f"'{partitions.DEFAULT_PARTITION}'::regclass"),
            readings.c.received_ms,
        ),
        else_=day_end + (partitions.DAY_MS - 1),
    )


def _sequenced(
    table: Table,
    age: Callable[[Connection], ColumnElement[Any]],
    *,
    rolled_only: bool = False,
) -> _Kind:
    # Seqs are given on receipt, so the receipt time grows with them: the oldest rows are
    # the lowest seqs, found by the primary key, and the first young one ends the batch.
    def candidates(c: Connection, farm_id: int, limit: int) -> list[tuple[int, int]]:
        q = select(table.c.seq, age(c)).where(table.c.farm_id == farm_id)
        if rolled_only:  # raw readings: only what the rollups hold
            q = q.where(table.c.seq <= rollups.marks(c, farm_id)[0])
        rows = c.execute(q.order_by(table.c.seq).limit(limit))
        return [(int(seq), int(ms)) for seq, ms in rows]

    def remove(c: Connection, farm_id: int, last: int) -> int:
        gone = c.execute(delete(table).where(table.c.farm_id == farm_id, table.c.seq <= last))
        rollups.raise_purged(c, farm_id, last)
        return int(gone.rowcount)

    return _Kind(candidates, remove)


def _command_candidates(c: Connection, farm_id: int, limit: int) -> list[tuple[int, int]]:
    # Only finished commands; a pending or sent one ends the prefix (it times out soon).
    q = (
        select(commands.c.id, commands.c.updated_ms, commands.c.state)
        .where(commands.c.farm_id == farm_id)
        .order_by(commands.c.id)
        .limit(limit)
    )
    return [
        (int(r.id), int(r.updated_ms) if r.state in _FINAL_STATES else _NEVER_MS)
        for r in c.execute(q)
    ]


def _remove_commands(c: Connection, farm_id: int, last: int) -> int:
    gone = c.execute(delete(commands).where(commands.c.farm_id == farm_id, commands.c.id <= last))
    return int(gone.rowcount)


def _rollups(period_ms: int) -> _Kind:
    r = reading_rollups.c

    def candidates(c: Connection, farm_id: int, limit: int) -> list[tuple[int, int]]:
        # A bucket's age is its period's last ms: it goes once wholly before the cutoff.
        q = (
            select(r.bucket_ms)
            .where(r.farm_id == farm_id, r.period_ms == period_ms)
            .order_by(r.bucket_ms)
            .limit(limit)
        )
        return [(int(b), int(b) + period_ms - 1) for b in c.execute(q).scalars()]

    def remove(c: Connection, farm_id: int, last: int) -> int:
        q = delete(reading_rollups).where(
            r.farm_id == farm_id, r.period_ms == period_ms, r.bucket_ms <= last
        )
        return int(c.execute(q).rowcount)

    return _Kind(candidates, remove)


_NEVER_MS: Final = 2**62
_KINDS: Final = {
    History.READINGS: _sequenced(readings, _reading_age, rolled_only=True),
    History.ROLLUPS_5M: _rollups(rollups.FIVE_MINUTES_MS),
    History.ROLLUPS_1H: _rollups(rollups.HOUR_MS),
    History.EVENTS: _sequenced(events, lambda _c: events.c.received_ms),
    History.COMMAND_UPDATES: _sequenced(command_updates, lambda _c: command_updates.c.ts_ms),
    History.COMMANDS: _Kind(_command_candidates, _remove_commands),
}
