"""The Tasmota convention: `tele/{topic}/...` telemetry, `stat/{topic}/...` results, `cmnd` out."""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, Final

from farmbridge.domain import DeviceState, EventLevel
from farmbridge.domain.actuator import POSITION, POWER, VALUE, power_word
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
from farmbridge.ingest.fields import bad, clean_name, reading, shown, utf8_text
from farmbridge.ingest.mqtt.conventions._generic import (
    Generic,
    generic,
    number_text,
    unsupported,
)
from farmbridge.ingest.mqtt.conventions._payload import (
    json_of,
    object_of,
    same_value,
    segment,
    state_shows,
)
from farmbridge.ingest.mqtt.conventions._tasmota_discovery import TasmotaDiscovery
from farmbridge.ingest.mqtt.conventions.base import Mapped, OutgoingCommand

# Tasmota's sensor JSON is at most three levels deep; deeper is not Tasmota.
MAX_SENSOR_DEPTH: Final = 6
_COMMAND: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_POWER: Final = re.compile(r"POWER(?P<relay>[0-9]*)")
_SHUTTER: Final = re.compile(r"Shutter(?P<shutter>[1-9][0-9]?)")
_SHUTTER_COMMAND: Final = re.compile(
    r"(?i:shutter(?:position|open|close|stop|toggle))(?P<n>[1-9]?)"
)
_CHANNEL: Final = re.compile(r"[1-9][0-9]?")
_ON_OFF: Final = {"ON": True, "OFF": False}
# A quantity's key, numbered when a device has several (ANALOG's Temperature1).
_QUANTITY: Final = re.compile(r"(?P<quantity>[A-Za-z]+?)[0-9]*")
_TEMPERATURE_KEYS: Final = frozenset({"Temperature", "DewPoint"})
_PRESSURE_KEYS: Final = frozenset({"Pressure", "SeaPressure"})
_TEMPERATURE_UNITS: Final = {"C": "°C", "F": "°F"}
_FIXED_UNITS: Final = {"Humidity": "%"}
_ENERGY_UNITS: Final = {
    "Total": "kWh",
    "Today": "kWh",
    "Yesterday": "kWh",
    "Power": "W",
    "ApparentPower": "VA",
    "ReactivePower": "VAr",
    "Voltage": "V",
    "Current": "A",
}


class TasmotaConvention:
    """Tasmota devices, each known by its MQTT topic (`%topic%`), with the default FullTopic
    `%prefix%/%topic%/` under the binding's prefix."""

    name: ClassVar[str] = "tasmota"

    def __init__(self) -> None:
        # Tasmota's own discovery, read from the broker's root (ReadsDiscovery).
        self._discovery = TasmotaDiscovery(sensors=_sensor)

    def discovery_filters(self) -> list[str]:
        return self._discovery.filters()

    def discovery(self, topic: str, payload: bytes, now_ms: int, *, prefix: str) -> list[Mapped]:
        return self._discovery.read(topic, payload, now_ms, prefix=prefix)

    def filters(self) -> list[str]:
        # stat/+/+ covers stat/+/RESULT; subscribing to both could deliver RESULT twice.
        return ["tele/+/SENSOR", "tele/+/STATE", "tele/+/LWT", "stat/+/+"]

    def map(self, topic: str, payload: bytes, now_ms: int) -> list[Mapped]:
        parts = topic.split("/")
        if len(parts) != 3:
            return []
        prefix, device_topic, kind = parts
        if prefix == "tele" and kind in ("SENSOR", "STATE", "LWT"):
            device = DeviceRef(name=clean_name(device_topic))
            if kind == "LWT":
                return [_lwt(device, payload, now_ms)]
            body = object_of(json_of(payload, kind), kind)
            if kind == "SENSOR":
                return [*_sensor(device, body, now_ms), *_switched(device, body, now_ms)]
            return [_state(device, body, now_ms), *_switched(device, body, now_ms, data=False)]
        if prefix == "stat":
            device = DeviceRef(name=clean_name(device_topic))
            reply = _result(device, kind, payload)
            refused = _refused(device, reply.state, now_ms)
            return [reply, *refused, *_switched(device, reply.state, now_ms, reply=False)]
        return []

    def command(self, device: DeviceRef, cmd: OutgoingCommand) -> list[Publish]:
        device_topic = segment(device.name, "device's Tasmota topic")
        translated = generic(cmd)
        if translated is not None:
            command, text = _translated(translated)
            return [Publish(f"cmnd/{device_topic}/{command}", text.encode())]
        if not _COMMAND.fullmatch(cmd.action):
            raise BadPayload(f"{shown(cmd.action)} is not a Tasmota command name")
        value = cmd.params.get("value")
        text = "" if value is None else _command_text(value)
        return [Publish(f"cmnd/{device_topic}/{cmd.action}", text.encode())]

    def completes(self, cmd: OutgoingCommand, reply: CommandReply) -> bool:
        try:
            translated = generic(cmd)
            if translated is not None:
                command, text = _translated(translated)
                if translated.kind == "position":
                    return _shutter_shows(reply.state, command, translated.level)
                return state_shows(reply.state, command, text, normal=_power_key)
            value = cmd.params.get("value")
            requested = None if value is None else _command_text(value)
        except BadPayload:
            return False
        shutter = _SHUTTER_COMMAND.fullmatch(cmd.action)
        if shutter is not None:
            # Tasmota answers every shutter command with the shutter's {Position, Target}.
            index = shutter["n"] or "1"
            if isinstance(value, int | float) and _is_number(value):
                return _shutter_shows(reply.state, f"ShutterPosition{index}", float(value))
            return isinstance(reply.state.get(f"Shutter{index}"), dict)
        return state_shows(reply.state, cmd.action, requested, normal=_power_key)


def _translated(g: Generic) -> tuple[str, str]:
    """The Tasmota command and payload of a generic command; `target` is the relay,
    shutter or light channel number (POWER2, ShutterPosition2, Dimmer2)."""
    if g.target is not None and not _CHANNEL.fullmatch(g.target):
        raise unsupported("tasmota", g, f"target {shown(g.target)} is not a channel number")
    index = g.target or ""
    if g.kind == "power":
        word = "TOGGLE" if g.on is None else ("ON" if g.on else "OFF")
        return f"POWER{index}", word
    if g.kind == "position":
        return f"ShutterPosition{index or '1'}", number_text(g.level)
    return f"Dimmer{index}", number_text(g.level)


def _shutter_shows(state: dict[str, Any], command: str, level: float) -> bool:
    """Whether a result shows shutter `n` (of ShutterPosition<n>) going to `level`: its
    Target once it moves there, or its Position."""
    shutter = state.get(f"Shutter{command.removeprefix('ShutterPosition')}")
    if not isinstance(shutter, dict):
        return False
    return any(same_value(level, shutter.get(k)) for k in ("Target", "Position") if k in shutter)


def _actuator(body: dict[str, Any]) -> dict[str, Any]:
    """Relays, dimmer and shutters in the domain's vocabulary: POWER and POWER1 are
    `power`, POWER2 `power2`; Dimmer is `value`; Shutter1's Position `position`."""
    out: dict[str, Any] = {}
    for key, raw in body.items():
        relay = _POWER.fullmatch(key)
        if relay is not None:
            if not isinstance(raw, str):
                raise bad(key, f"expected ON or OFF, got {shown(raw)}")
            if raw.upper() not in _ON_OFF:
                continue  # a StateText of the user's own ("AN"): no word for the dashboard
            number = relay["relay"]
            out[POWER if number in ("", "1") else f"{POWER}{number}"] = power_word(
                _ON_OFF[raw.upper()]
            )
        elif key == "Dimmer" and _is_number(raw):
            out[VALUE] = raw
        elif (shutter := _SHUTTER.fullmatch(key)) is not None and isinstance(raw, dict):
            position = raw.get("Position")
            if _is_number(position):
                number = shutter["shutter"]
                out[POSITION if number == "1" else f"{POSITION}{number}"] = position
    return out


def _is_number(raw: Any) -> bool:
    return isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw)


def _switched(
    device: DeviceRef,
    body: dict[str, Any],
    now_ms: int,
    *,
    data: bool = True,
    reply: bool = True,
) -> list[Mapped]:
    """What a message showing relays, dimmer or shutters adds: the actuator state, and a
    state report that completes commands (tele/STATE and SENSOR answer them late, as
    the periodic report does)."""
    actuator = _actuator(body)
    if not actuator:
        return []
    out: list[Mapped] = []
    if data:
        status = ReportedStatus(DeviceState.ONLINE, actuator, now_ms)
        out.append(Data(device, DeviceReport(status=status)))
    if reply:
        out.append(CommandReply(device, None, state=body))
    return out


def _power_key(key: str) -> str:
    # One relay answers POWER1 with POWER; several answer POWER with POWER1.
    folded = key.casefold()
    return "power" if folded == "power1" else folded


def _command_text(value: Any) -> str:
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if isinstance(value, float) and not math.isfinite(value):
        raise bad("params.value", f"{shown(value)} is not a finite number")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    raise bad("params.value", f"{shown(value)} cannot be a command payload")


def _refused(device: DeviceRef, state: dict[str, Any], now_ms: int) -> list[Mapped]:
    """Tasmota's answer to a command it does not know or cannot run, `{"Command":
    "Unknown"}` or `{"Command": "Error"}` (arendst/Tasmota support_command.ino), as a
    warning in the event log: it names no command, so it cannot fail one."""
    answer = state.get("Command")
    if len(state) != 1 or not isinstance(answer, str) or answer not in ("Unknown", "Error"):
        return []
    code = f"command_{answer.casefold()}"
    message = f"the device answered a command with {answer}"
    event = ReportedEvent(EventLevel.WARNING, code, message, now_ms)
    return [Data(device, DeviceReport(events=[event]))]


def _lwt(device: DeviceRef, payload: bytes, now_ms: int) -> Liveness:
    text = utf8_text(payload, "LWT").casefold()
    if text not in ("online", "offline"):
        raise bad("LWT", f"expected Online or Offline, got {shown(text)}")
    return Liveness(device, text == "online", now_ms)


def _sensor(device: DeviceRef, body: dict[str, Any], now_ms: int) -> list[Mapped]:
    """One reading per numeric leaf, named by its path (`AM2301.Temperature`); an array
    (a multi-channel meter's `"Power":[52,5]`) is one reading per channel, its index the
    last part of the path (`ENERGY.Power.0`), as HA's Tasmota integration names them.

    Time is the device's local time without a zone, so readings take the receive time.
    Text (Switch1 "ON"), booleans and null are not readings. A numbered key
    (`Temperature1`) has the unit of its quantity.
    """
    temperature_unit = body.get("TempUnit")
    temperature_unit = (
        _TEMPERATURE_UNITS.get(temperature_unit, "") if isinstance(temperature_unit, str) else ""
    )
    pressure_unit = body.get("PressureUnit")
    pressure_unit = pressure_unit if isinstance(pressure_unit, str) else ""
    readings: list[ReportedReading] = []
    units: dict[str, str] = {}
    stack: list[tuple[tuple[str, ...], dict[str, Any]]] = [((), body)]
    while stack:
        path, obj = stack.pop()
        if len(path) >= MAX_SENSOR_DEPTH:
            raise bad("SENSOR", f"nested deeper than {MAX_SENSOR_DEPTH} levels")
        for key, raw in obj.items():
            if (not path and key == "Time") or key.endswith("Unit"):
                continue
            if isinstance(raw, dict):
                stack.append(((*path, key), raw))
                continue
            channels = enumerate(raw) if isinstance(raw, list) else [(None, raw)]
            for index, value in channels:
                if not isinstance(value, int | float) or isinstance(value, bool):
                    continue
                parts = (*path, key) if index is None else (*path, key, str(index))
                sensor = clean_name(*parts)
                readings.append(ReportedReading(sensor, reading(value, f"SENSOR.{sensor}"), now_ms))
                unit = _unit(path, key, temperature_unit, pressure_unit)
                if unit:
                    units[sensor] = unit
    if not readings:
        return []  # a SENSOR message of switches or text only
    readings.sort(key=lambda r: r.sensor)
    return [Data(device, DeviceReport(readings=readings), units)]


def _unit(path: tuple[str, ...], key: str, temperature_unit: str, pressure_unit: str) -> str:
    """The unit of a reading under `path` at `key`, by its quantity (numbering stripped)."""
    match = _QUANTITY.fullmatch(key)
    quantity = match["quantity"] if match else key
    if quantity in _TEMPERATURE_KEYS:
        return temperature_unit
    if quantity in _PRESSURE_KEYS:
        return pressure_unit
    if path[:1] == ("ENERGY",):
        return _ENERGY_UNITS.get(quantity, "")
    return _FIXED_UNITS.get(quantity, "")


def _state(device: DeviceRef, body: dict[str, Any], now_ms: int) -> Data:
    status = ReportedStatus(DeviceState.ONLINE, _actuator(body), now_ms)
    readings: list[ReportedReading] = []
    units: dict[str, str] = {}
    wifi = body.get("Wifi")
    if isinstance(wifi, dict) and "RSSI" in wifi:
        # Tasmota's RSSI is a link quality in percent; the dBm figure is Wifi.Signal.
        rssi = reading(wifi["RSSI"], "STATE.Wifi.RSSI")
        readings.append(ReportedReading("Wifi.RSSI", rssi, now_ms))
        units["Wifi.RSSI"] = "%"
    return Data(device, DeviceReport(readings=readings, status=status), units)


def _result(device: DeviceRef, kind: str, payload: bytes) -> CommandReply:
    """A command's result: JSON on RESULT (or on the command's own topic with SetOption4),
    plain text on stat/{topic}/POWER."""
    text = utf8_text(payload, kind)
    if kind == "RESULT" or text.startswith("{"):
        state = object_of(json_of(payload, kind), kind)
        if not state:
            raise bad(kind, "empty result")
        return CommandReply(device, None, state=state)
    if not text:
        raise bad(kind, "empty payload")
    return CommandReply(device, None, state={kind: text})
