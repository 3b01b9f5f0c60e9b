"""The SQL store's history aggregate: ingest, readings, buckets, events, export, resume.

Ingest is the hot path (group-committed in bulk); `changes_since` merges the six
sequenced tables for a resuming subscriber.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, select, text

from farmbridge.domain import Change, Event, IngestBatch, IngestResult, Reading, ReadingBucket
from farmbridge.domain.queries import EventFilter, ExportRow
from farmbridge.store import rollups, rows
from farmbridge.store.database import SqlAggregate, Written
from farmbridge.store.schema import (
    alarm_changes,
    command_updates,
    device_removals,
    devices,
    events,
    ingest_messages,
    readings,
    sensors,
    status_changes,
)


class SqlHistory(SqlAggregate):
    """See farmbridge.store.base.HistoryStore for the contract of each method."""

    async def ingest(self, batch: IngestBatch) -> IngestResult:
        # Batches go to the writer as they are: it writes a group's batches in bulk.
        done: Written[IngestResult] = await self._db.writer.submit(batch)
        return done.value

    async def readings(
        self, sensor_id: int, start_ms: int, end_ms: int, *, limit: int = 10_000
    ) -> list[Reading]:
        q = (
            select(readings)
            .where(
                readings.c.sensor_id == sensor_id,
                readings.c.ts_ms >= start_ms,
                readings.c.ts_ms < end_ms,
            )
            .order_by(readings.c.ts_ms, readings.c.seq)
            .limit(limit)
        )
        return await self._db.read(lambda c: [rows.reading(r) for r in c.execute(q)])

    async def reading_buckets(
        self, sensor_id: int, start_ms: int, end_ms: int, bucket_ms: int
    ) -> list[ReadingBucket]:
        period_ms = rollups.period_for(start_ms, bucket_ms)
        if period_ms is not None:  # whole periods: the rollups answer, whatever the age
            return await self._db.read(
                lambda c: rollups.rolled_buckets(
                    c, sensor_id, start_ms, end_ms, bucket_ms, period_ms
                )
            )
        bucket = (readings.c.ts_ms - start_ms) // bucket_ms
        q = (
            select(
                bucket.label("b"),
                func.count().label("n"),
                func.min(readings.c.value).label("lo"),
                func.avg(readings.c.value).label("mean"),
                func.max(readings.c.value).label("hi"),
            )
            .where(
                readings.c.sensor_id == sensor_id,
                readings.c.ts_ms >= start_ms,
                readings.c.ts_ms < end_ms,
            )
            .group_by(text("b"))
            .order_by(text("b"))
        )
        return await self._db.read(
            lambda c: [
                ReadingBucket(start_ms + int(r.b) * bucket_ms, r.n, r.lo, float(r.mean), r.hi)
                for r in c.execute(q)
            ]
        )

    async def events(self, farm_id: int, flt: EventFilter) -> list[Event]:
        q = select(events).where(events.c.farm_id == farm_id)
        if flt.level is not None:
            q = q.where(events.c.level == flt.level.value)
        if flt.device_id is not None:
            q = q.where(events.c.device_id == flt.device_id)
        if flt.before_seq is not None:
            q = q.where(events.c.seq < flt.before_seq)
        q = q.order_by(events.c.seq.desc()).limit(flt.limit)
        return await self._db.read(lambda c: [rows.event(r) for r in c.execute(q)])

    async def export_readings(
        self,
        farm_id: int,
        start_ms: int,
        end_ms: int,
        *,
        chunk: int = 5_000,
        after_seq: int = 0,
        sensor_ids: Sequence[int] | None = None,
    ) -> list[ExportRow]:
        q = (
            select(
                readings.c.seq,
                readings.c.ts_ms,
                readings.c.received_ms,
                devices.c.name.label("device"),
                sensors.c.name.label("sensor"),
                sensors.c.unit,
                readings.c.value,
            )
            .join(sensors, sensors.c.id == readings.c.sensor_id)
            .join(devices, devices.c.id == readings.c.device_id)
            .where(
                readings.c.farm_id == farm_id,
                readings.c.seq > after_seq,
                readings.c.ts_ms >= start_ms,
                readings.c.ts_ms < end_ms,
            )
            .order_by(readings.c.seq)
            .limit(chunk)
        )
        if sensor_ids is not None:
            q = q.where(readings.c.sensor_id.in_(list(sensor_ids)))
        return await self._db.read(
            lambda c: [
                ExportRow(r.seq, r.ts_ms, r.received_ms, r.device, r.sensor, r.unit, r.value)
                for r in c.execute(q)
            ]
        )

    async def changes_since(self, farm_id: int, after_seq: int, limit: int) -> list[Change]:
        def fn(c: Connection) -> list[Change]:
            out: list[Change] = []
            tables: tuple[tuple[Any, Any], ...] = (
                (readings, rows.reading),
                (status_changes, rows.status_record),
                (events, rows.event),
                (command_updates, rows.stored_command_update),
                (alarm_changes, rows.alarm_update),
                (device_removals, rows.device_removed),
            )
            for table, conv in tables:
                q = (
                    select(table)
                    .where(table.c.farm_id == farm_id, table.c.seq > after_seq)
                    .order_by(table.c.seq)
                    .limit(limit)
                )
                out.extend(conv(r) for r in c.execute(q))
            out.sort(key=lambda ch: ch.seq)
            return out[:limit]

        return await self._db.read(fn)

    async def prune_ingest_messages(self, older_than_ms: int, *, prefix: str = "") -> int:
        def fn(c: Connection) -> int:
            where = ingest_messages.c.received_ms < older_than_ms
            if prefix:
                where = where & ingest_messages.c.message_id.startswith(prefix, autoescape=True)
            res = c.execute(delete(ingest_messages).where(where))
            return int(res.rowcount)

        return await self._db.write(fn)
