"""Payload parts every convention reads and checks: JSON, text, values, timestamps, topics."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import orjson

from farmbridge.ingest.mqtt.conventions.base import BadPayload, number

MAX_ACTUATOR_KEYS: Final = 32
_SHOWN_CHARS: Final = 40


def shown(value: Any) -> str:
    """A short, safe rendering of a payload part for an error message.

    Containers are named, never repr'd: a payload nested a thousand levels deep would
    otherwise raise RecursionError inside the message that reports it.
    """
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def json_of(payload: bytes, where: str) -> Any:
    """The payload parsed as JSON; BadPayload when it is not JSON."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise BadPayload(f"{where}: not JSON ({exc})") from exc


def object_of(raw: Any, where: str) -> dict[str, Any]:
    """`raw` when it is a JSON object; BadPayload else."""
    if not isinstance(raw, dict):
        raise BadPayload(f"{where}: expected a JSON object, got {shown(raw)}")
    return raw


def text_of(payload: bytes, where: str) -> str:
    """A plain-text payload, surrounding whitespace removed; BadPayload unless UTF-8."""
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise BadPayload(f"{where}: not UTF-8 text") from exc


def finite(raw: Any, where: str) -> float:
    """A reading's value (see base.number), which must also be finite."""
    # number() repr's what it rejects; only scalars may reach it (see shown()).
    if not isinstance(raw, bool | int | float | str):
        raise BadPayload(f"{where}: {shown(raw)} is not a number")
    value = number(raw, where)
    if not math.isfinite(value):
        raise BadPayload(f"{where}: {shown(raw)} is not a finite number")
    return value


def maybe_number(raw: Any, where: str) -> float | None:
    """A value when `raw` reads as one, None when it is text or structure; non-finite
    numbers are still BadPayload, as nobody sends NaN on purpose."""
    if not isinstance(raw, bool | int | float | str):
        return None
    try:
        value = number(raw, where)
    except BadPayload:
        return None
    if not math.isfinite(value):
        raise BadPayload(f"{where}: {shown(raw)} is not a finite number")
    return value


def timestamp(raw: Any, where: str, now_ms: int) -> int:
    """Epoch milliseconds from a payload's ts field, `now_ms` when absent."""
    if raw is None:
        return now_ms
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise BadPayload(f"{where}: {shown(raw)} is not epoch milliseconds")
    return int(raw)


def actuator_of(raw: Any, where: str) -> dict[str, Any]:
    """An actuator dict: at most 32 keys, scalar values, as the HTTP ingest body allows."""
    obj = object_of(raw, where)
    if len(obj) > MAX_ACTUATOR_KEYS:
        raise BadPayload(f"{where}: {len(obj)} keys, at most {MAX_ACTUATOR_KEYS} allowed")
    for key, value in obj.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise BadPayload(f"{where}.{key}: {shown(value)} is not a scalar")
    return obj


def segment(name: str | None, what: str) -> str:
    """`name` as one topic level of an outgoing command; BadPayload when it is missing or
    would change the topic's shape (a level separator, a wildcard, NUL)."""
    if not name:
        raise BadPayload(f"the command needs the {what}")
    if any(c in name for c in "/+#\0"):
        raise BadPayload(f"{what} {shown(name)} cannot be a topic level")
    return name


def dumps(value: Any, where: str) -> bytes:
    """JSON bytes of an outgoing payload; BadPayload when params are not JSON-serializable."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise BadPayload(f"{where}: cannot encode as JSON ({exc})") from exc


def value_text(value: Any) -> str:
    """A scalar as a device would spell it: integral floats without '.0', so an integer
    property accepts them; booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def same_value(requested: Any, reported: Any) -> bool:
    """Whether a reported state shows a requested value: numerically when both read as
    numbers (21 == "21.0"), else as case-insensitive text ("on" == "ON")."""
    scalar = (str, int, float, bool)
    if not isinstance(requested, scalar) or not isinstance(reported, scalar):
        return False
    if isinstance(requested, float) and not math.isfinite(requested):
        return False
    want, got = value_text(requested).strip(), value_text(reported).strip()
    try:
        return float(want) == float(got)
    except ValueError:
        return want.casefold() == got.casefold()


def state_shows(
    state: dict[str, Any],
    key: str,
    requested: str | None,
    *,
    normal: Callable[[str], str] = str.casefold,
) -> bool:
    """Whether a reported state completes a command setting `key` to `requested`.

    Keys match by `normal` (case-insensitively by default, as Tasmota and ESPHome treat
    them). A command without a value, or with TOGGLE, cannot know the outcome, so any
    report of the key completes it.
    """
    wanted = normal(key)
    for reported_key, reported in state.items():
        if normal(reported_key) != wanted:
            continue
        if requested is None or requested.casefold() == "toggle":
            return True
        return same_value(requested, reported)
    return False
