"""Ingest a device's report: authenticate its key, validate against its sensors, store durably."""

from __future__ import annotations

import math

from farmbridge.domain import (
    EventIn,
    IngestBatch,
    IngestResult,
    ReadingIn,
    StatusChange,
)
from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import ValidationFailed
from farmbridge.domain.reports import DeviceReport
from farmbridge.service.directory import DeviceDirectory, DeviceEntry
from farmbridge.service.ratelimit import RateLimiter
from farmbridge.service.security import Secrets
from farmbridge.store import HistoryStore


class IngestService:
    def __init__(
        self,
        store: HistoryStore,
        directory: DeviceDirectory,
        secrets: Secrets,
        *,
        rate_per_s: float,
        burst: int,
        max_items: int,
        max_clock_skew_s: int,
        max_age_s: int,
        clock: Clock,
    ) -> None:
        """A report is received at `clock`'s wall time unless its adapter says otherwise;
        the per-device rate limit refills on the same clock."""
        self._store = store
        self._directory = directory
        self._secrets = secrets
        self._clock = clock
        self._limiter = RateLimiter(rate_per_s=rate_per_s, burst=burst, clock=clock)
        self._max_items = max_items
        self._max_skew_ms = max_clock_skew_s * 1000
        self._max_age_ms = max_age_s * 1000

    async def authenticate(self, device_key: str) -> DeviceEntry:
        """Raises Unauthenticated for an unknown key, RateLimited for a flooding device."""
        entry = await self._directory.by_key_hash(self._secrets.device_key_hash(device_key))
        self._limiter.take(entry.device.id)
        return entry

    def to_batch(self, entry: DeviceEntry, report: DeviceReport, received_ms: int) -> IngestBatch:
        """Validates the whole report; raises ValidationFailed naming the first field at fault."""
        size = len(report.readings) + len(report.events) + (1 if report.status else 0)
        if size == 0:
            raise ValidationFailed("report holds no readings, status or events", field="body")
        if size > self._max_items:
            raise ValidationFailed(
                f"report holds {size} items, at most {self._max_items} allowed", field="body"
            )
        readings: list[ReadingIn] = []
        for i, r in enumerate(report.readings):
            where = f"readings[{i}]"
            sensor = entry.sensors.get(r.sensor)
            if sensor is None:
                raise ValidationFailed(
                    f"device {entry.device.name!r} has no sensor {r.sensor!r}",
                    field=f"{where}.sensor",
                )
            if not math.isfinite(r.value):
                raise ValidationFailed("value must be a finite number", field=f"{where}.value")
            if sensor.min_value is not None and r.value < sensor.min_value:
                raise ValidationFailed(
                    f"{r.value} is below {sensor.name}'s minimum {sensor.min_value}",
                    field=f"{where}.value",
                )
            if sensor.max_value is not None and r.value > sensor.max_value:
                raise ValidationFailed(
                    f"{r.value} is above {sensor.name}'s maximum {sensor.max_value}",
                    field=f"{where}.value",
                )
            self._check_ts(r.ts_ms, received_ms, f"{where}.ts")
            readings.append(ReadingIn(sensor.id, r.value, r.ts_ms))
        status = None
        if report.status is not None:
            self._check_ts(report.status.ts_ms, received_ms, "status.ts")
            status = StatusChange(report.status.state, report.status.actuator, report.status.ts_ms)
        events: list[EventIn] = []
        for i, e in enumerate(report.events):
            self._check_ts(e.ts_ms, received_ms, f"events[{i}].ts")
            events.append(EventIn(e.level, e.code, e.message, e.ts_ms))
        return IngestBatch(
            device_id=entry.device.id,
            farm_id=entry.device.farm_id,
            received_ms=received_ms,
            readings=tuple(readings),
            status=status,
            events=tuple(events),
            message_id=report.message_id,
        )

    async def ingest(
        self, entry: DeviceEntry, report: DeviceReport, *, received_ms: int | None = None
    ) -> IngestResult:
        """Stores the report all-or-nothing; returns once it is durably committed."""
        if received_ms is None:
            received_ms = self._clock.wall_ms()
        batch = self.to_batch(entry, report, received_ms)
        return await self._store.ingest(batch)

    def _check_ts(self, ts_ms: int, now_ms: int, where: str) -> None:
        if ts_ms > now_ms + self._max_skew_ms:
            raise ValidationFailed(
                f"timestamp is {(ts_ms - now_ms) / 1000:.0f} s in the future", field=where
            )
        if ts_ms < now_ms - self._max_age_ms:
            raise ValidationFailed("timestamp is older than the accepted age", field=where)
