"""The subset of Home Assistant value templates the hass convention evaluates, without Jinja.

`{{ value }}` or `{{ value_json.a['b'][0] }}`, then any of `| float`, `| int`,
`| round(N)`. What devices put in discovery configs is nearly always this; anything
else is refused when the config arrives, not guessed at when values do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from farmbridge.domain.errors import BadPayload
from farmbridge.ingest.fields import shown

MAX_TEMPLATE_CHARS: Final = 200
_OUTER: Final = re.compile(r"\s*\{\{(?P<expr>.*)\}\}\s*", re.DOTALL)
_BASE: Final = re.compile(r"\s*(?P<base>value_json|value)\b")
_STEP: Final = re.compile(
    r"""\.(?P<attr>[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|\[\s*(?:'(?P<single>[^'\\]*)'|"(?P<double>[^"\\]*)"|(?P<index>[0-9]+))\s*\]"""
)
_FILTER: Final = re.compile(r"\s*\|\s*(?:(?P<name>float|int)\b|round\(\s*(?P<digits>[0-9]+)\s*\))")
_TRAILING: Final = re.compile(r"\s*")


@dataclass(frozen=True, slots=True)
class ValueTemplate:
    """A parsed template: where in the payload the value is, and the filters after."""

    source: str
    json: bool
    path: tuple[str | int, ...]
    filters: tuple[tuple[str, int], ...]  # ("float", 0), ("int", 0), ("round", digits)

    def render(self, text: str, document: Callable[[], Any]) -> Any:
        """The value for one message: `text` is the payload, `document()` its JSON (parsed
        once per message, however many entities read it). Raises BadPayload."""
        result: Any = text
        if self.json:
            result = document()
            for step in self.path:
                result = _step(result, step, self.source)
        for name, digits in self.filters:
            result = _filter(result, name, digits, self.source)
        return result


PLAIN: Final = ValueTemplate("{{ value }}", json=False, path=(), filters=())


def parse(source: str) -> ValueTemplate:
    """Parses a value template; BadPayload naming it when it is outside the subset."""
    unsupported = BadPayload(
        f"unsupported value template {shown(source)}: only {{{{ value }}}} or"
        " {{ value_json.key['key'] }} with | float, | int or | round(N)"
    )
    outer = _OUTER.fullmatch(source) if len(source) <= MAX_TEMPLATE_CHARS else None
    base = _BASE.match(outer["expr"]) if outer else None
    if outer is None or base is None:
        raise unsupported
    expr, pos = outer["expr"], base.end()
    path: list[str | int] = []
    while base["base"] == "value_json" and (step := _STEP.match(expr, pos)):
        if step["index"] is not None:
            path.append(int(step["index"]))
        else:
            path.append(step["attr"] or step["single"] or step["double"] or "")
        pos = step.end()
    filters: list[tuple[str, int]] = []
    while flt := _FILTER.match(expr, pos):
        if flt["name"]:
            filters.append((flt["name"], 0))
        else:
            filters.append(("round", int(flt["digits"])))
        pos = flt.end()
    trailing = _TRAILING.match(expr, pos)
    if trailing is None or trailing.end() != len(expr):
        raise unsupported
    return ValueTemplate(source, base["base"] == "value_json", tuple(path), tuple(filters))


def _step(current: Any, step: str | int, source: str) -> Any:
    if isinstance(step, int):
        if isinstance(current, list) and step < len(current):
            return current[step]
    elif isinstance(current, dict) and step in current:
        return current[step]
    raise BadPayload(f"template {shown(source)}: the payload has no [{step!r}] there")


def _filter(value: Any, name: str, digits: int, source: str) -> Any:
    # HA's float, int and round fail without a default rather than render 0; so do we.
    if isinstance(value, bool | int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
    else:
        number = math.nan
    if not math.isfinite(number):
        raise BadPayload(f"template {shown(source)}: {shown(value)} is not a finite number")
    if name == "float":
        return number
    if name == "int":
        return int(number)
    return round(number, digits)
