"""Readings (raw and bucketed), events, and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Final

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from farmbridge.api.deps import Svc, Who
from farmbridge.api.routing import BoundedRoute
from farmbridge.api.schemas import BucketOut, EventOut, ReadingOut
from farmbridge.domain import EventLevel
from farmbridge.domain.bounds import Id, Int64, PathId
from farmbridge.domain.clock import Clock
from farmbridge.domain.queries import EventFilter, ExportRow

router = APIRouter(prefix="/api/v1", tags=["telemetry"], route_class=BoundedRoute)

DAY_MS: Final = 86_400_000
MAX_EXPORT_SENSORS: Final = 200
CSV_COLUMNS: Final = ("seq", "ts_ms", "received_ms", "device", "sensor", "unit", "value")


def _window(clock: Clock, start: int | None, end: int | None) -> tuple[int, int]:
    end_ms = end if end is not None else clock.wall_ms() + 1
    return (start if start is not None else end_ms - DAY_MS), end_ms


def _csv_row(r: ExportRow) -> tuple[int, int, int, str, str, str, float]:
    return (r.seq, r.ts_ms, r.received_ms, r.device, r.sensor, r.unit, r.value)


Start = Annotated[Int64 | None, Query(description="epoch ms, default end - 24 h")]
End = Annotated[Int64 | None, Query(description="epoch ms (exclusive), default now")]


@router.get("/sensors/{sensor_id}/readings")
async def readings(
    sensor_id: PathId,
    svc: Svc,
    who: Who,
    start: Start = None,
    end: End = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
) -> list[ReadingOut]:
    """Raw readings of one sensor in [start, end), oldest first."""
    s, e = _window(svc.clock, start, end)
    return [ReadingOut.of(r) for r in await svc.farms.readings(who, sensor_id, s, e, limit)]


@router.get("/sensors/{sensor_id}/buckets")
async def buckets(
    sensor_id: PathId,
    svc: Svc,
    who: Who,
    start: Start = None,
    end: End = None,
    bucket_s: Annotated[int, Query(ge=1, le=31 * 86_400)] = 60,
) -> list[BucketOut]:
    """min/avg/max per bucket of `bucket_s` seconds, for charts; empty buckets are left out."""
    s, e = _window(svc.clock, start, end)
    rows = await svc.farms.buckets(who, sensor_id, s, e, bucket_s * 1000)
    return [BucketOut.of(b) for b in rows]


@router.get("/farms/{farm_id}/events")
async def events(
    farm_id: PathId,
    svc: Svc,
    who: Who,
    level: EventLevel | None = None,
    device_id: Id | None = None,
    before_seq: Annotated[Int64 | None, Query(description="page: events older than this")] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> list[EventOut]:
    """Events newest first; pass the last seq you got as `before_seq` for the next page."""
    flt = EventFilter(level=level, device_id=device_id, before_seq=before_seq, limit=limit)
    return [EventOut.of(e) for e in await svc.farms.events(who, farm_id, flt)]


@router.get("/farms/{farm_id}/readings.csv", response_class=StreamingResponse)
async def export_csv(
    farm_id: PathId,
    svc: Svc,
    who: Who,
    start: Start = None,
    end: End = None,
    sensor: Annotated[
        list[Id] | None,
        Query(
            max_length=MAX_EXPORT_SENSORS,
            description="Repeat for each sensor to export (`?sensor=1&sensor=4`); default all.",
        ),
    ] = None,
) -> StreamingResponse:
    """The farm's readings in [start, end) as CSV, streamed in chunks: every sensor's, or
    those named by `sensor` (422 invalid, field `sensor`, for one not of this farm)."""
    s, e = _window(svc.clock, start, end)
    sensors = sorted(set(sensor)) if sensor else None
    # The first chunk checks access and the sensors before anything streams.
    first = await svc.farms.export_chunk(who, farm_id, s, e, 0, sensors)

    async def rows() -> AsyncIterator[str]:
        chunk = first
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_COLUMNS)
        while True:
            writer.writerows(_csv_row(r) for r in chunk)
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if not chunk:
                return
            chunk = await svc.farms.export_chunk(who, farm_id, s, e, chunk[-1].seq, sensors)

    headers = {"Content-Disposition": f'attachment; filename="farm-{farm_id}-readings.csv"'}
    return StreamingResponse(rows(), media_type="text/csv", headers=headers)
