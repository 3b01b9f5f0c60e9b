"""Server messages decoded into the client's records (pure, no I/O).

Decoding tolerates additions (docs/protocol.md, Versioning): unknown keys are ignored and
the compact change arrays may grow at the end. A message that breaks the contract raises
`MalformedMessage`.
"""

from __future__ import annotations

from typing import Any

import orjson

from farmbridge.client.messages import (
    Change,
    CommandChange,
    EventChange,
    ReadingChange,
    ServerError,
    Snapshot,
    SnapshotDevice,
    SnapshotSensor,
    StatusChange,
)
from farmbridge.protocol.const import ErrorCode


class MalformedMessage(ValueError):
    """A server message this client cannot read: not JSON, or a field missing or mistyped."""


def frame_messages(raw: bytes | str) -> list[dict[str, Any]]:
    """The messages of one frame: a JSON object, or a JSON array of them."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedMessage(f"frame is not JSON: {exc}") from exc
    items = obj if isinstance(obj, list) else [obj]
    if not all(isinstance(item, dict) for item in items):
        raise MalformedMessage("a frame holds an object or an array of objects")
    return items


def batch_changes(msg: dict[str, Any], *, received_at_ms: int) -> list[Change]:
    """Every change of a `batch`, with absolute times, sorted by `seq`."""
    try:
        farm = int(msg["farm"])
        t0 = int(msg["t0"])
        sent = int(msg.get("sent") or 0)
        common: dict[str, Any] = {"farm": farm, "sent_ms": sent, "received_at_ms": received_at_ms}
        changes: list[Change] = []
        for seq, sensor_id, value, dts, dstored, *_ in msg.get("r") or ():
            changes.append(
                ReadingChange(
                    **common,
                    seq=seq,
                    sensor_id=sensor_id,
                    value=float(value),
                    ts_ms=t0 + dts,
                    stored_ms=t0 + dstored,
                )
            )
        for seq, device_id, state, actuator, dts, dstored, *_ in msg.get("s") or ():
            changes.append(
                StatusChange(
                    **common,
                    seq=seq,
                    device_id=device_id,
                    state=state,
                    actuator=actuator or {},
                    ts_ms=t0 + dts,
                    stored_ms=t0 + dstored,
                )
            )
        for seq, device_id, level, code, text, dts, dstored, *_ in msg.get("e") or ():
            changes.append(
                EventChange(
                    **common,
                    seq=seq,
                    device_id=device_id,
                    level=level,
                    code=code,
                    message=text,
                    ts_ms=t0 + dts,
                    stored_ms=t0 + dstored,
                )
            )
        for seq, command_id, device_id, state, action, detail, dat, *_ in msg.get("c") or ():
            changes.append(
                CommandChange(
                    **common,
                    seq=seq,
                    command_id=command_id,
                    device_id=device_id,
                    state=state,
                    action=action,
                    detail=detail,
                    ts_ms=t0 + dat,
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedMessage(f"bad batch: {exc!r}") from exc
    changes.sort(key=lambda c: c.seq)
    return changes


def snapshot(msg: dict[str, Any]) -> Snapshot:
    """The `snapshot` of a `subscribed` message (which must hold one)."""
    try:
        body = msg["snapshot"]
        devices = tuple(
            SnapshotDevice(
                id=d["id"],
                name=d["name"],
                kind=d["kind"],
                title=d.get("title", ""),
                state=d["state"],
                actuator=d.get("actuator") or {},
                status_ts_ms=d.get("status_ts") or 0,
                last_seen_ms=d.get("last_seen"),
            )
            for d in body.get("devices") or ()
        )
        sensors = tuple(
            SnapshotSensor(
                id=s["id"],
                device_id=s["device"],
                name=s["name"],
                unit=s.get("unit", ""),
                min=s.get("min"),
                max=s.get("max"),
                value=s.get("value"),
                ts_ms=s.get("ts"),
                seq=s.get("seq"),
            )
            for s in body.get("sensors") or ()
        )
        return Snapshot(
            farm=int(msg["farm"]),
            seq=int(body["seq"]),
            epoch=str(msg["epoch"]),
            devices=devices,
            sensors=sensors,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedMessage(f"bad snapshot: {exc!r}") from exc


def server_error(msg: dict[str, Any], *, farm: int | None = None) -> ServerError:
    """An `error` message; a code this client does not know stays a plain string."""
    raw = str(msg.get("code", ""))
    try:
        code: ErrorCode | str = ErrorCode(raw)
    except ValueError:
        code = raw
    retry = msg.get("retry_after_ms")
    return ServerError(
        code=code,
        message=str(msg.get("message", "")),
        farm=farm,
        retry_after_ms=int(retry) if isinstance(retry, int | float) else None,
    )


def retry_after_ms(close_reason: str) -> int | None:
    """N from a close reason `retry_after_ms=N` (close 1013), else None."""
    key, sep, value = close_reason.partition("=")
    if sep and key.strip() == "retry_after_ms":
        try:
            return max(int(value.strip()), 0)
        except ValueError:
            return None
    return None
