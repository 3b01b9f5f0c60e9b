"""The native convention: farmbridge's own `{farm}/{device}/...` topics and JSON bodies."""

from __future__ import annotations

from typing import Any, ClassVar, Final

from farmbridge.domain import DeviceState, EventLevel
from farmbridge.ingest.mqtt.conventions._payload import (
    actuator_of,
    dumps,
    finite,
    json_of,
    object_of,
    segment,
    shown,
    timestamp,
)
from farmbridge.ingest.mqtt.conventions.base import (
    BadPayload,
    CommandReply,
    Data,
    DeviceRef,
    Mapped,
    OutgoingCommand,
    Publish,
    clean_name,
)
from farmbridge.service.ingest import DeviceReport, ReportedEvent, ReportedReading, ReportedStatus

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
        raise BadPayload(f"{where}: unexpected keys {sorted(extra)[:5]}")


def _telemetry(body: Any, now_ms: int) -> DeviceReport:
    obj = object_of(body, "telemetry")
    ts = timestamp(obj.get("ts"), "telemetry.ts", now_ms)
    message_id = obj.get("message_id")
    if message_id is not None and (
        not isinstance(message_id, str) or not 1 <= len(message_id) <= MAX_MESSAGE_ID_CHARS
    ):
        raise BadPayload(
            f"telemetry.message_id: expected 1 to {MAX_MESSAGE_ID_CHARS} characters,"
            f" got {shown(message_id)}"
        )
    if "readings" in obj:
        _only(obj, _ENVELOPE_KEYS, "telemetry")
        values = object_of(obj["readings"], "telemetry.readings")
    else:
        values = {k: v for k, v in obj.items() if k not in _ENVELOPE_KEYS}
    if not values:
        raise BadPayload("telemetry holds no readings")
    readings = [
        ReportedReading(clean_name(sensor), finite(raw, f"telemetry.{sensor}"), ts)
        for sensor, raw in values.items()
    ]
    return DeviceReport(readings=readings, message_id=message_id)


def _status(body: Any, now_ms: int) -> ReportedStatus:
    obj = object_of(body, "status")
    _only(obj, _STATUS_KEYS, "status")
    state = obj.get("state")
    if not isinstance(state, str) or state not in _STATES:
        raise BadPayload(f"status.state: {shown(state)} is not one of {sorted(_STATES)}")
    actuator = actuator_of(obj.get("actuator", {}), "status.actuator")
    ts = timestamp(obj.get("ts"), "status.ts", now_ms)
    return ReportedStatus(DeviceState(state), actuator, ts)


def _events(body: Any, now_ms: int) -> list[ReportedEvent]:
    items = body if isinstance(body, list) else [body]
    if not items:
        raise BadPayload("events: empty array")
    return [_event(item, f"events[{i}]", now_ms) for i, item in enumerate(items)]


def _event(item: Any, where: str, now_ms: int) -> ReportedEvent:
    obj = object_of(item, where)
    _only(obj, _EVENT_KEYS, where)
    level, code, message = obj.get("level"), obj.get("code"), obj.get("message", "")
    if not isinstance(level, str) or level not in _LEVELS:
        raise BadPayload(f"{where}.level: {shown(level)} is not one of {sorted(_LEVELS)}")
    if not isinstance(code, str) or not 1 <= len(code) <= MAX_EVENT_CODE_CHARS:
        raise BadPayload(f"{where}.code: expected 1 to {MAX_EVENT_CODE_CHARS} characters")
    if not isinstance(message, str) or len(message) > MAX_EVENT_MESSAGE_CHARS:
        raise BadPayload(f"{where}.message: expected at most {MAX_EVENT_MESSAGE_CHARS} characters")
    ts = timestamp(obj.get("ts"), f"{where}.ts", now_ms)
    return ReportedEvent(EventLevel(level), code, message, ts)


def _ack(device: DeviceRef, body: Any) -> CommandReply:
    obj = object_of(body, "ack")
    _only(obj, _ACK_KEYS, "ack")
    command_id, ok, detail = obj.get("id"), obj.get("ok"), obj.get("detail", "")
    if isinstance(command_id, bool) or not isinstance(command_id, int):
        raise BadPayload(f"ack.id: {shown(command_id)} is not a command id")
    if not isinstance(ok, bool):
        raise BadPayload(f"ack.ok: {shown(ok)} is not true or false")
    if not isinstance(detail, str):
        raise BadPayload(f"ack.detail: {shown(detail)} is not text")
    return CommandReply(device, command_id, ok=ok, detail=detail)
