"""The conventions' own wording over the field kit, and the parts of outgoing commands."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import orjson

from farmbridge.domain.errors import BadPayload
from farmbridge.ingest import fields
from farmbridge.ingest.fields import shown

# The wording the conventions' messages have always had (the bridge logs them).
_NOT_JSON: Final = "not JSON ({error})"
_NOT_OBJECT: Final = "expected a JSON object, got {shown}"


def json_of(payload: bytes, where: str) -> Any:
    """The payload parsed as JSON; BadPayload when it is not JSON."""
    return fields.json_value(payload, where, wording=_NOT_JSON)


def object_of(raw: Any, where: str) -> dict[str, Any]:
    """`raw` when it is a JSON object; BadPayload else."""
    return fields.json_object(raw, where, wording=_NOT_OBJECT)


def actuator_of(raw: Any, where: str) -> dict[str, Any]:
    """An actuator dict (see fields.actuator), as the HTTP ingest body allows."""
    return fields.actuator(raw, where, wording=_NOT_OBJECT)


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
        raise fields.bad(where, f"cannot encode as JSON ({exc})") from exc


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
