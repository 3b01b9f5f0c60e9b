"""The Shelly Gen2+ convention: `{id}/status/{component}`, `{id}/events/rpc`, RPC out and back."""

from __future__ import annotations

import math
import re
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
    ReportedEvent,
    ReportedReading,
    ReportedStatus,
)
from farmbridge.domain.telemetry import EventLevel
from farmbridge.ingest.fields import MAX_ACTUATOR_KEYS, bad, clean_name, reading, shown, utf8_text
from farmbridge.ingest.mqtt.conventions._generic import MAX_POSITION, generic, unsupported
from farmbridge.ingest.mqtt.conventions._payload import dumps, json_of, object_of, segment
from farmbridge.ingest.mqtt.conventions.base import Mapped, OutgoingCommand

DEFAULT_CLIENT_ID: Final = "farmbridge"
MAX_STATUS_DEPTH: Final = 3
MAX_EVENTS: Final = 32
MAX_DEVICES_REMEMBERED: Final = 10_000
# Components whose status carries readings or a switched output; sys, cloud, mqtt, ble,
# ws... describe the device's own plumbing (uptime, free RAM), not the farm.
_COMPONENTS: Final = frozenset(
    {
        "switch", "cover", "light", "input", "temperature", "humidity", "devicepower",
        "voltmeter", "illuminance", "em", "em1", "pm1", "emdata", "em1data", "flood",
        "smoke", "wifi",
    }
)  # fmt: skip
# Status keys that are not measurements: instance id, timer bookkeeping, timestamps.
_SKIPPED: Final = frozenset({"id", "minute_ts", "timer_started_at", "timer_duration", "ts"})
# Booleans that are readings (an input's contact, a flood or smoke alarm), as 1/0.
_BOOLEAN_READINGS: Final = frozenset({("input", "state"), ("flood", "alarm"), ("smoke", "alarm")})
# Units by status key, as the Shelly API documents each component's status.
_UNITS: Final = {
    "apower": "W",
    "act_power": "W",
    "aprt_power": "VA",
    "voltage": "V",
    "current": "A",
    "freq": "Hz",
    "tC": "°C",
    "tF": "°F",
    "rh": "%",
    "V": "V",
    "percent": "%",
    "lux": "lx",
    "rssi": "dBm",
    "current_pos": "%",
}
_ENERGY: Final = frozenset({"aenergy", "ret_aenergy"})  # their `total` is in Wh
_OUTPUTS: Final = frozenset({"switch", "light"})
_METHOD: Final = re.compile(r"[A-Z][A-Za-z0-9]*\.[A-Z][A-Za-z0-9]*")


class ShellyConvention:
    """Shelly Gen2+ devices (Plus, Pro, Gen3) with their default MQTT topic prefix, the
    device id (`shellyplus1pm-a8032ab12345`), under the binding's prefix.

    Commands are JSON-RPC requests with `src` the bridge's MQTT client id; the device
    answers on `{client id}/rpc`, from the broker's root, read as this convention's
    `discovery` topic (ReadsDiscovery), and the answer names the command by its id.
    """

    name: ClassVar[str] = "shelly"

    def __init__(self, *, client_id: str = DEFAULT_CLIENT_ID) -> None:
        """`client_id`: the bridge's MQTT client id, the `src` of its requests and so the
        first level of the topic the devices answer on. ValueError when it cannot be one
        topic level (`/`, `+`, `#`)."""
        try:
            self._src = segment(client_id, "bridge's MQTT client id")
        except BadPayload as exc:
            raise ValueError(exc.message) from exc
        self._topics: dict[str, str] = {}  # device name -> the device's topic prefix
        self._outputs: dict[str, dict[str, Any]] = {}  # device name -> actuator state

    def filters(self) -> list[str]:
        return ["+/online", "+/status/+", "+/events/rpc"]

    def discovery_filters(self) -> list[str]:
        return [f"{self._src}/rpc"]

    def discovery(self, topic: str, payload: bytes, now_ms: int, *, prefix: str) -> list[Mapped]:
        if topic != f"{self._src}/rpc":
            return []
        return _reply(object_of(json_of(payload, "rpc"), "rpc"))

    def map(self, topic: str, payload: bytes, now_ms: int) -> list[Mapped]:
        parts = topic.split("/")
        if len(parts) == 2 and parts[1] == "online":
            return [_online(self._device(parts[0]), payload, now_ms)]
        if len(parts) == 3 and parts[1] == "status":
            device = self._device(parts[0])
            body = object_of(json_of(payload, parts[2]), parts[2])
            return self._status(device, {parts[2]: body}, now_ms)
        if parts[1:] == ["events", "rpc"]:
            return self._notification(self._device(parts[0]), payload, now_ms)
        return []

    def command(self, device: DeviceRef, cmd: OutgoingCommand) -> list[Publish]:
        topic = segment(self._topics.get(device.name or "", device.name), "device's topic prefix")
        method, params = _rpc(cmd)
        request: dict[str, Any] = {"id": cmd.id, "src": self._src, "method": method}
        if params:
            request["params"] = params
        return [Publish(f"{topic}/rpc", dumps(request, "rpc request"))]

    def completes(self, cmd: OutgoingCommand, reply: CommandReply) -> bool:
        return False  # every reply names its request's id

    # Reading.

    def _device(self, topic: str) -> DeviceRef:
        name = clean_name(topic)
        if name not in self._topics and len(self._topics) < MAX_DEVICES_REMEMBERED:
            self._topics[name] = topic
        return DeviceRef(name=name)

    def _notification(self, device: DeviceRef, payload: bytes, now_ms: int) -> list[Mapped]:
        frame = object_of(json_of(payload, "events/rpc"), "events/rpc")
        method = frame.get("method")
        params = object_of(frame.get("params"), "params")
        ts_ms = _seconds_ms(params.get("ts"), now_ms)
        if method in ("NotifyStatus", "NotifyFullStatus"):
            components = {k: v for k, v in params.items() if k != "ts"}
            return self._status(device, components, ts_ms)
        if method == "NotifyEvent":
            return _events(device, params, now_ms)
        return []

    def _status(self, device: DeviceRef, components: dict[str, Any], ts_ms: int) -> list[Mapped]:
        readings: list[ReportedReading] = []
        units: dict[str, str] = {}
        outputs: dict[str, Any] = {}
        for key, body in components.items():
            kind = key.split(":", 1)[0]
            if kind not in _COMPONENTS or not isinstance(body, dict):
                continue
            if kind in _OUTPUTS and isinstance(body.get("output"), bool):
                outputs[key] = body["output"]
            elif kind == "cover" and isinstance(body.get("state"), str):
                outputs[key] = body["state"]
            _leaves(kind, (key,), body, readings, units, ts_ms)
        status = None
        if outputs:
            state = self._outputs.setdefault(device.name or "", {})
            state.update(outputs)
            actuator = dict(list(state.items())[:MAX_ACTUATOR_KEYS])
            status = ReportedStatus(DeviceState.ONLINE, actuator, ts_ms)
        if not readings and status is None:
            return []
        readings.sort(key=lambda r: r.sensor)
        return [Data(device, DeviceReport(readings=readings, status=status), units)]


def _leaves(
    kind: str,
    path: tuple[str, ...],
    body: dict[str, Any],
    readings: list[ReportedReading],
    units: dict[str, str],
    ts_ms: int,
) -> None:
    """One reading per numeric leaf of a component's status, named by its path
    (`switch_0.apower`, `switch_0.temperature.tC`); arrays (by_minute) are skipped."""
    if len(path) > MAX_STATUS_DEPTH:
        raise bad(".".join(path), f"nested deeper than {MAX_STATUS_DEPTH} levels")
    for key, value in body.items():
        if key in _SKIPPED or value is None:
            continue
        if isinstance(value, dict):
            _leaves(kind, (*path, key), value, readings, units, ts_ms)
            continue
        if isinstance(value, bool):
            if (kind, key) not in _BOOLEAN_READINGS:
                continue  # output (actuator state), overtemperature flags...
        elif not isinstance(value, int | float):
            continue  # source, errors, state text...
        if kind == "wifi" and key != "rssi":
            continue
        sensor = clean_name(*path, key)
        readings.append(ReportedReading(sensor, reading(value, sensor), ts_ms))
        unit = "Wh" if key == "total" and path[-1] in _ENERGY else _UNITS.get(key, "")
        if unit:
            units[sensor] = unit


def _online(device: DeviceRef, payload: bytes, now_ms: int) -> Liveness:
    text = utf8_text(payload, "online")
    if text not in ("true", "false"):
        raise bad("online", f"expected true or false, got {shown(text)}")
    return Liveness(device, text == "true", now_ms)


def _seconds_ms(raw: Any, default: int) -> int:
    """Shelly's `ts`, Unix seconds with a fraction, as epoch milliseconds."""
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        return round(raw * 1000)
    return default


def _events(device: DeviceRef, params: dict[str, Any], now_ms: int) -> list[Mapped]:
    """NotifyEvent: each event (a button's single_push, config_changed) is an info event
    with the event's name as code."""
    raw = params.get("events")
    if not isinstance(raw, list):
        raise bad("params.events", f"{shown(raw)} is not a list")
    events: list[ReportedEvent] = []
    for index, item in enumerate(raw[:MAX_EVENTS]):
        where = f"params.events[{index}]"
        event = object_of(item, where)
        name, component = event.get("event"), event.get("component", "")
        if not isinstance(name, str) or not name:
            raise bad(f"{where}.event", f"{shown(name)} is not an event name")
        if not isinstance(component, str):
            raise bad(f"{where}.component", f"{shown(component)} is not a component")
        message = f"{component}: {name}" if component else name
        ts_ms = _seconds_ms(event.get("ts", params.get("ts")), now_ms)
        events.append(ReportedEvent(EventLevel.INFO, clean_name(name), message, ts_ms))
    if not events:
        return []
    return [Data(device, DeviceReport(events=events))]


def _reply(frame: dict[str, Any]) -> list[Mapped]:
    """A response frame on `{client id}/rpc`: `result` acknowledges the request named by
    `id`, `error` fails it with the code and message."""
    if "method" in frame:
        return []  # a request or notification sent to us: nothing we answer
    command_id, src = frame.get("id"), frame.get("src")
    if isinstance(command_id, bool) or not isinstance(command_id, int):
        raise bad("id", f"{shown(command_id)} is not a request id of ours")
    if not isinstance(src, str) or not src:
        raise bad("src", f"{shown(src)} is not a device id")
    device = DeviceRef(name=clean_name(src))
    error = frame.get("error")
    if error is not None:
        error = object_of(error, "error")
        detail = f"{error.get('code')}: {error.get('message')}"
        return [CommandReply(device, command_id, ok=False, detail=detail[:2000])]
    return [CommandReply(device, command_id)]


def _rpc(cmd: OutgoingCommand) -> tuple[str, dict[str, Any]]:
    """The JSON-RPC method and params of a command: the dashboard's generic actions as
    Shelly's own (`Switch.Set`/`Switch.Toggle`, `Cover.GoToPosition`, `Light.Set`
    brightness) on component `target` (0 by default); any other action is a method.
    Methods and params as shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/ gives
    them (Switch, Cover, Light)."""
    g = generic(cmd)
    if g is None:
        if not _METHOD.fullmatch(cmd.action):
            raise BadPayload(f"{shown(cmd.action)} is not a Shelly RPC method (Switch.Set)")
        return cmd.action, dict(cmd.params)
    if g.target is not None and not g.target.isdigit():
        raise unsupported("shelly", g, f"target {shown(g.target)} is not a component id")
    component = int(g.target or 0)
    if g.kind == "power":
        if g.on is None:
            return "Switch.Toggle", {"id": component}
        return "Switch.Set", {"id": component, "on": g.on}
    if g.kind == "position":
        return "Cover.GoToPosition", {"id": component, "pos": round(g.level)}
    if not 0 <= g.level <= MAX_POSITION:
        raise unsupported("shelly", g, "a light's brightness is 0 to 100")
    return "Light.Set", {"id": component, "brightness": round(g.level)}
