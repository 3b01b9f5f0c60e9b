"""One line of text per client message, for `farmbridge watch` and for logs."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from farmbridge.client.messages import (
    Change,
    Message,
    Resynced,
    ServerError,
    Snapshot,
    StateChanged,
    Unsubscribed,
)

_CHANGE_FRAME = frozenset({"farm", "seq", "kind", "sent_ms", "received_at_ms"})
"""Fields every change has, shown up front or not at all."""


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and not any(c.isspace() for c in value) else repr(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _pairs(**fields: Any) -> str:
    return " ".join(f"{key}={_value(value)}" for key, value in fields.items())


def describe(message: Message) -> str:
    """`kind farm=F seq=N field=value ... latency_ms=L` for a change, and alike for the rest.

    `latency_ms` runs from the bridge's commit to this client's receipt.
    """
    if isinstance(message, Change):
        fields = {
            f.name: getattr(message, f.name)
            for f in dataclasses.fields(message)
            if f.name not in _CHANGE_FRAME
        }
        head = _pairs(farm=message.farm, seq=message.seq, **fields)
        return f"{message.kind.value} {head} latency_ms={message.latency_ms}"
    if isinstance(message, Snapshot):
        counts = _pairs(devices=len(message.devices), sensors=len(message.sensors))
        return f"snapshot farm={message.farm} seq={message.seq} epoch={message.epoch} {counts}"
    if isinstance(message, StateChanged):
        return f"state {message.state.value}" + (f" ({message.detail})" if message.detail else "")
    if isinstance(message, Resynced):
        return f"resync {_pairs(farm=message.farm, reason=message.reason)}"
    if isinstance(message, Unsubscribed):
        return f"unsubscribed {_pairs(farm=message.farm, reason=message.reason)}"
    assert isinstance(message, ServerError)
    extra = {"farm": message.farm, "retry_after_ms": message.retry_after_ms}
    shown = {k: v for k, v in extra.items() if v is not None}
    return f"error {_pairs(code=str(message.code), message=message.message, **shown)}"
