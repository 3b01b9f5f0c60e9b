"""Reading The Things Stack webhooks and ChirpStack HTTP integration events into reports."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from farmbridge.domain.errors import BadPayload
from farmbridge.ingest.lorawan import (
    MAX_LIST_ITEMS,
    MAX_READINGS,
    Uplink,
    parse_chirpstack_event,
    parse_tts_uplink,
)

SAMPLES = Path(__file__).parent.parent / "samples" / "lorawan"
NOW = 1_714_560_000_000  # 2024-05-01T10:40:00Z, after every sample
# 2024-05-01T10:11:12.123456789Z, uplink_message.received_at of tts_uplink.json
TTS_UPLINK_MS = 1_714_558_272_123
# 2024-05-01T10:20:45.918273645+00:00, time of chirpstack_up.json
CHIRPSTACK_UP_MS = 1_714_558_845_918


def _sample(name: str) -> dict[str, Any]:
    obj: dict[str, Any] = orjson.loads((SAMPLES / name).read_bytes())
    return obj


def _body(obj: Any) -> bytes:
    return orjson.dumps(obj)


def _values(uplink: Uplink | None) -> dict[str, float]:
    assert uplink is not None
    return {r.sensor: r.value for r in uplink.report.readings}


def _tts(decoded: Any = None, **uplink_message: Any) -> bytes:
    """The TTS sample with its decoded payload (and any uplink_message fields) replaced."""
    msg = _sample("tts_uplink.json")
    if decoded is None:
        del msg["uplink_message"]["decoded_payload"]
    else:
        msg["uplink_message"]["decoded_payload"] = decoded
    msg["uplink_message"].update(uplink_message)
    return _body(msg)


# -- The Things Stack ----------------------------------------------------------------------


def test_parse_tts_uplink_reads_the_sample() -> None:
    """Device, DevEUI, every numeric leaf, radio metrics, time and message id are read."""
    uplink = parse_tts_uplink((SAMPLES / "tts_uplink.json").read_bytes(), NOW)
    assert uplink is not None
    assert uplink.device == "soil-probe-north-03"
    assert uplink.dev_eui == "70b3d57ed0061a2f"
    assert _values(uplink) == {
        "battery_voltage": 3.61,
        "soil.moisture": 31.4,
        "soil.temperature": 17.25,
        "soil.conductivity": 412.0,
        "air.temperature": 21.8,
        "air.humidity": 64.0,
        "probe_temps.0": 17.1,
        "probe_temps.1": 16.8,
        "probe_temps.2": 16.2,
        "valve_open": 1.0,
        "leaf_wetness": 0.35,
        "rssi": -71.0,
        "snr": 8.25,
    }
    assert {r.ts_ms for r in uplink.report.readings} == {TTS_UPLINK_MS}
    assert uplink.report.message_id == "70b3d57ed0061a2f:AY8mQ3v0cWzR1l6pXk2bNw==:1843"
    assert uplink.report.status is None
    assert uplink.report.events == []
    assert uplink.units == {"rssi": "dBm", "snr": "dB"}


def test_parse_tts_uplink_without_decoded_payload_gives_radio_readings_only() -> None:
    """An uplink no payload formatter decoded still reports the radio link."""
    uplink = parse_tts_uplink((SAMPLES / "tts_uplink_no_decoder.json").read_bytes(), NOW)
    assert uplink is not None
    assert uplink.device == "eui-70b3d57ed0061b90"
    assert _values(uplink) == {"rssi": -96.0, "snr": 3.75}
    assert uplink.report.message_id == "70b3d57ed0061b90:AY8mU8qXb1sYw2Ha0dZ6tA==:57"


@pytest.mark.parametrize("name", ["tts_join_accept.json", "tts_downlink_ack.json"])
def test_parse_tts_uplink_ignores_other_message_types(name: str) -> None:
    """Join accepts and downlink events posted to the same endpoint are accepted as None."""
    assert parse_tts_uplink((SAMPLES / name).read_bytes(), NOW) is None


def test_parse_tts_uplink_ignores_normalized_uplinks() -> None:
    """A normalized uplink repeats an uplink message already read; it is not read twice."""
    msg = _sample("tts_uplink.json")
    up = msg.pop("uplink_message")
    msg["uplink_normalized"] = {**up, "normalized_payload": [{"air": {"temperature": 21.8}}]}
    assert parse_tts_uplink(_body(msg), NOW) is None


def test_parse_tts_uplink_takes_radio_metrics_from_the_strongest_gateway() -> None:
    """rssi and snr come from the gateway with the highest RSSI, SNR breaking ties."""
    gateways = [
        {"gateway_ids": {"gateway_id": "a"}, "rssi": -80, "snr": 2.5},
        {"gateway_ids": {"gateway_id": "b"}, "rssi": -60, "snr": 1.0},
        {"gateway_ids": {"gateway_id": "c"}, "rssi": -60, "snr": 4.0},
        {"gateway_ids": {"gateway_id": "d"}, "channel_rssi": -100, "snr": 9.0},
    ]
    values = _values(parse_tts_uplink(_tts(rx_metadata=gateways), NOW))
    assert values == {"rssi": -60.0, "snr": 4.0}


def test_parse_tts_uplink_reads_a_missing_lora_snr_as_zero() -> None:
    """TTS leaves zero fields out of its JSON, so a LoRa uplink without snr had 0 dB."""
    gateways = [{"gateway_ids": {"gateway_id": "a"}, "rssi": -90}]
    assert _values(parse_tts_uplink(_tts(rx_metadata=gateways), NOW)) == {
        "rssi": -90.0,
        "snr": 0.0,
    }
    fsk = {"data_rate": {"fsk": {"bit_rate": 50000}}, "frequency": "868800000"}
    values = _values(parse_tts_uplink(_tts(rx_metadata=gateways, settings=fsk), NOW))
    assert values == {"rssi": -90.0}


def test_parse_tts_uplink_without_gateways_has_no_radio_readings() -> None:
    """Without rx_metadata (or without any RSSI in it) there is no rssi or snr reading."""
    assert _values(parse_tts_uplink(_tts({"t": 1}, rx_metadata=[]), NOW)) == {"t": 1.0}
    no_rssi = [{"gateway_ids": {"gateway_id": "a"}, "snr": 3.0}]
    assert _values(parse_tts_uplink(_tts({"t": 1}, rx_metadata=no_rssi), NOW)) == {"t": 1.0}


def test_parse_tts_uplink_flattens_nested_payloads() -> None:
    """Nested keys join with '.', list items by index; only numbers, booleans and numeric
    strings become readings."""
    decoded = {
        "a": {"b": {"c": 1}},
        "temps": [1.5, {"x": 2}, [3]],
        "flags": {"door": False, "pump": "on"},
        "text": "hello",
        "hex": "0x1F",
        "nothing": None,
        "empty": {},
        "not_finite": ["NaN", "inf", "-Infinity", "1e999"],
        "big": 18446744073709551615,
    }
    uplink = parse_tts_uplink(_tts(decoded, rx_metadata=[]), NOW)
    assert _values(uplink) == {
        "a.b.c": 1.0,
        "temps.0": 1.5,
        "temps.1.x": 2.0,
        "temps.2.0": 3.0,
        "flags.door": 0.0,
        "flags.pump": 1.0,
        "big": 18446744073709551615.0,
    }


def test_parse_tts_uplink_cleans_names() -> None:
    """Keys become sensor names through clean_name; a key with nothing usable is skipped."""
    decoded = {"air temp (°C)": 20.5, "x" * 100: 1, "!!!": 2, "": {"y": 3}}
    values = _values(parse_tts_uplink(_tts(decoded, rx_metadata=[]), NOW))
    assert values == {"air_temp_C_": 20.5, "x" * 64: 1.0, "y": 3.0}


def test_parse_tts_uplink_skips_long_lists_and_deep_nesting() -> None:
    """A list longer than MAX_LIST_ITEMS (a byte dump) and nesting past MAX_DEPTH are skipped."""
    deep: Any = 7
    for _ in range(20):
        deep = {"d": deep}
    decoded = {
        "bytes": list(range(MAX_LIST_ITEMS + 1)),
        "short": list(range(MAX_LIST_ITEMS)),
        "deep": deep,
    }
    values = _values(parse_tts_uplink(_tts(decoded, rx_metadata=[]), NOW))
    assert values == {f"short.{i}": float(i) for i in range(MAX_LIST_ITEMS)}


def test_parse_tts_uplink_takes_units_only_where_the_payload_states_them() -> None:
    """A {value, unit} object is one reading with that unit; key names never imply units."""
    decoded = {
        "temperature": 21.5,
        "rain": {"value": 1.2, "unit": "mm"},
        "wind": {"value": "3.5", "unit": ""},
        "level": {"value": 4, "unit": "u" * 17},
        "bad": {"value": "n/a", "unit": "V"},
    }
    uplink = parse_tts_uplink(_tts(decoded, rx_metadata=[]), NOW)
    assert _values(uplink) == {"temperature": 21.5, "rain": 1.2, "wind": 3.5, "level": 4.0}
    assert uplink is not None
    assert uplink.units == {"rain": "mm"}


def test_parse_tts_uplink_lets_a_decoded_rssi_win() -> None:
    """A decoded value named like a radio metric is the device's own and is kept."""
    uplink = parse_tts_uplink(_tts({"rssi": -40, "battery": 3.3}), NOW)
    assert _values(uplink) == {"rssi": -40.0, "battery": 3.3, "snr": 8.25}
    assert uplink is not None
    assert uplink.units == {"snr": "dB"}


def test_parse_tts_uplink_refuses_two_values_with_one_name() -> None:
    """Two keys that clean to the same sensor name are refused rather than one lost."""
    with pytest.raises(BadPayload) as info:
        parse_tts_uplink(_tts({"a b": 1, "a_b": 2}), NOW)
    assert info.value.message.startswith("uplink_message.decoded_payload.a_b:")
    with pytest.raises(BadPayload):
        parse_tts_uplink(_tts({"a": {"b": 1}, "a.b": 2}), NOW)


def test_parse_tts_uplink_refuses_more_than_the_reading_limit() -> None:
    """At most MAX_READINGS readings per uplink, radio metrics included."""
    at_limit = {f"v{i}": i for i in range(MAX_READINGS - 2)}
    uplink = parse_tts_uplink(_tts(at_limit), NOW)
    assert uplink is not None
    assert len(uplink.report.readings) == MAX_READINGS
    with pytest.raises(BadPayload) as info:
        parse_tts_uplink(_tts({f"v{i}": i for i in range(MAX_READINGS - 1)}), NOW)
    assert f"more than {MAX_READINGS} readings" in info.value.message


def test_parse_tts_uplink_reads_nine_digit_fractions() -> None:
    """received_at with nanoseconds is read to the millisecond."""
    uplink = parse_tts_uplink(_tts({"t": 1}, received_at="2024-05-01T10:11:12.987654321Z"), NOW)
    assert uplink is not None
    assert uplink.report.readings[0].ts_ms == 1_714_558_272_987


def test_parse_tts_uplink_falls_back_on_the_message_time_then_receipt() -> None:
    """Without uplink_message.received_at the message's received_at counts, then receipt."""
    msg = _sample("tts_uplink.json")
    del msg["uplink_message"]["received_at"]
    uplink = parse_tts_uplink(_body(msg), NOW)
    assert uplink is not None
    assert uplink.report.readings[0].ts_ms == 1_714_558_272_341
    del msg["received_at"]
    uplink = parse_tts_uplink(_body(msg), NOW)
    assert uplink is not None
    assert uplink.report.readings[0].ts_ms == NOW


def test_parse_tts_uplink_message_id_is_stable_for_the_same_frame() -> None:
    """The same frame gives the same id however often and by whatever path it arrives;
    another frame or session gives another."""
    raw = (SAMPLES / "tts_uplink.json").read_bytes()

    def mid(msg: dict[str, Any]) -> str | None:
        uplink = parse_tts_uplink(_body(msg), NOW)
        assert uplink is not None
        return uplink.report.message_id

    first = parse_tts_uplink(raw, NOW)
    again = parse_tts_uplink(raw, NOW + 60_000)
    assert first is not None
    assert again is not None
    assert first.report.message_id == again.report.message_id

    redelivered = _sample("tts_uplink.json")
    redelivered["correlation_ids"] = ["as:up:01HWQ5AAAAAAAAAAAAAAAAAAAA"]
    redelivered["received_at"] = "2024-05-01T10:11:19.000000001Z"
    redelivered["uplink_message"]["rx_metadata"].pop()
    assert mid(redelivered) == first.report.message_id

    next_frame = _sample("tts_uplink.json")
    next_frame["uplink_message"]["f_cnt"] = 1844
    new_session = _sample("tts_uplink.json")
    new_session["uplink_message"]["session_key_id"] = "AY8nBBBBBBBBBBBBBBBBBB=="
    ids = {first.report.message_id, mid(next_frame), mid(new_session)}
    assert len(ids) == 3


def test_parse_tts_uplink_message_id_without_session_key_or_dev_eui() -> None:
    """Without a session key id the DevAddr stands in; without a DevEUI the device name;
    a missing f_cnt is 0 (left out as zero); ids never pass 64 characters."""
    msg = _sample("tts_uplink.json")
    del msg["uplink_message"]["session_key_id"]
    del msg["uplink_message"]["f_cnt"]
    del msg["end_device_ids"]["dev_eui"]
    uplink = parse_tts_uplink(_body(msg), NOW)
    assert uplink is not None
    assert uplink.dev_eui == ""
    assert uplink.report.message_id == "soil-probe-north-03:260B7C4E:0"

    msg["end_device_ids"]["device_id"] = "d" * 200
    msg["uplink_message"]["session_key_id"] = "s" * 200
    long_ids = [parse_tts_uplink(_body(msg), NOW) for _ in range(2)]
    assert long_ids[0] is not None
    assert long_ids[1] is not None
    assert long_ids[0].report.message_id == long_ids[1].report.message_id
    assert len(long_ids[0].report.message_id or "") <= 64


def _broken(path: tuple[str | int, ...], value: Any, *also: tuple[str | int, ...]) -> bytes:
    """The TTS sample with the field at `path` set to `value` and the `also` fields deleted."""
    msg: Any = _sample("tts_uplink.json")
    for where, what in [(path, value), *((p, _DELETE) for p in also)]:
        target = msg
        for key in where[:-1]:
            target = target[key]
        if what is _DELETE:
            del target[where[-1]]
        else:
            target[where[-1]] = what
    return _body(msg)


_DELETE = object()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "body: not valid JSON"),
        (b"{not json", "body: not valid JSON"),
        (b"[1, 2]", "body: not a JSON object"),
        (b'"uplink"', "body: not a JSON object"),
        (b"{}", "end_device_ids: missing"),
        (b'{"end_device_ids": 5}', "end_device_ids: not an object"),
        (b'{"end_device_ids": {}}', "end_device_ids.device_id: missing"),
        (_broken(("end_device_ids", "device_id"), _DELETE), "end_device_ids.device_id: missing"),
        (_broken(("end_device_ids", "device_id"), 42), "end_device_ids.device_id: not a string"),
        (_broken(("end_device_ids", "device_id"), "--"), "end_device_ids.device_id: '--'"),
        (_broken(("end_device_ids", "dev_eui"), "70B3D57ED0061A2"), "end_device_ids.dev_eui:"),
        (_broken(("end_device_ids", "dev_eui"), "ZZB3D57ED0061A2F"), "end_device_ids.dev_eui:"),
        (_broken(("uplink_message",), []), "uplink_message: not an object"),
        (
            _broken(("uplink_message", "decoded_payload"), [1, 2]),
            "uplink_message.decoded_payload: not an object",
        ),
        (
            _broken(("uplink_message", "rx_metadata"), {"rssi": -1}),
            "uplink_message.rx_metadata: not a list",
        ),
        (
            _broken(("uplink_message", "rx_metadata", 0), "gw"),
            "uplink_message.rx_metadata[0]: not an object",
        ),
        (
            _broken(("uplink_message", "rx_metadata", 1, "rssi"), "-71"),
            "uplink_message.rx_metadata[1].rssi: not a number",
        ),
        (
            _broken(("uplink_message", "rx_metadata", 1, "snr"), True),
            "uplink_message.rx_metadata[1].snr: not a number",
        ),
        (
            _broken(("uplink_message", "received_at"), "yesterday"),
            "uplink_message.received_at: 'yesterday' is not an RFC 3339 date-time",
        ),
        (
            _broken(("uplink_message", "received_at"), "2024-05-01T10:11:12"),
            "uplink_message.received_at:",
        ),
        (
            _broken(("received_at",), 1714558272, ("uplink_message", "received_at")),
            "received_at: not a string",
        ),
        (_broken(("uplink_message", "f_cnt"), -1), "uplink_message.f_cnt:"),
        (_broken(("uplink_message", "f_cnt"), 2**32), "uplink_message.f_cnt:"),
        (_broken(("uplink_message", "f_cnt"), "1843"), "uplink_message.f_cnt:"),
        (_broken(("uplink_message", "session_key_id"), 7), "uplink_message.session_key_id:"),
        (
            _broken(("uplink_message", "settings", "data_rate"), "SF9BW125"),
            "uplink_message.settings.data_rate: not an object",
        ),
    ],
)
def test_parse_tts_uplink_names_the_field_at_fault(raw: bytes, message: str) -> None:
    """A malformed body raises BadPayload whose message starts with the field at fault."""
    with pytest.raises(BadPayload) as info:
        parse_tts_uplink(raw, NOW)
    assert info.value.message.startswith(message)


# -- ChirpStack ----------------------------------------------------------------------------


def test_parse_chirpstack_up_reads_the_sample() -> None:
    """Device name, DevEUI, the decoded object, radio metrics, time and dedup id are read."""
    uplink = parse_chirpstack_event("up", (SAMPLES / "chirpstack_up.json").read_bytes(), NOW)
    assert uplink is not None
    assert uplink.device == "Orchard_soil_7"
    assert uplink.dev_eui == "24e124126c481f07"
    assert _values(uplink) == {
        "battery": 100.0,
        "temperature": 23.3,
        "moisture": 45.5,
        "conductivity": 460.0,
        "depths.cm10.moisture": 41.0,
        "depths.cm30.moisture": 47.5,
        "tamper": 0.0,
        "rssi": -87.0,
        "snr": 10.5,
    }
    assert {r.ts_ms for r in uplink.report.readings} == {CHIRPSTACK_UP_MS}
    assert uplink.report.message_id == "5f0c8a8e-3b7d-4f55-9c1e-2a6d7b94e0f3"
    assert uplink.units == {"rssi": "dBm", "snr": "dB"}


def test_parse_chirpstack_up_without_object_gives_radio_readings_only() -> None:
    """Without a codec in the device profile there is no object: radio readings only."""
    msg = _sample("chirpstack_up.json")
    del msg["object"]
    assert _values(parse_chirpstack_event("up", _body(msg), NOW)) == {"rssi": -87.0, "snr": 10.5}


def test_parse_chirpstack_up_takes_the_strongest_gateway() -> None:
    """rssi and snr come from the rxInfo entry with the highest RSSI; a missing LoRa snr is 0."""
    msg = _sample("chirpstack_up.json")
    del msg["object"]
    msg["rxInfo"] = [
        {"gatewayId": "0016c001f153a14c", "rssi": -101, "snr": 7.5},
        {"gatewayId": "a840411eed2c4150", "rssi": -64},
    ]
    assert _values(parse_chirpstack_event("up", _body(msg), NOW)) == {"rssi": -64.0, "snr": 0.0}


def test_parse_chirpstack_up_without_time_or_dedup_id() -> None:
    """Without time the receipt time counts; without deduplicationId the frame names the id."""
    msg = _sample("chirpstack_up.json")
    del msg["time"]
    del msg["deduplicationId"]
    uplink = parse_chirpstack_event("up", _body(msg), NOW)
    assert uplink is not None
    assert uplink.report.readings[0].ts_ms == NOW
    assert uplink.report.message_id == "24e124126c481f07:01fa3c95:2291"


def test_parse_chirpstack_status_reads_battery_and_margin() -> None:
    """A status event gives battery (%) and margin (dB), under an id apart from the uplink's."""
    raw = (SAMPLES / "chirpstack_status.json").read_bytes()
    uplink = parse_chirpstack_event("status", raw, NOW)
    assert uplink is not None
    assert uplink.device == "Orchard_soil_7"
    assert _values(uplink) == {"battery": 87.4, "margin": 9.0}
    assert uplink.units == {"battery": "%", "margin": "dB"}
    assert {r.ts_ms for r in uplink.report.readings} == {CHIRPSTACK_UP_MS}
    up = parse_chirpstack_event("up", (SAMPLES / "chirpstack_up.json").read_bytes(), NOW)
    assert up is not None
    assert uplink.report.message_id == "status:5f0c8a8e-3b7d-4f55-9c1e-2a6d7b94e0f3"
    assert uplink.report.message_id != up.report.message_id


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"externalPowerSource": True}, {"margin": 9.0}),
        ({"batteryLevelUnavailable": True}, {"margin": 9.0}),
        ({"batteryLevel": None, "margin": None}, {"margin": 0.0}),
        ({"margin": -12}, {"battery": 87.4, "margin": -12.0}),
    ],
)
def test_parse_chirpstack_status_reads_battery_only_where_available(
    fields: dict[str, Any], expected: dict[str, float]
) -> None:
    """No battery reading on external power or when the device cannot tell; a missing
    margin is 0 dB (proto3 JSON leaves zeros out)."""
    msg = _sample("chirpstack_status.json")
    for key, value in fields.items():
        if value is None:
            del msg[key]
        else:
            msg[key] = value
    assert _values(parse_chirpstack_event("status", _body(msg), NOW)) == expected


@pytest.mark.parametrize(
    "event", ["join", "ack", "txack", "log", "location", "integration", "UP", "", "unknown"]
)
def test_parse_chirpstack_event_ignores_other_events(event: str) -> None:
    """Events that carry no readings return None without the body being read."""
    join = (SAMPLES / "chirpstack_join.json").read_bytes()
    assert parse_chirpstack_event(event, join, NOW) is None
    assert parse_chirpstack_event(event, b"\x0a\x24not json at all", NOW) is None


def _broken_cs(path: tuple[str | int, ...], value: Any) -> bytes:
    msg: Any = _sample("chirpstack_up.json")
    target = msg
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return _body(msg)


@pytest.mark.parametrize(
    ("event", "raw", "message"),
    [
        ("up", b"\x0a\x24\x35\x66\x30", "body: not valid JSON"),
        ("status", b"null", "body: not a JSON object"),
        ("up", b"{}", "deviceInfo: missing"),
        ("up", _broken_cs(("deviceInfo", "deviceName"), _DELETE), "deviceInfo.deviceName: missing"),
        ("up", _broken_cs(("deviceInfo", "deviceName"), ""), "deviceInfo.deviceName: missing"),
        ("up", _broken_cs(("deviceInfo", "deviceName"), " ?"), "deviceInfo.deviceName: ' ?'"),
        ("up", _broken_cs(("deviceInfo", "devEui"), _DELETE), "deviceInfo.devEui: missing"),
        ("up", _broken_cs(("deviceInfo", "devEui"), "AQEBAQEBAQE="), "deviceInfo.devEui:"),
        ("up", _broken_cs(("time",), "2024-02-30T00:00:00Z"), "time: '2024-02-30T00:00:00Z'"),
        ("up", _broken_cs(("object",), "{}"), "object: not an object"),
        ("up", _broken_cs(("rxInfo",), {}), "rxInfo: not a list"),
        ("up", _broken_cs(("rxInfo", 1, "rssi"), None), ""),
        ("up", _broken_cs(("rxInfo", 1, "snr"), "-4.25"), "rxInfo[1].snr: not a number"),
        ("up", _broken_cs(("txInfo", "modulation"), "LORA"), "txInfo.modulation: not an object"),
        ("up", _broken_cs(("deduplicationId",), 5), "deduplicationId: not a string"),
    ],
)
def test_parse_chirpstack_event_names_the_field_at_fault(
    event: str, raw: bytes, message: str
) -> None:
    """A malformed body raises BadPayload whose message starts with the field at fault."""
    if not message:
        # A gateway without RSSI is left out of the choice, not refused.
        assert parse_chirpstack_event(event, raw, NOW) is not None
        return
    with pytest.raises(BadPayload) as info:
        parse_chirpstack_event(event, raw, NOW)
    assert info.value.message.startswith(message)


def test_parse_chirpstack_status_names_the_field_at_fault() -> None:
    """Mistyped status fields are refused with their name."""
    for key, value, message in [
        ("batteryLevel", "87%", "batteryLevel: not a number"),
        ("margin", True, "margin: not a number"),
        ("externalPowerSource", "yes", "externalPowerSource: not a boolean"),
    ]:
        msg = _sample("chirpstack_status.json")
        msg[key] = value
        with pytest.raises(BadPayload) as info:
            parse_chirpstack_event("status", _body(msg), NOW)
        assert info.value.message == message


# -- garbage ---------------------------------------------------------------------------------

_JUNK: list[Any] = [
    None,
    True,
    0,
    -1,
    2**40,
    1.5e308,
    "",
    "x",
    "NaN",
    "2024-13-01T00:00:00Z",
    "ZZZZZZZZZZZZZZZZ",
    [],
    [None, {}],
    {},
    {"value": {}, "unit": 5},
    list(range(40)),
]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found += _paths(value, (*prefix, i))
    return found


def _mutants(sample: dict[str, Any], rng: random.Random, count: int) -> list[bytes]:
    paths = _paths(sample)
    bodies: list[bytes] = []
    for _ in range(count):
        msg = copy.deepcopy(sample)
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(paths)
            target: Any = msg
            try:
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = copy.deepcopy(rng.choice(_JUNK))
            except (KeyError, IndexError, TypeError):
                continue  # an earlier mutation replaced a parent
        bodies.append(_body(msg))
    return bodies


def test_parsers_raise_nothing_but_bad_payload_on_garbage() -> None:
    """Mutated samples and random bytes give an Uplink, None or BadPayload, nothing else."""
    rng = random.Random(20240501)
    bodies = [bytes(rng.randrange(256) for _ in range(rng.randrange(64))) for _ in range(200)]
    bodies += [b"{" * 2000, b"[" * 2000 + b"]" * 2000, b'{"a":' * 300 + b"1" + b"}" * 300]
    tts = [*_mutants(_sample("tts_uplink.json"), rng, 400), *bodies]
    up = [*_mutants(_sample("chirpstack_up.json"), rng, 300), *bodies]
    status = [*_mutants(_sample("chirpstack_status.json"), rng, 200), *bodies]
    uplinks = 0
    messages: list[str] = []
    for parse, raws in [
        (parse_tts_uplink, tts),
        (lambda raw, now: parse_chirpstack_event("up", raw, now), up),
        (lambda raw, now: parse_chirpstack_event("status", raw, now), status),
    ]:
        for raw in raws:
            try:
                result = parse(raw, NOW)
            except BadPayload as exc:
                messages.append(exc.message)
                continue
            if result is None:
                continue
            uplinks += 1
            assert len(result.report.readings) <= MAX_READINGS
            assert result.report.message_id is None or len(result.report.message_id) <= 64
    # Both outcomes occur, so the mutations reach past the first checks.
    assert uplinks
    assert messages
    assert all(messages)
