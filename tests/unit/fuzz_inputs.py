"""Hypothesis strategies for untrusted input (JSON values, mutated samples, raw frames) and
the fuzz profiles: `ci` (the default, small and derandomized) and `long` (by hand).

Pick the long run with `HYPOTHESIS_PROFILE=long` (see docs/reliability.md).
"""

from __future__ import annotations

import copy
import json
import math
import os
from typing import Any, Final

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

CI_EXAMPLES: Final = 40
LONG_EXAMPLES: Final = 2_000
# Small values shrink fast and keep the CI run short; the long profile draws more of them.
MAX_JSON_LEAVES: Final = 12

settings.register_profile(
    "ci",
    max_examples=CI_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=LONG_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Words the decoders look for, so generated objects reach past the first key check.
KEYS: Final = (
    "type", "id", "token", "farm", "topics", "since", "epoch", "mode", "t", "protocol",
    "sensor", "value", "ts", "readings", "status", "events", "state", "actuator", "level",
    "code", "message", "message_id", "unit", "name", "time", "Time", "POWER", "result",
    "ok", "detail", "params", "action", "command_id", "device", "values", "temperature",
    "deviceInfo", "devEui", "deviceName", "object", "rxInfo", "fCnt", "batteryLevel",
)  # fmt: skip

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["on", "OFF", "1e400", "NaN", "-inf", "2024-05-01T10:11:12Z", "ONLINE"])
)


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value, small, with object keys biased to the words decoders read."""
    return st.recursive(
        _scalars,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)
        ),
        max_leaves=MAX_JSON_LEAVES,
    )


def dumps(value: Any) -> bytes:
    """JSON text of `value`; stdlib json, as orjson refuses integers beyond 64 bits."""
    return json.dumps(value).encode()


def json_bytes() -> st.SearchStrategy[bytes]:
    """A JSON document, or raw bytes (mostly not JSON), or JSON with a non-finite number."""
    return (
        json_values().map(dumps)
        | st.binary(max_size=64)
        | st.sampled_from([b"NaN", b"[1e400]", b'{"value": Infinity}', b"\xff\xfe", b""])
    )


def paths(obj: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path into a JSON value (the root included)."""
    found = [prefix]
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            found += paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, sample: Any, rounds: int = 3) -> Any:
    """`sample` with up to `rounds` of its values replaced by any JSON value, or deleted."""
    obj = copy.deepcopy(sample)
    for _ in range(draw(st.integers(min_value=1, max_value=rounds))):
        where = draw(st.sampled_from(paths(obj)))
        if not where:
            obj = draw(json_values())
            continue
        parent = obj
        try:
            for step in where[:-1]:
                parent = parent[step]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier round replaced part of the path
        last = where[-1]
        if isinstance(parent, dict) and draw(st.booleans()) and draw(st.booleans()):
            parent.pop(last, None)
        elif isinstance(parent, dict | list):
            try:
                parent[last] = draw(json_values())  # type: ignore[index]
            except (IndexError, TypeError):
                continue
    return obj


def finite(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value)
