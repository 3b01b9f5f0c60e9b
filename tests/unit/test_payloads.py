"""Parsing the HTTP ingest body into a device report."""

from __future__ import annotations

import pytest

from farmbridge.domain import DeviceState, EventLevel
from farmbridge.domain.errors import BadPayload, ValidationFailed
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


@pytest.mark.parametrize(
    ("ts", "message"),
    [
        ("yesterday", "readings[0].ts: Value error, not an ISO 8601 date-time"),
        (
            "2026-01-01T00:00:00",
            "readings[0].ts: Value error, the date-time needs a time zone (Z or +hh:mm)",
        ),
    ],
)
def test_parse_report_says_why_a_timestamp_is_refused(ts: str, message: str) -> None:
    """A refused ISO 8601 `ts` is a BadPayload whose message names the item and the fault."""
    raw = b'{"readings": [{"sensor": "t", "value": 1, "ts": "' + ts.encode() + b'"}]}'
    with pytest.raises(BadPayload) as info:
        parse_report(raw, NOW)
    assert info.value.message == message


def test_parse_report_reads_iso_timestamps_to_the_millisecond() -> None:
    """Every ISO 8601 form with a zone becomes exact epoch milliseconds."""
    raw = (
        b'{"readings": [{"sensor": "t", "value": 1, "ts": "2026-01-01T05:30:00.250+05:30"},'
        b' {"sensor": "t", "value": 2, "ts": "20260101T000001Z"}]}'
    )
    assert [r.ts_ms for r in parse_report(raw, NOW).readings] == [NOW + 250, NOW + 1_000]
