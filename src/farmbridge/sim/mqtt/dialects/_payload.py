"""Payload parts every dialect writes and reads: JSON, numbers as text, switch words, local time."""

from __future__ import annotations

import time
from typing import Any

import orjson

from farmbridge.sim.devices import State


def json_bytes(value: Any) -> bytes:
    return orjson.dumps(value)


def number_text(value: float) -> str:
    return str(round(value, 2))


def is_on(state: State) -> bool:
    return state.get("power") == "on"


def target_position(state: State) -> int:
    value = state.get("position")
    return int(value) if isinstance(value, int | float) else 0


def switch_action(actuator: str, text: str, state: State) -> str | None:
    """The model action for ON/OFF/TOGGLE (any case) sent to an actuator's switch; the vent
    switch opens and closes it."""
    word = text.strip().upper()
    if word not in ("ON", "OFF", "TOGGLE"):
        return None
    if actuator == "vent":
        on = word == "ON" or (word == "TOGGLE" and target_position(state) == 0)
        return "open" if on else "close"
    return word.lower()


def json_object(payload: bytes) -> dict[str, Any] | None:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def local_time(now_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now_ms / 1000))
