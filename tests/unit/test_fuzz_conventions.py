"""Fuzzing every MQTT convention's `map`: any topic under its filters and any payload give
records with finite numbers and bounded names, or BadPayload, never another exception."""

from __future__ import annotations

from typing import Any, Final

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from farmbridge.domain.errors import BadPayload
from farmbridge.domain.reports import (
    CommandReply,
    Data,
    DeviceRef,
    DeviceReport,
    Discovered,
    Liveness,
)
from farmbridge.ingest.fields import MAX_NAME_CHARS
from farmbridge.ingest.mqtt.conventions import CONVENTIONS, make_convention
from farmbridge.ingest.mqtt.conventions.base import (
    Convention,
    Mapped,
    ReadsDiscovery,
    Refused,
    Watch,
)
from tests import ecosystem_samples as samples
from tests.unit.fuzz_inputs import dumps, finite, json_bytes, json_values, mutated

NOW: Final = 1_767_225_600_000
# Topic levels the conventions give meaning to, plus arbitrary text.
LEVELS: Final = (
    "farm1", "dev-1", "telemetry", "status", "events", "commands", "ack", "SENSOR", "STATE",
    "LWT", "RESULT", "POWER", "sensor", "switch", "temperature", "state", "$state",
    "$description", "config", "me", "rpc", "response", "1", "homeassistant", "tele", "stat",
    "plug", "cmnd", "device", "bridge", "devices", "availability", "set", "online",
    "switch:0", "discovery",
)  # fmt: skip
_level = st.sampled_from(LEVELS) | st.text(min_size=1, max_size=10).filter(
    lambda t: "/" not in t and "+" not in t and "#" not in t
)


@st.composite
def _topic(draw: st.DrawFn, convention: Convention, *, discovery: bool = False) -> str:
    """A topic matching one of the convention's filters (+ and # filled with levels), or
    of its discovery filters."""
    filters = (
        convention.discovery_filters()
        if discovery and isinstance(convention, ReadsDiscovery)
        else convention.filters()
    )
    parts = []
    for level in draw(st.sampled_from(filters)).split("/"):
        if level == "+":
            parts.append(draw(_level))
        elif level == "#":
            parts += draw(st.lists(_level, min_size=0, max_size=3))
        else:
            parts.append(level)
    return "/".join(parts)


HASS_CONFIG: Final[dict[str, Any]] = {
    "name": "Temperature",
    "~": "plug/",
    "stat_t": "~tele/SENSOR",
    "avty_t": "~tele/LWT",
    "unit_of_meas": "°C",
    "val_tpl": "{{ value_json['AM2301'].Temperature | float | round(1) }}",
    "cmd_t": "plug/cmnd/POWER",
    "uniq_id": "4F2A_T",
    "dev": {"ids": ["4F2A"], "name": "Kitchen plug"},
}


def _payload() -> st.SearchStrategy[bytes]:
    return (
        json_bytes()
        | mutated(HASS_CONFIG).map(dumps)
        | mutated(samples.Z2M_BULB).map(lambda d: dumps([d]))
        | mutated(orjson.loads(samples.SHELLY_HT_FULL_STATUS)).map(dumps)
        | mutated(orjson.loads(samples.SHELLY_ERROR)).map(dumps)
        | st.dictionaries(st.sampled_from(LEVELS) | st.text(max_size=6), json_values()).map(dumps)
        | st.sampled_from([b"online", b"offline", b"ON", b"Online", b"ready", b"lost", b"21.5"])
    )


def _sane_name(name: str | None) -> None:
    assert name is None or 0 < len(name) <= MAX_NAME_CHARS, name


def _sane_device(device: DeviceRef) -> None:
    _sane_name(device.name)
    _sane_name(device.farm)


def _sane_report(report: DeviceReport) -> None:
    for r in report.readings:
        assert finite(r.value), r
        _sane_name(r.sensor)
        assert isinstance(r.ts_ms, int)
    for e in report.events:
        _sane_name(e.code)


def _sane(record: Mapped) -> None:
    match record:
        case Data():
            _sane_device(record.device)
            _sane_report(record.report)
            for sensor in record.units:
                _sane_name(sensor)
        case Liveness():
            _sane_device(record.device)
            assert isinstance(record.ts_ms, int)
        case CommandReply():
            _sane_device(record.device)
        case Discovered():
            _sane_device(record.device)
            for sensor in record.sensors:
                _sane_name(sensor)
        case Watch():
            assert record.filter
        case Refused():
            assert record.reason
        case _:
            raise AssertionError(f"unknown record {record!r}")


@st.composite
def _session(draw: st.DrawFn, name: str) -> tuple[Convention, list[tuple[str, bytes]]]:
    """One convention instance and a few messages for it (later topics may follow filters
    that earlier discovery messages taught it)."""
    convention = make_convention(name)
    messages = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        messages.append((draw(_topic(convention)), draw(_payload())))
    return convention, messages


def _run(session: tuple[Convention, list[tuple[str, bytes]]]) -> None:
    convention, messages = session
    for topic, payload in messages:
        try:
            records: list[Any] = convention.map(topic, payload, NOW)
        except BadPayload:
            continue
        for record in records:
            _sane(record)


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
@given(data=st.data())
def test_map_any_topic_and_payload_gives_sane_records_or_bad_payload(
    name: str, data: st.DataObject
) -> None:
    """Each convention maps any messages under its filters to sane records or BadPayload."""
    _run(data.draw(_session(name)))


DISCOVERING: Final = sorted(
    name for name, factory in CONVENTIONS.items() if isinstance(factory(), ReadsDiscovery)
)


@pytest.mark.parametrize("name", DISCOVERING)
@given(data=st.data())
def test_discovery_any_topic_and_payload_gives_sane_records_or_bad_payload(
    name: str, data: st.DataObject
) -> None:
    """What a convention reads outside its prefix (configs, Shelly's answers) is sane too."""
    convention = make_convention(name)
    assert isinstance(convention, ReadsDiscovery)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        topic = data.draw(_topic(convention, discovery=True))
        try:
            records = convention.discovery(topic, data.draw(_payload()), NOW, prefix="")
        except BadPayload:
            continue
        for record in records:
            _sane(record)
