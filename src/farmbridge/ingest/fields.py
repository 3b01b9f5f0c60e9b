"""Readers of untrusted payload fields, shared by the MQTT conventions, LoRaWAN and HTTP ingest.

Each reader takes a raw value and `where`, the path of the field it reads
(`telemetry.ts`, `uplink_message.rx_metadata[1].rssi`: see `at`), and returns the value
typed, or raises BadPayload whose `field` is that path and whose message starts with it,
`where: detail` (the detail alone at the top, where `where` is ""). A reader's `wording`
is that detail: each edge keeps the wording its logs and 422 bodies always had by passing
its own. In a wording, `{shown}` is the refused value, rendered short and safe (`shown`),
and a reader's bounds appear under their own names (`{max_chars}`, `{high}`, ...).

None is a value like any other to a reader, and refused like any other; `optional` and
`required` say what an absent field (JSON null, or no such key) means.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

import orjson

from farmbridge.domain.errors import BadPayload

MAX_SHOWN_CHARS: Final = 40
MAX_NAME_CHARS: Final = 64
MAX_ACTUATOR_KEYS: Final = 32
"""Keys of a status's actuator state, in every convention and the HTTP ingest body."""

_P = ParamSpec("_P")
_T = TypeVar("_T")

_BAD_NAME_CHARS: Final = re.compile(r"[^A-Za-z0-9_.-]+")
_TRUE_WORDS: Final = frozenset({"on", "true", "open"})
_FALSE_WORDS: Final = frozenset({"off", "false", "closed"})
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_RFC3339: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))",
    re.ASCII,
)


# -- paths and errors ------------------------------------------------------------------------


def at(where: str, key: str | int) -> str:
    """The path of `key` inside the field at `where`: `a.b` for a key, `a[0]` for an index,
    the key alone at the top."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def bad(where: str, detail: str) -> BadPayload:
    """The error for the field at `where`: message `where: detail` (`detail` alone at the
    top), `field` the path (None at the top)."""
    return BadPayload(f"{where}: {detail}" if where else detail, field=where or None)


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
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "..."


def _refused(where: str, wording: str, raw: Any, **bounds: object) -> BadPayload:
    return bad(where, wording.format(shown=shown(raw), **bounds))


def optional(
    read: Callable[Concatenate[Any, str, _P], _T],
    raw: Any,
    where: str,
    /,
    *args: _P.args,
    **kwargs: _P.kwargs,
) -> _T | None:
    """What `read` makes of `raw`, or None when the field is absent (`raw` is None)."""
    if raw is None:
        return None
    return read(raw, where, *args, **kwargs)


def required(
    read: Callable[Concatenate[Any, str, _P], _T],
    raw: Any,
    where: str,
    /,
    *args: _P.args,
    **kwargs: _P.kwargs,
) -> _T:
    """What `read` makes of `raw`; BadPayload `where: missing` when the field is absent."""
    if raw is None:
        raise bad(where, "missing")
    return read(raw, where, *args, **kwargs)


# -- whole payloads --------------------------------------------------------------------------


def json_value(payload: bytes, where: str, *, wording: str = "not valid JSON ({error})") -> Any:
    """The payload parsed as JSON; `{error}` in the wording is the parser's complaint."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise bad(where, wording.format(error=exc)) from exc


def utf8_text(payload: bytes, where: str, *, wording: str = "not UTF-8 text") -> str:
    """A plain-text payload, surrounding whitespace removed."""
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise bad(where, wording) from exc


# -- structure -------------------------------------------------------------------------------


def json_object(raw: Any, where: str, *, wording: str = "not an object") -> dict[str, Any]:
    """`raw` when it is a JSON object."""
    if not isinstance(raw, dict):
        raise _refused(where, wording, raw)
    return raw


def json_array(
    raw: Any,
    where: str,
    *,
    min_items: int = 0,
    max_items: int | None = None,
    wording: str = "not a list",
) -> list[Any]:
    """`raw` when it is a JSON array of `min_items` to `max_items` items (the wording is
    the same for a wrong type and a wrong length)."""
    if (
        not isinstance(raw, list)
        or len(raw) < min_items
        or (max_items is not None and len(raw) > max_items)
    ):
        raise _refused(where, wording, raw, min_items=min_items, max_items=max_items)
    return raw


def actuator(raw: Any, where: str, *, wording: str = "not an object") -> dict[str, Any]:
    """An actuator state: an object of at most MAX_ACTUATOR_KEYS keys with scalar (or
    null) values; `wording` is for a value that is no object."""
    obj = json_object(raw, where, wording=wording)
    if len(obj) > MAX_ACTUATOR_KEYS:
        raise bad(where, f"{len(obj)} keys, at most {MAX_ACTUATOR_KEYS} allowed")
    for key, value in obj.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise bad(at(where, key), f"{shown(value)} is not a scalar")
    return obj


# -- scalars ---------------------------------------------------------------------------------


def string(
    raw: Any,
    where: str,
    *,
    min_chars: int = 0,
    max_chars: int | None = None,
    wording: str = "not a string",
) -> str:
    """`raw` when it is a string of `min_chars` to `max_chars` characters (the wording is
    the same for a wrong type and a wrong length)."""
    if (
        not isinstance(raw, str)
        or len(raw) < min_chars
        or (max_chars is not None and len(raw) > max_chars)
    ):
        raise _refused(where, wording, raw, min_chars=min_chars, max_chars=max_chars)
    return raw


def boolean(raw: Any, where: str, *, wording: str = "not a boolean") -> bool:
    """`raw` when it is true or false (no 1/0, no "true")."""
    if not isinstance(raw, bool):
        raise _refused(where, wording, raw)
    return raw


def integer(
    raw: Any,
    where: str,
    *,
    low: int | None = None,
    high: int | None = None,
    wording: str = "not an integer",
) -> int:
    """`raw` when it is a JSON integer in [low, high] (booleans and 1.0 are no integers)."""
    if (
        isinstance(raw, bool)
        or not isinstance(raw, int)
        or (low is not None and raw < low)
        or (high is not None and raw > high)
    ):
        raise _refused(where, wording, raw, low=low, high=high)
    return raw


def number(raw: Any, where: str) -> float:
    """`raw` when it is a finite JSON number (no booleans, no numeric strings)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise bad(where, "not a number")
    value = float(raw)
    if not math.isfinite(value):
        raise bad(where, "not a finite number")
    return value


def maybe_reading(raw: Any) -> float | None:
    """What `reading` makes of `raw`, or None where it would refuse it."""
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        return float(raw) if math.isfinite(raw) else None
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if text.lower() in _TRUE_WORDS:
        return 1.0
    if text.lower() in _FALSE_WORDS:
        return 0.0
    try:
        parsed = float(text)
    except ValueError:
        return None
    return parsed if math.isfinite(parsed) else None


def reading(raw: Any, where: str) -> float:
    """A reading's value, read as devices write them: a finite number, a boolean (1/0), a
    numeric string, or on/true/open (1) and off/false/closed (0) in any case."""
    value = maybe_reading(raw)
    if value is not None:
        return value
    if isinstance(raw, int | float):
        raise bad(where, f"{raw!r} is not a finite number")
    if isinstance(raw, str):
        raise bad(where, f"{repr(raw)[:60]} is not a finite number")
    raise bad(where, f"{shown(raw)} is not a number")


def clean_name(*parts: str) -> str:
    """A device or sensor name from topic or payload parts: joined by '.', characters
    outside [A-Za-z0-9_.-] become '_', at most MAX_NAME_CHARS characters, starting
    alphanumeric. BadPayload (naming no field: the parts may come from a topic) when
    nothing usable is left."""
    name = _BAD_NAME_CHARS.sub("_", ".".join(p for p in parts if p)).lstrip("_.-")
    if not name:
        raise BadPayload(f"no usable name in {parts!r}")
    return name[:MAX_NAME_CHARS]


# -- timestamps ------------------------------------------------------------------------------


def epoch_ms(raw: Any, where: str, *, default: int | None = None) -> int:
    """Epoch milliseconds from a JSON number (a fraction is cut off); `default`, when
    given, for an absent one."""
    if raw is None and default is not None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise bad(where, f"{shown(raw)} is not epoch milliseconds")
    return int(raw)


def rfc3339_ms(text: str, where: str) -> int:
    """Epoch milliseconds of an RFC 3339 date-time with any number of fractional digits.

    Network servers write nanoseconds ("2024-05-01T10:11:12.123456789Z"); the fraction
    is truncated to milliseconds. Stricter than `iso8601_ms`, which also takes week
    dates, basic formats and fractions after a comma; every form needs a zone.
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise bad(where, f"{text[:64]!r} is not an RFC 3339 date-time")
    offset = timedelta(0)
    if m.group(9):
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        if offset >= timedelta(days=1) or int(m.group(11)) > 59:
            raise bad(where, f"{text[:64]!r} has no valid UTC offset")
        if m.group(9) == "-":
            offset = -offset
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    try:
        # Leap seconds (:60) are refused too; the Go and Rust clocks behind the LoRaWAN
        # network servers never write them.
        local = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise bad(where, f"{text[:64]!r} is not a valid date and time") from None
    fraction_ms = int(((m.group(7) or "") + "000")[:3])
    return (local - _EPOCH - offset) // _ONE_MS + fraction_ms


def iso8601_ms(text: str, where: str) -> int:
    """Epoch milliseconds of an ISO 8601 date-time in any form Python reads (extended or
    basic, calendar or week dates), which must carry a zone (Z or an offset); a fraction
    finer than milliseconds is truncated."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise bad(where, "not an ISO 8601 date-time") from None
    if dt.tzinfo is None:
        raise bad(where, "the date-time needs a time zone (Z or +hh:mm)")
    return (dt - _EPOCH) // _ONE_MS
