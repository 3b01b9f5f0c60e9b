"""The field kit every payload reader uses: accepted forms, refused forms, the path at fault."""

from __future__ import annotations

import math
from typing import Any

import pytest

from farmbridge.domain.errors import BadPayload, ValidationFailed
from farmbridge.ingest.fields import (
    MAX_ACTUATOR_KEYS,
    MAX_NAME_CHARS,
    actuator,
    at,
    bad,
    boolean,
    clean_name,
    epoch_ms,
    integer,
    iso8601_ms,
    json_array,
    json_object,
    json_value,
    maybe_reading,
    number,
    optional,
    reading,
    required,
    rfc3339_ms,
    shown,
    string,
    utf8_text,
)

NOW = 1_767_225_600_000


def _refused(where: str, read: Any, *args: Any, **kwargs: Any) -> BadPayload:
    """The BadPayload `read(*args, **kwargs)` raises, checked to name `where`."""
    with pytest.raises(BadPayload) as info:
        read(*args, **kwargs)
    assert info.value.field == where
    assert info.value.message.startswith(f"{where}: ")
    return info.value


# -- paths, errors, rendering ----------------------------------------------------------------


def test_at_joins_keys_with_dots_and_indexes_with_brackets() -> None:
    """Paths read like the payload: `a.b[0].c`; at the top a key stands alone."""
    assert at("", "a") == "a"
    assert at(at(at("a", "b"), 0), "c") == "a.b[0].c"
    assert at("gateway telemetry", "dev-1") == "gateway telemetry.dev-1"


def test_bad_is_a_validation_failure_naming_its_field() -> None:
    """The kit's one error is the domain's BadPayload: message `path: detail`, field the path."""
    exc = bad("status.ts", "too late")
    assert isinstance(exc, ValidationFailed)
    assert (exc.message, exc.field, exc.code) == ("status.ts: too late", "status.ts", "invalid")
    top = bad("", "report holds nothing")
    assert (top.message, top.field) == ("report holds nothing", None)


def test_shown_is_short_and_never_recurses() -> None:
    """Long values are cut with '...'; containers are named, however deep they nest."""
    assert shown("x" * 100) == repr("x" * 100)[:37] + "..."
    assert len(shown("x" * 100)) == 40
    assert shown(1.5) == "1.5"
    deep: Any = []
    for _ in range(5_000):
        deep = [deep]
    assert shown(deep) == "an array"
    assert shown({"a": deep}) == "an object"


def test_optional_passes_absence_through_and_reads_the_rest() -> None:
    """None means absent (None back); any other value goes to the reader, path and all."""
    assert optional(string, None, "a.b") is None
    assert optional(string, "x", "a.b") == "x"
    assert optional(integer, 7, "n", low=0, high=9) == 7
    _refused("a.b", optional, string, 5, "a.b")


def test_required_names_a_missing_field() -> None:
    """An absent field is `path: missing`; a present one is read as usual."""
    assert required(json_object, {}, "end_device_ids") == {}
    exc = _refused("end_device_ids", required, json_object, None, "end_device_ids")
    assert exc.message == "end_device_ids: missing"
    exc = _refused("end_device_ids", required, json_object, 5, "end_device_ids")
    assert exc.message == "end_device_ids: not an object"


# -- whole payloads --------------------------------------------------------------------------


def test_json_value_parses_or_names_the_payload() -> None:
    """Any JSON value parses; anything else is refused with the parser's complaint."""
    assert json_value(b'{"a": [1, null]}', "body") == {"a": [1, None]}
    assert json_value(b"3", "body") == 3
    for raw in (b"", b"{not json", b"NaN", b"1e999", b"\xff"):
        exc = _refused("body", json_value, raw, "body")
        assert exc.message.startswith("body: not valid JSON (")
    exc = _refused("telemetry", json_value, b"{", "telemetry", wording="not JSON ({error})")
    assert exc.message.startswith("telemetry: not JSON (")


def test_utf8_text_strips_and_refuses_other_encodings() -> None:
    """UTF-8 is decoded and stripped; undecodable bytes are refused."""
    assert utf8_text(b" Online\n", "LWT") == "Online"
    assert utf8_text("21.5 \u00b0C".encode(), "t") == "21.5 \u00b0C"
    assert _refused("LWT", utf8_text, b"\xc3\x28", "LWT").message == "LWT: not UTF-8 text"


# -- structure -------------------------------------------------------------------------------


def test_json_object_accepts_only_objects() -> None:
    """Objects pass as they are; arrays, scalars and null are refused in the caller's words."""
    obj = {"a": 1}
    assert json_object(obj, "x") is obj
    for raw in ([], None, "{}", 1):
        assert _refused("x", json_object, raw, "x").message == "x: not an object"
    exc = _refused(
        "STATE", json_object, [1], "STATE", wording="expected a JSON object, got {shown}"
    )
    assert exc.message == "STATE: expected a JSON object, got an array"


def test_json_array_checks_type_and_bounds() -> None:
    """A list within [min_items, max_items] passes; a wrong type or length is refused."""
    assert json_array([], "rx") == []
    assert json_array([1, 2], "rx", min_items=1, max_items=2) == [1, 2]
    assert _refused("rx", json_array, {}, "rx").message == "rx: not a list"
    _refused("events", json_array, [], "events", min_items=1)
    exc = _refused(
        "temps", json_array, [1, 2, 3], "temps", max_items=2, wording="{max_items} items at most"
    )
    assert exc.message == "temps: 2 items at most"


def test_actuator_takes_scalar_values_up_to_the_key_limit() -> None:
    """Scalars and nulls pass; a nested value names its own key; too many keys are refused."""
    state = {"power": "on", "level": 3, "eco": False, "mode": None, "t": 1.5}
    assert actuator(state, "status.actuator") == state
    full = {str(i): 1 for i in range(MAX_ACTUATOR_KEYS)}
    assert actuator(full, "a") == full
    exc = _refused("a", actuator, {**full, "x": 1}, "a")
    assert exc.message == f"a: {MAX_ACTUATOR_KEYS + 1} keys, at most {MAX_ACTUATOR_KEYS} allowed"
    exc = _refused("status.actuator.power", actuator, {"power": [1]}, "status.actuator")
    assert exc.message == "status.actuator.power: an array is not a scalar"
    _refused("status.actuator", actuator, "on", "status.actuator")


# -- scalars ---------------------------------------------------------------------------------


def test_string_checks_type_and_length() -> None:
    """Strings within [min_chars, max_chars] pass; one wording covers type and length."""
    assert string("", "m") == ""
    assert string("abc", "m", min_chars=1, max_chars=3) == "abc"
    assert _refused("m", string, 5, "m").message == "m: not a string"
    wording = "expected {min_chars} to {max_chars} characters, got {shown}"
    for raw in ("", "abcd", None, ["a"]):
        exc = _refused("id", string, raw, "id", min_chars=1, max_chars=3, wording=wording)
        assert exc.message == f"id: expected 1 to 3 characters, got {shown(raw)}"


def test_boolean_accepts_only_true_and_false() -> None:
    """JSON booleans pass; 1, "true" and null are no booleans."""
    assert boolean(True, "ok") is True
    assert boolean(False, "ok") is False
    for raw in (1, 0, "true", None):
        assert _refused("ok", boolean, raw, "ok").message == "ok: not a boolean"
    exc = _refused("ack.ok", boolean, "yes", "ack.ok", wording="{shown} is not true or false")
    assert exc.message == "ack.ok: 'yes' is not true or false"


def test_integer_checks_type_and_range() -> None:
    """Integers in [low, high] pass, both ends included; booleans, floats and text do not."""
    assert integer(-5, "n") == -5
    assert integer(0, "f_cnt", low=0, high=2**32 - 1) == 0
    assert integer(2**32 - 1, "f_cnt", low=0, high=2**32 - 1) == 2**32 - 1
    for raw in (-1, 2**32, True, 1.0, "7", None):
        exc = _refused(
            "f_cnt", integer, raw, "f_cnt", low=0, high=2**32 - 1, wording="not in [{low}, {high}]"
        )
        assert exc.message == f"f_cnt: not in [0, {2**32 - 1}]"
    assert _refused("id", integer, False, "id").message == "id: not an integer"


def test_number_takes_finite_json_numbers_only() -> None:
    """Integers and floats pass as floats; booleans, numeric text and infinities do not."""
    assert number(-71, "rssi") == -71.0
    assert number(9.25, "snr") == 9.25
    for raw in (True, "-71", None, [1]):
        assert _refused("rssi", number, raw, "rssi").message == "rssi: not a number"
    for raw in (math.inf, -math.inf, math.nan):
        assert _refused("snr", number, raw, "snr").message == "snr: not a finite number"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (21, 21.0),
        (-0.5, -0.5),
        (True, 1.0),
        (False, 0.0),
        (" 21.5 ", 21.5),
        ("1e3", 1000.0),
        ("ON", 1.0),
        ("true", 1.0),
        ("Open", 1.0),
        ("off", 0.0),
        ("FALSE", 0.0),
        ("closed", 0.0),
    ],
)
def test_reading_takes_what_devices_write(raw: Any, value: float) -> None:
    """Numbers, booleans, numeric text and on/off words are reading values."""
    assert reading(raw, "t") == value
    assert maybe_reading(raw) == value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (math.inf, "t: inf is not a finite number"),
        (math.nan, "t: nan is not a finite number"),
        ("NaN", "t: 'NaN' is not a finite number"),
        ("1e999", "t: '1e999' is not a finite number"),
        ("warm", "t: 'warm' is not a finite number"),
        ("w" * 100, f"t: {repr('w' * 100)[:60]} is not a finite number"),
        (None, "t: None is not a number"),
        ({"v": 1}, "t: an object is not a number"),
        ([1], "t: an array is not a number"),
    ],
)
def test_reading_refuses_what_is_no_finite_value(raw: Any, message: str) -> None:
    """Non-finite numbers, other text and structure are refused; maybe_reading says None."""
    assert _refused("t", reading, raw, "t").message == message
    assert maybe_reading(raw) is None


def test_clean_name_keeps_safe_characters_and_refuses_nothing_left() -> None:
    """Parts join by '.', odd characters become '_', the name starts alphanumeric and is cut
    to MAX_NAME_CHARS; a name of nothing usable is refused (naming no field)."""
    assert clean_name("AM2301", "Temperature") == "AM2301.Temperature"
    assert clean_name("temp 1/ü") == "temp_1_"
    assert clean_name("", "_x") == "x"
    assert clean_name("-" * 3, "a") == "a"
    assert clean_name("n" * 100) == "n" * MAX_NAME_CHARS
    for parts in (("",), ("--",), ("?", "!")):
        with pytest.raises(BadPayload) as info:
            clean_name(*parts)
        assert info.value.message == f"no usable name in {parts!r}"
        assert info.value.field is None


# -- timestamps ------------------------------------------------------------------------------


def test_epoch_ms_takes_numbers_and_defaults_an_absent_one() -> None:
    """Integer or fractional milliseconds (cut to whole ms); `default` stands for null."""
    assert epoch_ms(NOW, "ts") == NOW
    assert epoch_ms(NOW + 0.9, "ts") == NOW
    assert epoch_ms(None, "ts", default=NOW) == NOW
    assert epoch_ms(5, "ts", default=NOW) == 5
    for raw in (None, True, "1767225600000", math.inf, [NOW]):
        exc = _refused("status.ts", epoch_ms, raw, "status.ts")
        assert exc.message == f"status.ts: {shown(raw)} is not epoch milliseconds"


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2024-05-01T10:11:12.123456789Z", 1_714_558_272_123),
        ("2024-05-01T10:11:12.999999999Z", 1_714_558_272_999),
        ("2024-05-01T10:11:12Z", 1_714_558_272_000),
        ("2024-05-01T10:11:12.5z", 1_714_558_272_500),
        ("2024-05-01t10:11:12.04+00:00", 1_714_558_272_040),
        ("2024-05-01T12:11:12.123+02:00", 1_714_558_272_123),
        ("2024-05-01T06:41:12.123456-03:30", 1_714_558_272_123),
        ("2024-05-01 10:11:12Z", 1_714_558_272_000),
        ("1970-01-01T00:00:00Z", 0),
        ("0001-01-01T00:00:00+01:00", -62_135_600_400_000),
    ],
)
def test_rfc3339_ms_reads_to_the_millisecond(text: str, ms: int) -> None:
    """Any number of fractional digits, truncated to milliseconds; offsets applied."""
    assert rfc3339_ms(text, "t") == ms


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T10:11:12",
        "2024-05-01T10:11:12.Z",
        "2024-05-01",
        "20240501T101112Z",
        "2024-W18-3T10:11:12Z",
        "2024-05-01T10:11:12,5Z",
        "2024-02-30T10:11:12Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T10:11:60Z",
        "0000-01-01T00:00:00Z",
        "2024-05-01T10:11:12+24:00",
        "2024-05-01T10:11:12+01:60",
        "\u0662\u0660\u0662\u0664-05-01T10:11:12Z",
    ],
)
def test_rfc3339_ms_refuses_what_rfc3339_does_not_allow(text: str) -> None:
    """Times without a zone, other ISO 8601 forms and impossible dates are refused."""
    with pytest.raises(BadPayload) as info:
        rfc3339_ms(text, "uplink_message.received_at")
    assert info.value.message.startswith("uplink_message.received_at: ")
    assert info.value.field == "uplink_message.received_at"


def test_rfc3339_ms_says_what_is_wrong() -> None:
    """Form, offset and calendar faults each have their own words."""
    where = "time"
    assert _refused(where, rfc3339_ms, "soon", where).message == (
        "time: 'soon' is not an RFC 3339 date-time"
    )
    assert _refused(where, rfc3339_ms, "2024-05-01T10:11:12+01:60", where).message == (
        "time: '2024-05-01T10:11:12+01:60' has no valid UTC offset"
    )
    assert _refused(where, rfc3339_ms, "2024-02-30T00:00:00Z", where).message == (
        "time: '2024-02-30T00:00:00Z' is not a valid date and time"
    )


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2024-05-01T10:11:12Z", 1_714_558_272_000),
        ("2024-05-01T10:11:12.250+00:00", 1_714_558_272_250),
        ("2024-05-01T15:41:12.123456+05:30", 1_714_558_272_123),
        ("2024-05-01T10:11:12.1239Z", 1_714_558_272_123),
        ("2024-05-01T10:11:12,5Z", 1_714_558_272_500),
        ("20240501T101112Z", 1_714_558_272_000),
        ("2024-W18-3T10:11:12Z", 1_714_558_272_000),
        ("2024-05-01T10:11:12+0000", 1_714_558_272_000),
    ],
)
def test_iso8601_ms_reads_every_form_with_a_zone(text: str, ms: int) -> None:
    """Extended and basic forms, week dates and comma fractions, in exact milliseconds."""
    assert iso8601_ms(text, "ts") == ms


def test_iso8601_ms_refuses_text_and_times_without_a_zone() -> None:
    """No date-time, or one without a zone, is refused in words of its own."""
    for text in ("yesterday", "", "2024-13-01T00:00:00Z", "1714558272"):
        exc = _refused("readings[0].ts", iso8601_ms, text, "readings[0].ts")
        assert exc.message == "readings[0].ts: not an ISO 8601 date-time"
    for text in ("2024-05-01T10:11:12", "2024-05-01"):
        exc = _refused("ts", iso8601_ms, text, "ts")
        assert exc.message == "ts: the date-time needs a time zone (Z or +hh:mm)"
    with pytest.raises(BadPayload) as info:
        iso8601_ms("soon", "")
    assert (info.value.message, info.value.field) == ("not an ISO 8601 date-time", None)
