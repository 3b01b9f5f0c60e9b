"""Queries on a farm's history and the rows they return: an event filter, an export row."""

from __future__ import annotations

from dataclasses import dataclass

from farmbridge.domain.telemetry import EventLevel


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Events of one farm, newest first: `before_seq` pages back, `limit` bounds a page."""

    level: EventLevel | None = None
    device_id: int | None = None
    before_seq: int | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One reading of the CSV export, with its device's and sensor's names."""

    seq: int
    ts_ms: int
    received_ms: int
    device: str
    sensor: str
    unit: str
    value: float
