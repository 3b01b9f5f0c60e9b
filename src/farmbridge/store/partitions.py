"""PostgreSQL's day partitions of `readings`: made ahead, and dropped whole once old.

On PostgreSQL (migration 0009) `readings` is partitioned by range of `received_ms`, the
time retention deletes by, one partition per UTC day (`readings_pYYYYMMDD`) plus a
DEFAULT partition (`readings_default`) so an insert never fails for want of one. The
primary key is (farm_id, seq, received_ms), as a partition key must be in it; a seq is
still unique per farm, because the `UPDATE farms ... RETURNING last_seq` that hands it
out takes the farm row's lock (docs/design.md, "Ordering and durability").

The retention sweeper makes the partitions of the next PARTITIONS_AHEAD_DAYS days and
drops a day's partition in one statement once the whole day is older than the raw
readings' cutoff and every reading in it is rolled up, raising the purged_seq of each
farm in it to its highest seq dropped in the same transaction. Both run under one
advisory lock, so instances sweeping at once take turns. SQLite has none of this: every
function here is for PostgreSQL only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from farmbridge.store import rollups

DAY_MS: Final = 86_400_000
PARTITIONS_AHEAD_DAYS: Final = 7
"""Days of partitions made ahead: a sweeper stopped for less than a week loses nothing."""
DEFAULT_PARTITION: Final = "readings_default"
PARTITION_LOCK_ID: Final = 0x66617270  # "farp": making and dropping partitions
DROP_LOCK_TIMEOUT: Final = "500ms"
"""The longest a drop waits for the table lock: ingest queues behind the waiting drop."""
_BOUND: Final = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True, slots=True)
class Partition:
    """A day partition of readings: its name and [lo_ms, hi_ms) of received_ms."""

    name: str
    lo_ms: int
    hi_ms: int


@dataclass(frozen=True, slots=True)
class Dropped:
    """Partitions a sweep dropped, and each farm's highest seq that went with them."""

    partitions: tuple[str, ...] = ()
    purged: tuple[tuple[int, int], ...] = ()


def day_start(ms: int) -> int:
    return ms - ms % DAY_MS


def partition_name(lo_ms: int) -> str:
    return "readings_p" + datetime.fromtimestamp(lo_ms / 1000, UTC).strftime("%Y%m%d")


def create_sql(lo_ms: int) -> str:
    """The DDL of the day partition starting at `lo_ms` (a UTC midnight)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(lo_ms)} PARTITION OF readings "
        f"FOR VALUES FROM ({int(lo_ms)}) TO ({int(lo_ms) + DAY_MS})"
    )


def existing(c: Connection) -> list[Partition]:
    """The day partitions of readings, oldest first (not the DEFAULT one)."""
    rows = c.execute(
        text(
            "SELECT child.relname, pg_get_expr(child.relpartbound, child.oid) "
            "FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = 'readings'::regclass"
        )
    )
    out = []
    for name, bound in rows:
        m = _BOUND.search(str(bound))
        if m is not None:
            out.append(Partition(str(name), int(m.group(1)), int(m.group(2))))
    return sorted(out, key=lambda p: p.lo_ms)


def create_ahead(c: Connection, now_ms: int, days: int = PARTITIONS_AHEAD_DAYS) -> list[str]:
    """Makes the day partitions from today's to `days` days ahead that are missing;
    returns their names. A day that already has rows in the DEFAULT partition is left
    there (PostgreSQL refuses a partition that rows in DEFAULT belong to); those rows go
    by the batched delete."""
    c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK_ID})
    have = {p.lo_ms for p in existing(c)}
    made = []
    for d in range(days + 1):
        lo = day_start(now_ms) + d * DAY_MS
        if lo in have:
            continue
        stray = c.execute(
            text(
                f"SELECT 1 FROM {DEFAULT_PARTITION} "  # noqa: S608 - a name from code
                "WHERE received_ms >= :lo AND received_ms < :hi LIMIT 1"
            ),
            {"lo": lo, "hi": lo + DAY_MS},
        ).first()
        if stray is None:
            c.execute(text(create_sql(lo)))
            made.append(partition_name(lo))
    return made


def drop_old(c: Connection, older_than_ms: int) -> Dropped:
    """Drops every day partition wholly received before `older_than_ms` whose readings are
    all rolled up (each farm's rolled_seq at least its highest seq in it), raising those
    farms' purged_seq to that seq; a partition not rolled up yet is left (the batched
    delete takes what is rolled up of it). Gives up, dropping nothing more, when the table
    lock is not granted within DROP_LOCK_TIMEOUT: the next sweep tries again."""
    c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK_ID})
    dropped: list[str] = []
    purged: dict[int, int] = {}
    for part in existing(c):
        if part.hi_ms > older_than_ms:
            break
        # Per farm, its highest seq in the partition: one look into the PK's index each.
        tops = {
            int(farm_id): int(top)
            for farm_id, top in c.execute(
                text(
                    f"SELECT f.id, (SELECT max(r.seq) FROM {part.name} r "  # noqa: S608
                    "WHERE r.farm_id = f.id) FROM farms f"
                )
            )
            if top is not None
        }
        if any(rollups.marks(c, farm_id)[0] < top for farm_id, top in tops.items()):
            continue
        try:
            with c.begin_nested():
                previous = c.execute(text("SELECT current_setting('lock_timeout')")).scalar()
                _set_lock_timeout(c, DROP_LOCK_TIMEOUT)
                c.execute(text(f"DROP TABLE {part.name}"))
                _set_lock_timeout(c, str(previous))
        except OperationalError:  # lock_timeout: readers or writers hold the table now
            break
        dropped.append(part.name)
        for farm_id, top in tops.items():
            purged[farm_id] = max(purged.get(farm_id, 0), top)
    for farm_id, top in sorted(purged.items()):
        rollups.raise_purged(c, farm_id, top)
    return Dropped(tuple(dropped), tuple(sorted(purged.items())))


def _set_lock_timeout(c: Connection, value: str) -> None:
    """For the rest of the transaction (a rolled-back savepoint undoes it too)."""
    c.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": value})
