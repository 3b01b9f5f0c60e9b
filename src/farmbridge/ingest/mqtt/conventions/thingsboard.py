"""The ThingsBoard convention: its device API (`v1/devices/me/...`) and its gateway API."""

from __future__ import annotations

from typing import Any, ClassVar, Final

from farmbridge.domain import DeviceState
from farmbridge.domain.errors import BadPayload
from farmbridge.domain.mqtt import Publish
from farmbridge.domain.reports import (
    CommandReply,
    Data,
    DeviceRef,
    DeviceReport,
    Liveness,
    ReportedReading,
    ReportedStatus,
)
from farmbridge.ingest.fields import (
    at,
    bad,
    clean_name,
    epoch_ms,
    integer,
    json_array,
    maybe_reading,
    shown,
    string,
)
from farmbridge.ingest.mqtt.conventions._generic import generic, unsupported
from farmbridge.ingest.mqtt.conventions._payload import (
    actuator_of,
    dumps,
    json_of,
    object_of,
    segment,
)
from farmbridge.ingest.mqtt.conventions.base import Mapped, OutgoingCommand

_DEVICE_API: Final = ["v1", "devices", "me"]
_GATEWAY_RPC: Final = "v1/gateway/rpc"
# The RPC method ThingsBoard's own switch, knob and slider widgets call to set a value
# (https://thingsboard.io/iot-hub/widgets/switch-control/: "wired to getValue and setValue").
SET_VALUE_METHOD: Final = "setValue"


class ThingsBoardConvention:
    """Both ThingsBoard MQTT APIs at once.

    Device form: the first topic level is the device's access token, put there by the
    broker (a mount point or topic rewrite by MQTT username), so the device is known by
    key. Gateway form: one gateway speaks for devices it names in the payload.
    """

    name: ClassVar[str] = "thingsboard"

    def __init__(self) -> None:
        # The gateway addresses devices by the names it sent, not by our cleaned names.
        self._gateway_names: dict[str, str] = {}

    def filters(self) -> list[str]:
        return [
            "+/v1/devices/me/telemetry",
            "+/v1/devices/me/attributes",
            "+/v1/devices/me/rpc/response/+",
            "v1/gateway/telemetry",
            "v1/gateway/attributes",
            "v1/gateway/connect",
            "v1/gateway/disconnect",
            _GATEWAY_RPC,
        ]

    def map(self, topic: str, payload: bytes, now_ms: int) -> list[Mapped]:
        parts = topic.split("/")
        if len(parts) == 3 and parts[:2] == ["v1", "gateway"]:
            return self._gateway(parts[2], payload, now_ms)
        if len(parts) < 5 or parts[1:4] != _DEVICE_API:
            return []
        rest = parts[4:]
        if rest == ["telemetry"]:
            body = json_of(payload, "telemetry")
            return [Data(_keyed(parts[0]), DeviceReport(readings=_readings(body, now_ms)))]
        if rest == ["attributes"]:
            body = json_of(payload, "attributes")
            return [Data(_keyed(parts[0]), DeviceReport(status=_attributes(body, now_ms)))]
        if len(rest) == 3 and rest[:2] == ["rpc", "response"]:
            return [_rpc_response(_keyed(parts[0]), rest[2], payload)]
        return []

    def command(self, device: DeviceRef, cmd: OutgoingCommand) -> list[Publish]:
        method, params = _rpc(cmd)
        if device.key:
            key = segment(device.key, "device's key")
            body = {"method": method, "params": params}
            topic = f"{key}/v1/devices/me/rpc/request/{cmd.id}"
            return [Publish(topic, dumps(body, "rpc request"))]
        name = device.name
        if not name:
            raise BadPayload("a ThingsBoard command needs the device's key or gateway name")
        data = {"id": cmd.id, "method": method, "params": params}
        body = {"device": self._gateway_names.get(name, name), "data": data}
        return [Publish(_GATEWAY_RPC, dumps(body, "gateway rpc request"))]

    def completes(self, cmd: OutgoingCommand, reply: CommandReply) -> bool:
        # Every RPC reply names its request id.
        return False

    def _gateway(self, kind: str, payload: bytes, now_ms: int) -> list[Mapped]:
        if kind not in ("telemetry", "attributes", "connect", "disconnect", "rpc"):
            return []
        body = object_of(json_of(payload, f"gateway {kind}"), f"gateway {kind}")
        if kind in ("connect", "disconnect"):
            device = self._named(body.get("device"), f"gateway {kind}.device")
            return [Liveness(device, kind == "connect", now_ms)]
        if kind == "rpc":
            return self._gateway_reply(body)
        if not body:
            raise bad(f"gateway {kind}", "no devices")
        out: list[Mapped] = []
        for name, value in body.items():
            where = at(f"gateway {kind}", name)
            if kind == "telemetry":
                entries = json_array(value, where, wording="expected an array of {{ts, values}}")
                report = DeviceReport(readings=_readings(entries, now_ms, where))
            else:
                report = DeviceReport(status=_attributes(value, now_ms, where))
            out.append(Data(self._named(name, where), report))
        return out

    def _gateway_reply(self, body: dict[str, Any]) -> list[Mapped]:
        data = body.get("data")
        if isinstance(data, dict) and "method" in data:
            return []  # our own request, echoed back on the shared topic
        device = self._named(body.get("device"), "gateway rpc.device")
        command_id = integer(
            body.get("id"), "gateway rpc.id", wording="{shown} is not a request id"
        )
        error = body.get("error")
        if error is None and isinstance(data, dict):
            error = data.get("error")
        return [_reply(device, command_id, error, data)]

    def _named(self, raw: Any, where: str) -> DeviceRef:
        given = string(raw, where, wording="{shown} is not a device name")
        name = clean_name(given)
        if name != given:
            self._gateway_names[name] = given
        return DeviceRef(name=name)


def _rpc(cmd: OutgoingCommand) -> tuple[str, Any]:
    """The RPC method and params of a command: a generic on/off/set is `setValue` with the
    new value (true/false, or the number), as ThingsBoard's control widgets send it; any
    other action is its own method with the command's params."""
    g = generic(cmd)
    if g is None:
        return cmd.action, cmd.params
    if g.target is not None:
        raise unsupported("thingsboard", g, "setValue has no target; use the device's own method")
    if g.kind == "power":
        if g.on is None:
            raise unsupported("thingsboard", g, "setValue takes the new state, not a toggle")
        return SET_VALUE_METHOD, g.on
    return SET_VALUE_METHOD, int(g.level) if g.level.is_integer() else g.level


def _keyed(key: str) -> DeviceRef:
    if not key:
        raise BadPayload("the topic carries an empty device key")
    return DeviceRef(key=key)


def _readings(body: Any, now_ms: int, where: str = "telemetry") -> list[ReportedReading]:
    """Readings of `{k: v}`, `{"ts", "values"}` or an array of either (buffered data).

    ThingsBoard takes any JSON value; only numbers, booleans (1/0) and numeric text are
    readings. Other values are skipped, unless nothing numeric is left.
    """
    items = body if isinstance(body, list) else [body]
    if not items:
        raise bad(where, "empty array")
    readings: list[ReportedReading] = []
    skipped: list[str] = []
    for i, item in enumerate(items):
        item_at = at(where, i)
        entry = object_of(item, item_at)
        ts = now_ms
        if "ts" in entry and "values" in entry:
            if len(entry) != 2:
                raise bad(item_at, "keys beside ts and values")
            ts = epoch_ms(entry["ts"], at(item_at, "ts"), default=now_ms)
            entry = object_of(entry["values"], at(item_at, "values"))
        for key, raw in entry.items():
            value = maybe_reading(raw)
            if value is None:
                skipped.append(key)
            else:
                readings.append(ReportedReading(clean_name(key), value, ts))
    if not readings:
        raise bad(where, f"no numeric values (skipped {skipped[:5]})")
    return readings


def _attributes(body: Any, now_ms: int, where: str = "attributes") -> ReportedStatus:
    # Attribute values may be JSON objects; the actuator dict holds scalars only.
    obj = object_of(body, where)
    scalars = {k: v for k, v in obj.items() if not isinstance(v, dict | list)}
    if not scalars:
        raise bad(where, "no scalar attributes")
    return ReportedStatus(DeviceState.ONLINE, actuator_of(scalars, where), now_ms)


def _rpc_response(device: DeviceRef, request_id: str, payload: bytes) -> CommandReply:
    if not (request_id.isascii() and request_id.isdigit()):
        raise bad("rpc response", f"{shown(request_id)} is not a request id")
    body = json_of(payload, "rpc response")
    error = body.get("error") if isinstance(body, dict) else None
    return _reply(device, int(request_id), error, body)


def _reply(device: DeviceRef, command_id: int, error: Any, body: Any) -> CommandReply:
    if error is not None:
        detail = error if isinstance(error, str) else dumps(error, "rpc error").decode()
        return CommandReply(device, command_id, ok=False, detail=detail)
    state = body if isinstance(body, dict) else {}
    return CommandReply(device, command_id, state=state)
