"""Fuzzing the HTTP ingest body and the LoRaWAN parsers: a report with bounded names (and, from
LoRaWAN, finite numbers), or BadPayload, never another exception."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import orjson
from hypothesis import given
from hypothesis import strategies as st

from farmbridge.domain.errors import BadPayload
from farmbridge.domain.reports import DeviceReport
from farmbridge.ingest.fields import MAX_NAME_CHARS
from farmbridge.ingest.lorawan import Uplink, parse_chirpstack_event, parse_tts_uplink
from farmbridge.ingest.payloads import parse_report
from tests.unit.fuzz_inputs import dumps, finite, json_bytes, mutated

NOW: Final = 1_714_560_000_000
SAMPLES: Final = Path(__file__).parent.parent / "samples" / "lorawan"
INGEST_SAMPLE: Final[dict[str, Any]] = {
    "message_id": "m-1",
    "readings": [{"sensor": "temp", "value": 21.5, "ts": NOW}, {"sensor": "hum", "value": 40}],
    "status": {"state": "online", "actuator": {"valve": "open"}, "ts": "2024-05-01T10:11:12Z"},
    "events": [{"level": "warning", "code": "low_battery", "message": "3.1 V", "ts": NOW}],
}


def _sample(name: str) -> Any:
    return orjson.loads((SAMPLES / name).read_bytes())


def _assert_sane(report: DeviceReport, *, finite_values: bool = True) -> None:
    for r in report.readings:
        assert finite(r.value) or not finite_values, r
        assert 0 < len(r.sensor) <= MAX_NAME_CHARS, r
        assert isinstance(r.ts_ms, int)
    for e in report.events:
        assert 0 < len(e.code) <= MAX_NAME_CHARS, e
    if report.message_id is not None:
        assert 0 < len(report.message_id) <= MAX_NAME_CHARS


def _ingest(raw: bytes) -> None:
    try:
        report = parse_report(raw, NOW)
    except BadPayload as exc:
        refusal: BadPayload | None = exc
    else:
        refusal = None
        # Numeric strings ("1e400", "NaN") read as non-finite floats here; the ingest
        # service refuses them (422), so only names and sizes are the decoder's to bound.
        _assert_sane(report, finite_values=False)
    assert refusal is None or refusal.field


@given(json_bytes())
def test_parse_report_any_bytes_gives_a_report_or_bad_payload(raw: bytes) -> None:
    """Any body parses to a sane report or raises BadPayload naming a field."""
    _ingest(raw)


@given(mutated(INGEST_SAMPLE) | mutated(INGEST_SAMPLE["readings"][0]))
def test_parse_report_mutated_body_gives_a_report_or_bad_payload(body: Any) -> None:
    """A valid body with any of its values replaced parses sanely or raises BadPayload."""
    _ingest(dumps(body))


def _lorawan(parse: Any, raw: bytes) -> None:
    try:
        uplink: Uplink | None = parse(raw)
    except BadPayload:
        return
    if uplink is None:
        return
    assert 0 < len(uplink.device) <= MAX_NAME_CHARS
    _assert_sane(uplink.report)
    for sensor in uplink.units:
        assert 0 < len(sensor) <= MAX_NAME_CHARS


_TTS: Final = [
    _sample(n) for n in ("tts_uplink.json", "tts_uplink_no_decoder.json", "tts_join_accept.json")
]
_CHIRPSTACK: Final = {
    "up": _sample("chirpstack_up.json"),
    "status": _sample("chirpstack_status.json"),
    "join": _sample("chirpstack_join.json"),
}


@given(json_bytes() | st.sampled_from(_TTS).flatmap(lambda s: mutated(s, rounds=4)).map(dumps))
def test_parse_tts_uplink_any_body_gives_an_uplink_or_bad_payload(raw: bytes) -> None:
    """Any TTS webhook body (mutated samples included) is an uplink, None or BadPayload."""
    _lorawan(lambda b: parse_tts_uplink(b, NOW), raw)


@given(
    st.sampled_from(sorted(_CHIRPSTACK)) | st.text(max_size=8),
    json_bytes() | st.sampled_from(list(_CHIRPSTACK.values())).flatmap(mutated).map(dumps),
)
def test_parse_chirpstack_event_any_body_gives_an_uplink_or_bad_payload(
    event: str, raw: bytes
) -> None:
    """Any ChirpStack event and body (mutated samples included) is an uplink, None or
    BadPayload."""
    _lorawan(lambda b: parse_chirpstack_event(event, b, NOW), raw)
