"""Tasmota's own discovery (`tasmota/discovery/{mac}/config` and `.../sensors`), as HA's
Tasmota integration (emontnemery/hatasmota) reads it, for the tasmota convention."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from farmbridge.domain.errors import BadPayload
from farmbridge.domain.reports import Data, DeviceRef, Discovered
from farmbridge.ingest.fields import bad, clean_name, shown
from farmbridge.ingest.mqtt.conventions._payload import json_of, object_of
from farmbridge.ingest.mqtt.conventions.base import Mapped, Refused

DISCOVERY_PREFIX: Final = "tasmota/discovery"
# The FullTopic the tasmota convention reads (Tasmota's default), after the binding's prefix.
FULL_TOPIC: Final = "%prefix%/%topic%/"
PREFIXES: Final = ["cmnd", "stat", "tele"]
# `rl` entries: 1 a relay, 2 a light, 3 a shutter half (hatasmota const RL_*).
RELAY_KINDS: Final = {1: "relay", 2: "light", 3: "shutter"}
MAX_DEVICES: Final = 10_000
MAX_SENSOR_DEPTH: Final = 6

SensorReader = Callable[[DeviceRef, dict[str, Any], int], list[Mapped]]
"""The convention's tele/SENSOR reader: the same names and units for the same JSON."""


@dataclass(slots=True)
class TasmotaDevice:
    """What a device's discovery config says: its MQTT topic, its name and its relays
    (`POWER1`... with their friendly names and kinds)."""

    topic: str
    title: str
    relays: dict[str, tuple[str, str]] = field(default_factory=dict)  # POWERn -> (name, kind)


class TasmotaDiscovery:
    """The discovery messages of the devices under one binding, by MAC."""

    def __init__(self, *, sensors: SensorReader) -> None:
        self._read_sensors = sensors
        self._devices: dict[str, TasmotaDevice] = {}
        self._sensors: dict[str, dict[str, str]] = {}  # MAC -> sensor -> unit

    def filters(self) -> list[str]:
        # config first: the broker sends retained messages per subscription.
        return [f"{DISCOVERY_PREFIX}/+/config", f"{DISCOVERY_PREFIX}/+/sensors"]

    def device(self, name: str) -> TasmotaDevice | None:
        """The discovered device called `name` (its cleaned topic), if any."""
        for device in self._devices.values():
            if clean_name(device.topic) == name:
                return device
        return None

    def read(self, topic: str, payload: bytes, now_ms: int, *, prefix: str) -> list[Mapped]:
        parts = topic.split("/")
        if len(parts) != 4 or "/".join(parts[:2]) != DISCOVERY_PREFIX:
            return []
        mac, kind = parts[2], parts[3]
        if kind not in ("config", "sensors"):
            return []
        if not payload.strip():
            # Removed: forget it (the device and its sensors stay stored).
            (self._devices if kind == "config" else self._sensors).pop(mac, None)
            return []
        body = object_of(json_of(payload, kind), kind)
        if kind == "sensors":
            return self._sensors_of(mac, body, now_ms)
        return self._config(mac, body, prefix)

    def _config(self, mac: str, config: dict[str, Any], prefix: str) -> list[Mapped]:
        if config.get("mac") != mac:
            raise bad("config.mac", f"{shown(config.get('mac'))} is not the topic's MAC {mac}")
        device_topic = config.get("t")
        if not isinstance(device_topic, str) or not device_topic:
            raise bad("config.t", f"{shown(device_topic)} is not a topic")
        full_topic, prefixes = config.get("ft"), config.get("tp")
        if not isinstance(full_topic, str) or not full_topic.endswith(FULL_TOPIC):
            return [Refused(f"FullTopic {shown(full_topic)} is not {prefix}{FULL_TOPIC}")]
        if prefixes != PREFIXES:
            return [Refused(f"prefixes {shown(prefixes)} are not {', '.join(PREFIXES)}")]
        if full_topic != prefix + FULL_TOPIC:
            return []  # another binding's device (its FullTopic starts elsewhere)
        title = config.get("dn")
        title = title if isinstance(title, str) and title else device_topic
        device = TasmotaDevice(device_topic, title, _relays(config))
        if mac not in self._devices and len(self._devices) >= MAX_DEVICES:
            return []
        self._devices[mac] = device
        ref = DeviceRef(name=clean_name(device_topic))
        return [Discovered(ref, title, dict(self._sensors.get(mac, {})))]

    def _sensors_of(self, mac: str, body: dict[str, Any], now_ms: int) -> list[Mapped]:
        sn = object_of(body.get("sn"), "sensors.sn")
        device = self._devices.get(mac)
        ref = DeviceRef(name=clean_name(device.topic)) if device else DeviceRef(name="discovery")
        sensors: dict[str, str] = {}
        for item in self._read_sensors(ref, _measured(sn, 0), now_ms):
            if isinstance(item, Data):
                for r in item.report.readings:
                    sensors[r.sensor] = item.units.get(r.sensor, "")
        if mac in self._sensors or len(self._sensors) < MAX_DEVICES:
            self._sensors[mac] = sensors
        if device is None:
            return []  # held until the device's config names it
        return [Discovered(ref, device.title, sensors)]


def _measured(obj: dict[str, Any], depth: int) -> dict[str, Any]:
    """The sensors message with null leaves as 0: a sensor not measured yet (hatasmota's
    `"Temperature": null`) is a sensor all the same."""
    if depth > MAX_SENSOR_DEPTH:
        raise BadPayload(f"sensors.sn: nested deeper than {MAX_SENSOR_DEPTH} levels")
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out[key] = _measured(value, depth + 1)
        elif isinstance(value, list):
            out[key] = [0 if v is None else v for v in value]
        else:
            out[key] = 0 if value is None else value
    return out


def _relays(config: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """POWERn -> (friendly name, kind) for each `rl` entry that is a relay, light or
    shutter; the friendly name from `fn`, else POWERn."""
    kinds, names = config.get("rl"), config.get("fn")
    if not isinstance(kinds, list):
        raise bad("config.rl", f"{shown(kinds)} is not a list")
    names = names if isinstance(names, list) else []
    relays: dict[str, tuple[str, str]] = {}
    for index, kind in enumerate(kinds):
        if isinstance(kind, bool) or not isinstance(kind, int) or kind not in RELAY_KINDS:
            continue
        key = f"POWER{index + 1}"
        name = names[index] if index < len(names) and isinstance(names[index], str) else key
        relays[key] = (name, RELAY_KINDS[kind])
    return relays
