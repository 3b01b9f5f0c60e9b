"""Messages the server sends, encoded to JSON text; data changes in the compact batch form.

A batch is encoded once per farm (and topic set) and shared by every subscriber; each
send appends its own `sent` time to the shared prefix (see `sent_tail`). Server times
(`server_time`, `t`, `sent`) come in as arguments, read from the caller's clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from farmbridge.domain import (
    Alarm,
    AlarmUpdate,
    Change,
    CommandUpdate,
    Device,
    DeviceRemoved,
    Event,
    Reading,
    Sensor,
    StatusRecord,
)
from farmbridge.domain.alarms import alarm_json
from farmbridge.domain.live_window import Slot
from farmbridge.domain.liveness import LivenessPolicy
from farmbridge.protocol.const import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    ErrorCode,
    Mode,
    ResyncReason,
    Topic,
    UnsubscribeReason,
)

TOPIC_KEYS = {
    Topic.READINGS: "r",
    Topic.DEVICE_STATUS: "s",
    Topic.EVENTS: "e",
    Topic.COMMANDS: "c",
    Topic.ALARMS: "a",
    Topic.DEVICE_REMOVALS: "x",
}


def encode(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def topic_of(change: Change) -> Topic:
    if isinstance(change, Reading):
        return Topic.READINGS
    if isinstance(change, StatusRecord):
        return Topic.DEVICE_STATUS
    if isinstance(change, Event):
        return Topic.EVENTS
    if isinstance(change, AlarmUpdate):
        return Topic.ALARMS
    if isinstance(change, DeviceRemoved):
        return Topic.DEVICE_REMOVALS
    return Topic.COMMANDS


def compact(change: Change, t0: int) -> list[Any] | dict[str, Any]:
    """One change as an array; times are milliseconds relative to the batch's `t0`.

    An alarm change is the alarm object itself (docs/protocol.md, Alarms): absolute times,
    `seq` the seq of this change.
    """
    if isinstance(change, AlarmUpdate):
        return alarm_json(change.alarm)
    if isinstance(change, Reading):
        return [
            change.seq,
            change.sensor_id,
            change.value,
            change.ts_ms - t0,
            change.received_ms - t0,
        ]
    if isinstance(change, StatusRecord):
        st = change.status
        return [
            st.seq,
            change.device_id,
            st.state.value,
            st.actuator,
            st.ts_ms - t0,
            change.received_ms - t0,
        ]
    if isinstance(change, Event):
        return [
            change.seq,
            change.device_id,
            change.level.value,
            change.code,
            change.message,
            change.ts_ms - t0,
            change.received_ms - t0,
        ]
    if isinstance(change, DeviceRemoved):
        return [change.seq, change.device_id, change.ts_ms - t0]
    assert isinstance(change, CommandUpdate)
    return [
        change.seq,
        change.command_id,
        change.device_id,
        change.state.value,
        change.action,
        change.detail,
        change.ts_ms - t0,
    ]


def batch_prefix(farm_id: int, changes: Sequence[Change], topics: frozenset[Topic]) -> str | None:
    """The batch of `changes` a subscriber to `topics` gets, without its closing `sent` field.

    Returns None when no change is of those topics.
    """
    groups: dict[str, list[list[Any] | dict[str, Any]]] = {}
    t0 = 0
    for ch in changes:
        topic = topic_of(ch)
        if topic not in topics:
            continue
        if not t0:
            t0 = stored_ms(ch)
        groups.setdefault(TOPIC_KEYS[topic], []).append(compact(ch, t0))
    if not groups:
        return None
    body = {"type": "batch", "farm": farm_id, "t0": t0, **groups}
    return orjson.dumps(body)[:-1].decode()


def sent_tail(sent_ms: int) -> str:
    """Closes a shared batch prefix with this send's own time."""
    return f',"sent":{sent_ms}}}'


def stored_ms(ch: Change) -> int:
    """When the bridge stored a change (a command update: when its state changed; a
    removal: when the device was deleted)."""
    if isinstance(ch, CommandUpdate | DeviceRemoved):
        return ch.ts_ms
    return ch.received_ms


def welcome(
    connection_id: str,
    *,
    server_time_ms: int,
    heartbeat_s: float,
    max_frame_bytes: int = MAX_FRAME_BYTES,
) -> str:
    return encode(
        {
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "server_time": server_time_ms,
            "heartbeat_s": heartbeat_s,
            "max_frame_bytes": max_frame_bytes,
            "connection": connection_id,
        }
    )


def authenticated(ref: int | str | None, username: str, expires_at: int) -> str:
    return encode({"type": "authenticated", "id": ref, "user": username, "expires_at": expires_at})


def snapshot_body(
    seq: int,
    devices: Iterable[Device],
    sensors: Iterable[Sensor],
    alarms: Iterable[Alarm] | None = None,
    *,
    liveness: LivenessPolicy | None = None,
) -> dict[str, Any]:
    """The farm's state; `alarms` (its open alarms) only for subscribers of that topic;
    `liveness` gives each device's `offline_after_s` (the default policy if None)."""
    policy = liveness or LivenessPolicy()
    body = {
        "seq": seq,
        "devices": [
            {
                "id": d.id,
                "name": d.name,
                "kind": d.kind.value,
                "title": d.title,
                "state": d.status.state.value,
                "actuator": d.status.actuator,
                "status_ts": d.status.ts_ms,
                "last_seen": d.last_seen_ms,
                "interval_s": d.interval_s,
                "offline_after_s": policy.offline_after_s(d.interval_s),
                "zone": d.zone,
                "confirm_commands": d.confirm_commands,
            }
            for d in devices
        ],
        "sensors": [
            {
                "id": s.id,
                "device": s.device_id,
                "name": s.name,
                "unit": s.unit,
                "min": s.min_value,
                "max": s.max_value,
                "value": s.last_value,
                "ts": s.last_ts_ms,
                "seq": s.last_seq,
            }
            for s in sensors
        ],
    }
    if alarms is not None:
        body["alarms"] = [alarm_json(a) for a in alarms]
    return body


def subscribed(
    ref: int | str | None,
    farm_id: int,
    epoch: str,
    seq: int,
    topics: frozenset[Topic],
    mode: Mode,
    *,
    snapshot_json: str | None = None,
    resume_from: int | None = None,
) -> str:
    """`snapshot_json` is spliced in as is: one encoding serves every subscriber of a farm."""
    head: dict[str, Any] = {
        "type": "subscribed",
        "id": ref,
        "farm": farm_id,
        "epoch": epoch,
        "seq": seq,
        "topics": sorted(t.value for t in topics),
        "mode": mode.value,
    }
    if resume_from is not None:
        head["resume"] = {"from": resume_from, "to": seq}
    text = encode(head)
    if snapshot_json is not None:
        text = text[:-1] + ',"snapshot":' + snapshot_json + "}"
    return text


def unsubscribed(ref: int | str | None, farm_id: int, reason: UnsubscribeReason) -> str:
    return encode({"type": "unsubscribed", "id": ref, "farm": farm_id, "reason": reason.value})


def resync_required(farm_id: int, reason: ResyncReason, seq: int, epoch: str) -> str:
    return encode(
        {
            "type": "resync_required",
            "farm": farm_id,
            "reason": reason.value,
            "seq": seq,
            "epoch": epoch,
        }
    )


def error(code: ErrorCode, message: str, ref: int | str | None = None, **extra: Any) -> str:
    return encode({"type": "error", "code": code.value, "message": message, "id": ref, **extra})


def ping(t_ms: int) -> str:
    return encode({"type": "ping", "t": t_ms})


def pong(ref: int | str | None, t_ms: int) -> str:
    return encode({"type": "pong", "id": ref, "t": t_ms})


def stats_slot(slot: Slot) -> dict[str, Any]:
    """One closed slot of the live figures (docs/protocol.md, Live figures)."""
    return {
        "t": slot.t_ms,
        "s": slot.seconds,
        "connections": slot.connections,
        "connects": slot.connects,
        "disconnects": slot.disconnects,
        "resumes": slot.resumes,
        "slow": slot.slow,
        "frames": slot.frames,
        "p50": slot.p50_ms,
        "p99": slot.p99_ms,
    }


def stats(
    ref: int | str | None,
    *,
    instance: str,
    slot_s: float,
    window_s: float,
    connections: int,
    farms: dict[int, int],
    slots: Iterable[Slot],
) -> str:
    """This instance's live figures: the connections open now (`farms`: per farm, its
    subscribers) and closed slots, oldest first."""
    return encode(
        {
            "type": "stats",
            "id": ref,
            "instance": instance,
            "slot_s": slot_s,
            "window_s": window_s,
            "connections": connections,
            "farms": {str(f): n for f, n in farms.items()},
            "slots": [stats_slot(s) for s in slots],
        }
    )


def stats_unsubscribed(ref: int | str | None, reason: UnsubscribeReason) -> str:
    return encode({"type": "stats_unsubscribed", "id": ref, "reason": reason.value})
