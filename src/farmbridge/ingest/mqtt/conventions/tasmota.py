"""The Tasmota convention: `tele/{topic}/...` telemetry, `stat/{topic}/...` results, `cmnd` out."""

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
    ReportedReading,
    ReportedStatus,
)
from farmbridge.ingest.fields import bad, clean_name, reading, shown, utf8_text
from farmbridge.ingest.mqtt.conventions._payload import (
    actuator_of,
    json_of,
    object_of,
    segment,
    state_shows,
)
from farmbridge.ingest.mqtt.conventions._tasmota_discovery import TasmotaDiscovery
from farmbridge.ingest.mqtt.conventions.base import Mapped, OutgoingCommand

# Tasmota's sensor JSON is at most three levels deep; deeper is not Tasmota.
MAX_SENSOR_DEPTH: Final = 6
_COMMAND: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_POWER: Final = re.compile(r"POWER[0-9]*")
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
                return _sensor(device, body, now_ms)
            return [_state(device, body, now_ms)]
        if prefix == "stat":
            return [_result(DeviceRef(name=clean_name(device_topic)), kind, payload)]
        return []

    def command(self, device: DeviceRef, cmd: OutgoingCommand) -> list[Publish]:
        device_topic = segment(device.name, "device's Tasmota topic")
        if not _COMMAND.fullmatch(cmd.action):
            raise BadPayload(f"{shown(cmd.action)} is not a Tasmota command name")
        value = cmd.params.get("value")
        text = "" if value is None else _command_text(value)
        return [Publish(f"cmnd/{device_topic}/{cmd.action}", text.encode())]

    def completes(self, cmd: OutgoingCommand, reply: CommandReply) -> bool:
        value = cmd.params.get("value")
        try:
            requested = None if value is None else _command_text(value)
        except BadPayload:
            return False
        return state_shows(reply.state, cmd.action, requested, normal=_power_key)


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
    power = {k: v for k, v in body.items() if _POWER.fullmatch(k)}
    status = ReportedStatus(DeviceState.ONLINE, actuator_of(power, "STATE"), now_ms)
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
