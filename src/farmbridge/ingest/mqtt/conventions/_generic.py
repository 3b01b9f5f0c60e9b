"""The dashboard's generic commands (`on`, `off`, `toggle`, `set`), read once for every convention.

A generic command says what to do, not how a device is addressed; each convention's
`command()` translates it into its own topics and payloads, and an action it cannot
express fails at once with the reason. Other actions are the convention's own
(`POWER` for Tasmota, `node.property` for Homie...) and pass through as before.

Params: `on`, `off` and `toggle` take an optional `target` (which relay, entity or
property, when a device has several); `set` takes exactly one of `position` (0-100),
`value` (a finite number) or `power` (`on`/`off`, or a boolean), and an optional `target`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

from farmbridge.domain.errors import BadPayload
from farmbridge.ingest.fields import bad, shown
from farmbridge.ingest.mqtt.conventions.base import OutgoingCommand

GENERIC_ACTIONS: Final = frozenset({"on", "off", "toggle", "set"})
MAX_POSITION: Final = 100
_SET_KEYS: Final = ("position", "value", "power")


@dataclass(frozen=True, slots=True)
class Generic:
    """A generic command: switch power (`on` None for toggle), or set a position or value."""

    kind: Literal["power", "position", "value"]
    on: bool | None = None
    level: float = 0.0
    target: str | None = None


def generic(cmd: OutgoingCommand) -> Generic | None:
    """The generic command `cmd` is, or None for a convention's own action; BadPayload for
    a generic action with params it cannot have."""
    if cmd.action not in GENERIC_ACTIONS:
        return None
    params = dict(cmd.params)
    raw_target = params.pop("target", None)
    if raw_target is not None and not isinstance(raw_target, str | int):
        raise bad("params.target", f"{shown(raw_target)} is not an entity name or number")
    if isinstance(raw_target, bool):
        raise bad("params.target", f"{shown(raw_target)} is not an entity name or number")
    target = None if raw_target is None else str(raw_target)
    if cmd.action != "set":
        if params:
            raise BadPayload(f"{cmd.action!r} takes no params but target, got {sorted(params)}")
        on = None if cmd.action == "toggle" else cmd.action == "on"
        return Generic("power", on=on, target=target)
    given = [k for k in _SET_KEYS if k in params]
    extra = sorted(params.keys() - set(_SET_KEYS))
    if len(given) != 1 or extra:
        raise BadPayload("'set' takes exactly one of params.position, params.value, params.power")
    key = given[0]
    raw = params[key]
    if key == "power":
        return Generic("power", on=_power(raw), target=target)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise bad(f"params.{key}", f"{shown(raw)} is not a finite number")
    if key == "position" and not 0 <= raw <= MAX_POSITION:
        raise bad("params.position", f"{shown(raw)} is not 0 to {MAX_POSITION}")
    return Generic("position" if key == "position" else "value", level=float(raw), target=target)


def _power(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.casefold() in ("on", "off"):
        return raw.casefold() == "on"
    raise bad("params.power", f"{shown(raw)} is not on or off")


def unsupported(convention: str, g: Generic, why: str) -> BadPayload:
    """The failure of a generic command a convention cannot translate for this device."""
    what = "toggle" if g.kind == "power" and g.on is None else g.kind
    return BadPayload(f"{convention} cannot send a generic {what} command here: {why}")


def pick(candidates: list[str], target: str | None, what: str, device: str) -> str:
    """The one entity a generic command is for: `target` when given (it must be one of
    `candidates`), else the device's only candidate; BadPayload naming the choice else."""
    if target is not None:
        if target not in candidates:
            known = ", ".join(candidates) or "none"
            raise BadPayload(f"{device!r} has no {what} {target!r} (known: {known})")
        return target
    if not candidates:
        raise BadPayload(f"{device!r} has reported no {what} yet")
    if len(candidates) > 1:
        raise BadPayload(
            f"{device!r} has several {what}s ({', '.join(candidates)}): name one in params.target"
        )
    return candidates[0]


def number_text(level: float) -> str:
    """A level as a device takes it: integral values without '.0'."""
    return str(int(level)) if level.is_integer() else str(level)


class Remembered:
    """What a convention translated each generic command into, until its reply comes: its
    completion compares the reply with that, not with a second translation (the device's
    entities may have changed since). Bounded: the oldest go first."""

    MAX_COMMANDS: Final = 1_000

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[str, str]] = {}

    def keep(self, command_id: int, key: str, text: str) -> None:
        self._by_id[command_id] = (key, text)
        while len(self._by_id) > self.MAX_COMMANDS:
            del self._by_id[next(iter(self._by_id))]

    def get(self, command_id: int) -> tuple[str, str] | None:
        return self._by_id.get(command_id)

    def forget(self, command_id: int) -> None:
        self._by_id.pop(command_id, None)
