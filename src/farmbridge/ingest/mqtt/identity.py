"""Message identities for MQTT messages whose convention carries no message id.

A QoS 1 message the bridge committed but had not yet acknowledged when it died is
delivered again by the broker on reconnect. The store absorbs it when the batch has a
message id (`(device, message_id)` is the key of ingest_messages); only the native
convention's payloads carry one. This module gives the others an identity, by rules
keyed by convention name:

- **From the payload** (`PAYLOAD_RULES`): a payload that carries the device's own time
  is one reading at that time. ThingsBoard's `{"ts": .., "values": {..}}` (an array of
  them, the gateway form's per-device arrays) and Tasmota's `Time` in `tele/<t>/SENSOR`
  or `tele/<t>/STATE`. The identity is that time plus a digest of topic and payload, so
  two different messages with one time (a device splitting its values over two messages
  of one `ts`) stay two; the same bytes with the same device time are the same reading,
  whoever sent them twice (the broker, or the device's own QoS 1 retry). Always deduped.
- **From the delivery** (every other message at QoS 1): a digest of topic, payload and
  the MQTT packet id, taken as a redelivery only when the broker says it is one. A broker
  re-sends an unacknowledged PUBLISH on session resumption with its original packet id
  and the DUP flag set (MQTT 3.1.1, 4.4 and 3.3.1.1); a first delivery has DUP clear. So
  a delivery without DUP is always stored (it replaces any older row of its id), and one
  with DUP is a duplicate only of a row of its id stored within `window_ms`. A real
  device sending the same value twice is two first deliveries with DUP clear: both
  stored, whatever the window. The residual risk is in docs/mqtt.md.
- QoS 0 is never redelivered: no identity.

Identities are pure functions of the message, so the bridge that comes back after a kill
derives the same one the dead bridge stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from farmbridge.ingest.mqtt.link import Delivery

REDELIVERY_WINDOW_S: Final = 600.0
"""How long after its commit a redelivery (DUP set, same packet id) is still recognised."""
DIGEST_HEX_CHARS: Final = 24
"""96 bits of SHA-256: a chance collision between two messages of one device is nil."""
TASMOTA_TIME_MAX_CHARS: Final = 32
PACKET_ID_PREFIX: Final = "p:"
"""Ids of the delivery rule: useless once older than the window, so pruned after it."""


@dataclass(frozen=True, slots=True)
class Identity:
    """A message id for an ingest batch and the window its stored row counts within."""

    message_id: str
    dedup_since_ms: int | None
    """Stored ids received before this (epoch ms) are other messages'; None: none are."""


PayloadRule = Callable[[str, Any], str | None]
"""(topic relative to the binding's prefix, decoded JSON payload) -> the device's own time
as text, or None when the payload carries none."""


def _thingsboard_time(topic: str, body: Any) -> str | None:
    """The `ts` of every record of a ThingsBoard telemetry payload (device or gateway
    form), joined; None when any record lacks one (its time would be the receive time)."""
    if topic.endswith("v1/gateway/telemetry"):
        if not isinstance(body, dict) or not body:
            return None
        parts = [_records_time(records) for records in body.values()]
        return None if any(p is None for p in parts) else ",".join(p for p in parts if p)
    if topic.endswith("/telemetry"):
        return _records_time(body)
    return None


def _records_time(body: Any) -> str | None:
    records = body if isinstance(body, list) else [body]
    stamps: list[str] = []
    for record in records:
        if not isinstance(record, dict) or "values" not in record:
            return None
        ts = record.get("ts")
        if isinstance(ts, bool) or not isinstance(ts, int):
            return None
        stamps.append(str(ts))
    return ",".join(stamps) if stamps else None


def _tasmota_time(topic: str, body: Any) -> str | None:
    """`Time` of a Tasmota `tele/<topic>/SENSOR` or `STATE` message."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "tele" or parts[2] not in ("SENSOR", "STATE"):
        return None
    if not isinstance(body, dict):
        return None
    time = body.get("Time")
    if not isinstance(time, str) or not time or len(time) > TASMOTA_TIME_MAX_CHARS:
        return None
    return time


PAYLOAD_RULES: Final[dict[str, PayloadRule]] = {
    "thingsboard": _thingsboard_time,
    "tasmota": _tasmota_time,
}
"""Conventions whose payloads can carry the device's own time, by convention name."""


def identify(
    convention: str,
    topic: str,
    delivery: Delivery,
    *,
    part: str,
    received_ms: int,
    window_ms: int,
) -> Identity | None:
    """The identity of one record a message mapped to, or None (QoS 0 without a device
    time: never redelivered, nothing to recognise).

    `topic` is relative to the binding's prefix (what the rule reads); the digest takes
    the full topic of `delivery`. `part` keeps records of one message apart by what they
    are (`record_key`), not by their position: a convention that learned its topics again
    after a restart may map one message's records in another order.
    """
    time = _payload_time(convention, topic, delivery.payload)
    if time is not None:
        digest = _digest(convention, delivery.topic, delivery.payload, part)
        return Identity(_bounded(f"t:{time}", digest), None)
    if not delivery.qos:
        return None
    digest = _digest(convention, delivery.topic, delivery.payload, str(delivery.mid), part)
    since = received_ms - window_ms if delivery.dup else received_ms + 1
    return Identity(f"{PACKET_ID_PREFIX}{digest}", since)


def record_key(device: str, sensors: list[str], has_status: bool) -> str:
    """What tells one record of a message from the others: its device and what it holds."""
    return "\x1f".join([device, *sorted(sensors), "status" if has_status else ""])


def _payload_time(convention: str, topic: str, payload: bytes) -> str | None:
    rule = PAYLOAD_RULES.get(convention)
    if rule is None:
        return None
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return rule(topic, body)


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        raw = p.encode() if isinstance(p, str) else p
        h.update(len(raw).to_bytes(8, "big"))
        h.update(raw)
    return h.hexdigest()[:DIGEST_HEX_CHARS]


def _bounded(head: str, tail: str) -> str:
    """`head:tail` within the store's 64 characters; a long head (a gateway's many
    timestamps) is cut, the digest in the tail still telling messages apart."""
    room = 64 - len(tail) - 1
    return f"{head[:room]}:{tail}"
