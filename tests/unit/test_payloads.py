"""Parsing the HTTP ingest body into a device report."""

from __future__ import annotations

import pytest

from farmbridge.domain import DeviceState, EventLevel
from farmbridge.domain.errors import ValidationFailed
from farmbridge.ingest.payloads import parse_report

NOW = 1_767_225_600_000


def test_parse_report_reads_every_part_and_defaults_ts() -> None:
    """Readings, status and events are read; a missing ts becomes the receive time."""
    report = parse_report(
        b'{"message_id": "m1", "readings": [{"sensor": "t", "value": 1.5, "ts": 5}],'
        b' "status": {"state": "online", "actuator": {"power": "on"}},'
        b' "events": [{"level": "alarm", "code": "hot", "ts": "2026-01-01T00:00:00Z"}]}',
        NOW,
    )
    assert report.message_id == "m1"
    assert [(r.sensor, r.value, r.ts_ms) for r in report.readings] == [("t", 1.5, 5)]
    assert report.status is not None
    assert report.status.state is DeviceState.ONLINE
    assert report.status.ts_ms == NOW
    assert [(e.level, e.ts_ms) for e in report.events] == [(EventLevel.ALARM, NOW)]


def test_parse_report_accepts_a_lone_reading() -> None:
    """`{"sensor", "value"}` without an envelope is one reading."""
    report = parse_report(b'{"sensor": "t", "value": 2}', NOW)
    assert [(r.sensor, r.value) for r in report.readings] == [("t", 2.0)]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", "body"),
        (b'{"readings": [{"sensor": "t", "value": "warm"}]}', "readings[0].value"),
        (b'{"readings": [{"sensor": "t", "value": 1, "extra": 1}]}', "readings[0].extra"),
        (b'{"status": {"state": "sleepy"}}', "status.state"),
        (b'{"events": [{"level": "panic", "code": "x"}]}', "events[0].level"),
        (
            b'{"readings": [{"sensor": "t", "value": 1, "ts": "2026-01-01T00:00:00"}]}',
            "readings[0].ts",
        ),
        (b'{"readings": [{"sensor": "t", "value": 1, "ts": "yesterday"}]}', "readings[0].ts"),
    ],
)
def test_parse_report_names_the_field_at_fault(raw: bytes, field: str) -> None:
    """A malformed body raises ValidationFailed whose field points at the problem."""
    with pytest.raises(ValidationFailed) as info:
        parse_report(raw, NOW)
    assert info.value.field == field
