"""What the store can hold: the range of ids and integers, and the shape of free-form JSON.

Every edge checks its input against these before it reaches the store, so a value the
database cannot bind (an integer beyond 64 bits, JSON nested without end, NaN) is refused
with a clear answer instead of failing inside the driver. `PathId` is the id in a URL path
(out of range: nothing is there, NotFound); `Id` and `Int64` are ids and integers in a query
or body (out of range: ValidationFailed, 422 over HTTP).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Final

from annotated_types import Interval
from pydantic import BeforeValidator, Field

from farmbridge.domain.errors import NotFound, ValidationFailed

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
ID_MIN: Final = 1
ID_MAX: Final = INT64_MAX
JSON_MAX_DEPTH: Final = 32
"""Nesting of objects and arrays in free-form JSON (command params); the top level is 1."""


def _id_in_path(value: Any) -> Any:
    """An id in a path that no row can have (0, negative, beyond 64 bits) names nothing."""
    number = value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        try:
            number = int(value)
        except ValueError:  # more digits than Python parses: beyond 64 bits all the same
            raise NotFound("not found") from None
    if isinstance(number, int) and not isinstance(number, bool) and not ID_MIN <= number <= ID_MAX:
        raise NotFound("not found")
    return value


PathId = Annotated[
    int, BeforeValidator(_id_in_path), Field(json_schema_extra={"minimum": 1, "maximum": ID_MAX})
]
"""An id in a URL path: an integer in 1..2**63-1; any other integer answers NotFound."""

Id = Annotated[int, Interval(ge=ID_MIN, le=ID_MAX)]
"""An id in a query or body: an integer in 1..2**63-1, else a validation error."""

Int64 = Annotated[int, Interval(ge=INT64_MIN, le=INT64_MAX)]
"""An integer in a query or body that the store keeps as a signed 64-bit integer."""


def check_json(value: Any, *, field: str, max_depth: int = JSON_MAX_DEPTH) -> None:
    """Checks free-form JSON the store will keep: nested at most `max_depth` levels,
    integers within 64 bits, numbers finite (NaN, Infinity and 1e400 have no JSON form).

    Raises:
        ValidationFailed: naming the path of the first value at fault (`params.a[2]`).
    """
    stack: list[tuple[Any, str, int]] = [(value, field, 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        if isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise ValidationFailed(f"{path}: integer beyond 64 bits", field=path)
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ValidationFailed(f"{path}: number is not finite", field=path)
            continue
        if depth > max_depth:
            raise ValidationFailed(f"{path}: nested deeper than {max_depth} levels", field=path)
        if isinstance(item, Mapping):
            stack.extend((v, f"{path}.{k}", depth + 1) for k, v in item.items())
        elif isinstance(item, list | tuple):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item))
        else:
            raise ValidationFailed(f"{path}: not a JSON value", field=path)
