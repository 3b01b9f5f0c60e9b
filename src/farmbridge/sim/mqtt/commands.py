"""What simulated devices and their dialects pass around: state, events, commands, outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

State = Mapping[str, str | int | float | bool | None]
"""A device's actuator state as the model reports it: `{"power": "on"}`, `{"position": 40}`."""


@dataclass(frozen=True, slots=True)
class SimEvent:
    """A model event as its device reports it, at wall-clock epoch milliseconds."""

    level: str
    code: str
    message: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Request:
    """A command as a simulated device read it off the wire.

    `action` and `params` are a Greenhouse action (see `Greenhouse.apply`); no action and
    no error is a query, answered with the current state. `error` says why the device
    will not run it. `id` is the command id the answer must name (native, ThingsBoard),
    which also tells a redelivered command; `target` is the convention's name for what
    was commanded (a Tasmota command, an ESPHome entity, a Homie property).
    """

    target: str
    action: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    detail: str
