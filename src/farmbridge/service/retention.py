"""The retention sweeper: rolls new readings up, deletes history past its period in
bounded batches, and counts each farm's rows for the metrics.

`sweep()` is one tick, callable directly (tests drive it on a FakeClock); the periods are
measured on the injected clock's wall time. Every step is safe on several instances at
once (store/rollups.py, store/sql_retention.py), so no lease is needed: a second
instance's roll-up finds the mark moved and adds nothing, its deletes find less to delete.
On PostgreSQL the raw readings' day partitions are made ahead and old ones dropped whole
between the roll-ups and the deletes, under an advisory lock (store/partitions.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Final

from farmbridge import metrics
from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import DomainError
from farmbridge.domain.retention import History, RetentionPolicy
from farmbridge.store import Store

log = logging.getLogger(__name__)

PURGE_BATCH_ROWS: Final = 5_000
"""Rows one delete job handles: a few ms of the writer (docs/benchmarks.md)."""
MAX_BATCHES_PER_SWEEP: Final = 200
"""Per farm and kind, so a backlog (a first sweep over years) is spread over sweeps."""
COUNT_EVERY_S: Final = 900.0


@dataclass(slots=True)
class SweepReport:
    """What one sweep did: readings rolled up, rows deleted per kind of history, and the
    day partitions of readings made and dropped (PostgreSQL)."""

    rolled: int = 0
    deleted: dict[History, int] = field(default_factory=dict)
    counted: bool = False
    partitions_made: list[str] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)


class RetentionService:
    def __init__(
        self,
        store: Store,
        *,
        policy: RetentionPolicy,
        clock: Clock,
        batch_rows: int = PURGE_BATCH_ROWS,
        count_every_s: float = COUNT_EVERY_S,
    ) -> None:
        """`policy` says how long each kind of history is kept; each delete job handles
        about `batch_rows` rows; rows are counted at most every `count_every_s` (a count
        reads whole tables)."""
        self._store = store
        self.policy = policy
        self._clock = clock
        self._batch_rows = batch_rows
        self._count_every_s = count_every_s
        self._counted_at: float | None = None

    async def sweep(self) -> SweepReport:
        """One tick over every farm: roll up, delete what is past its period, count."""
        report = SweepReport()
        now_ms = self._clock.wall_ms()
        farms = await self._store.list_farms()
        for farm in farms:
            for _ in range(MAX_BATCHES_PER_SWEEP):
                added = await self._store.roll_up(farm.id)
                report.rolled += added
                if not added:
                    break
        # PostgreSQL's day partitions of raw readings (nothing on SQLite): made a week
        # ahead, and dropped whole once old and rolled up, before the batched deletes.
        report.partitions_made = await self._store.prepare_partitions(now_ms)
        raw_cutoff = self.policy.cutoff_ms(History.READINGS, now_ms)
        if raw_cutoff is not None:
            report.partitions_dropped = await self._store.drop_partitions(raw_cutoff)
        for farm in farms:
            for what in History:
                cutoff = self.policy.cutoff_ms(what, now_ms)
                if cutoff is None:
                    continue
                for _ in range(MAX_BATCHES_PER_SWEEP):
                    gone = await self._store.purge(what, farm.id, cutoff, self._batch_rows)
                    report.deleted[what] = report.deleted.get(what, 0) + gone
                    if gone < self._batch_rows:
                        break
        for what, n in report.deleted.items():
            if n:
                metrics.RETENTION_DELETED.labels(what.value).inc(n)
        mono = self._clock.monotonic()
        if self._counted_at is None or mono - self._counted_at >= self._count_every_s:
            rows = await self._store.table_rows()
            names = {f.id: f.name for f in farms}
            metrics.STORE_ROWS.clear()
            for (farm_id, table), n in rows.items():
                if farm_id in names:
                    metrics.STORE_ROWS.labels(names[farm_id], table).set(n)
            self._counted_at = mono
            report.counted = True
        return report

    async def run(self, every_s: float) -> None:
        """Sweeps every `every_s` seconds until cancelled; a failed sweep is logged and the
        next one goes on where it stopped (every step it finished is committed)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.sweep()
            except DomainError as exc:
                log.warning("retention sweep failed: %s", exc.message)
            except Exception:
                log.exception("retention sweep failed")
