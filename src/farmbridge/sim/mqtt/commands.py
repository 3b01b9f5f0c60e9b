"""Commands as a simulated MQTT device reads them off the wire, and what running them came to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    """What running a command came to: whether it ran, and the detail its answer gives."""

    ok: bool
    detail: str
