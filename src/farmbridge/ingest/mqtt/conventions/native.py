"""The native convention: farmbridge's own `{farm}/{device}/...` topics and JSON bodies."""

from __future__ import annotations

from typing import Any, ClassVar, Final

from farmbridge.domain import DeviceState, EventLevel
from farmbridge.domain.errors import BadPayload
from farmbridge.domain.mqtt import Publish
from farmbridge.domain.reports import (
    CommandReply,
    Data,
    DeviceRef,
    DeviceReport,
    ReportedEvent,
    ReportedReading,
    ReportedStatus,
)
from farmbridge.ingest.fields import (
    at,
    bad,
    boolean,
    clean_name,
    epoch_ms,
    integer,
    optional,
    reading,
    shown,
    string,
)
from farmbridge.ingest.mqtt.conventions._payload import (
    actuator_of,
    dumps,
    json_of,
    object_of,
    segment,
)
from farmbridge.ingest.mqtt.conventions.base import Mapped, OutgoingCommand

MAX_MESSAGE_ID_CHARS: Final = 64
MAX_EVENT_CODE_CHARS: Final = 64
MAX_EVENT_MESSAGE_CHARS: Final = 2_000

# Keys of the telemetry envelope; in the short form every other key is a sensor.
_ENVELOPE_KEYS: Final = frozenset({"message_id", "ts", "readings"})
_STATUS_KEYS: Final = frozenset({"state", "actuator", "ts"})
_EVENT_KEYS: Final = frozenset({"level", "code", "message", "ts"})
_ACK_KEYS: Final = frozenset({"id", "ok", "detail"})
_STATES: Final = frozenset(s.value for s in DeviceState)
_LEVELS: Final = frozenset(level.value for level in EventLevel)


class NativeConvention:
    """`{farm}/{device}/telemetry|status|events` in, `{farm}/{device}/commands` out, acks
    on `{farm}/{device}/commands/ack` naming the command."""

    name: ClassVar[str] = "native"

    def filters(self) -> list[str]:
        return ["+/+/telemetry", "+/+/status", "+/+/events", "+/+/commands/ack"]

    def map(self, topic: str, payload: bytes, now_ms: int) -> list[Mapped]:
        parts = topic.split("/")
        if len(parts) == 3 and parts[2] in ("telemetry", "status", "events"):
            kind = parts[2]
        elif len(parts) == 4 and parts[2:] == ["commands", "ack"]:
            kind = "ack"
        else:
            return []
        device = DeviceRef(name=clean_name(parts[1]), farm=clean_name(parts[0]))
        body = json_of(payload, kind)
        if kind == "telemetry":
            return [Data(device, _telemetry(body, now_ms))]
        if kind == "status":
            return [Data(device, DeviceReport(status=_status(body, now_ms)))]
        if kind == "events":
            return [Data(device, DeviceReport(events=_events(body, now_ms)))]
        return [_ack(device, body)]

    def command(self, device: DeviceRef, cmd: OutgoingCommand) -> list[Publish]:
        farm = segment(device.farm, "device's farm")
        name = segment(device.name, "device's name")
        body = {
            "id": cmd.id,
            "action": cmd.action,
            "params": cmd.params,
            "expires": cmd.expires_ms,
        }
        return [Publish(f"{farm}/{name}/commands", dumps(body, "command"))]

    def completes(self, cmd: OutgoingCommand, reply: CommandReply) -> bool:
        # Acks carry the command id; a reply without one never comes from this convention.
        return False


def _only(obj: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    # Our own format is strict: a misspelt key ("sate") is an error, not silently dropped.
    extra = obj.keys() - allowed
    if extra:
        raise bad(where, f"unexpected keys {sorted(extra)[:5]}")


def _telemetry(body: Any, now_ms: int) -> DeviceReport:
    obj = object_of(body, "telemetry")
    ts = epoch_ms(obj.get("ts"), "telemetry.ts", default=now_ms)
    message_id = optional(
        string,
        obj.get("message_id"),
        "telemetry.message_id",
        min_chars=1,
        max_chars=MAX_MESSAGE_ID_CHARS,
        wording="expected {min_chars} to {max_chars} characters, got {shown}",
    )
    if "readings" in obj:
        _only(obj, _ENVELOPE_KEYS, "telemetry")
        values = object_of(obj["readings"], "telemetry.readings")
    else:
        values = {k: v for k, v in obj.items() if k not in _ENVELOPE_KEYS}
    if not values:
        raise BadPayload("telemetry holds no readings")
    readings = [
        ReportedReading(clean_name(sensor), reading(raw, at("telemetry", sensor)), ts)
        for sensor, raw in values.items()
    ]
    return DeviceReport(readings=readings, message_id=message_id)


def _status(body: Any, now_ms: int) -> ReportedStatus:
    obj = object_of(body, "status")
    _only(obj, _STATUS_KEYS, "status")
    state = obj.get("state")
    if not isinstance(state, str) or state not in _STATES:
        raise bad("status.state", f"{shown(state)} is not one of {sorted(_STATES)}")
    actuator = actuator_of(obj.get("actuator", {}), "status.actuator")
    ts = epoch_ms(obj.get("ts"), "status.ts", default=now_ms)
    return ReportedStatus(DeviceState(state), actuator, ts)


def _events(body: Any, now_ms: int) -> list[ReportedEvent]:
    items = body if isinstance(body, list) else [body]
    if not items:
        raise bad("events", "empty array")
    return [_event(item, f"events[{i}]", now_ms) for i, item in enumerate(items)]


def _event(item: Any, where: str, now_ms: int) -> ReportedEvent:
    obj = object_of(item, where)
    _only(obj, _EVENT_KEYS, where)
    level = obj.get("level")
    if not isinstance(level, str) or level not in _LEVELS:
        raise bad(at(where, "level"), f"{shown(level)} is not one of {sorted(_LEVELS)}")
    code = string(
        obj.get("code"),
        at(where, "code"),
        min_chars=1,
        max_chars=MAX_EVENT_CODE_CHARS,
        wording="expected {min_chars} to {max_chars} characters",
    )
    message = string(
        obj.get("message", ""),
        at(where, "message"),
        max_chars=MAX_EVENT_MESSAGE_CHARS,
        wording="expected at most {max_chars} characters",
    )
    ts = epoch_ms(obj.get("ts"), at(where, "ts"), default=now_ms)
    return ReportedEvent(EventLevel(level), code, message, ts)


def _ack(device: DeviceRef, body: Any) -> CommandReply:
    obj = object_of(body, "ack")
    _only(obj, _ACK_KEYS, "ack")
    command_id = integer(obj.get("id"), "ack.id", wording="{shown} is not a command id")
    ok = boolean(obj.get("ok"), "ack.ok", wording="{shown} is not true or false")
    detail = string(obj.get("detail", ""), "ack.detail", wording="{shown} is not text")
    return CommandReply(device, command_id, ok=ok, detail=detail)
