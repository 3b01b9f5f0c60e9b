"""Zigbee2MQTT, device side: the bridge's `bridge/devices`, JSON states, `/set` commands."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from farmbridge.domain.mqtt import Publish
from farmbridge.sim.devices import DeviceSpec, State
from farmbridge.sim.mqtt.commands import Outcome, Request
from farmbridge.sim.mqtt.dialects._payload import (
    is_on,
    json_bytes,
    json_object,
    switch_action,
    target_position,
)
from farmbridge.sim.mqtt.dialects.base import Dialect

# Access bits of an expose: in the published state (1), settable (2), gettable (4).
_READ_ONLY = 1
_READ_WRITE = 7


class Zigbee2MqttDialect(Dialect):
    """A Zigbee2MQTT bridge's devices under its base topic: each device's birth republishes
    `bridge/devices` with every device born so far (Zigbee2MQTT lists all its devices in
    one retained message); a switch per pump or fan, a cover position for the vent."""

    name = "zigbee2mqtt"
    reply_reports_state = True
    command_example = 'pump: state {"value": "ON"}; vent: position {"value": 40}'

    def __init__(self, *, farm: str, prefix: str | None = None) -> None:
        super().__init__(farm=farm, prefix=prefix)
        self._entries: dict[str, dict[str, Any]] = {}

    def _topic(self, d: DeviceSpec, what: str = "") -> str:
        return f"{self.prefix}{d.name}{what}"

    def subscriptions(self, device: DeviceSpec) -> list[str]:
        return [self._topic(device, "/set")]

    def _availability(self, d: DeviceSpec, online: bool) -> Publish:
        state = b'{"state":"online"}' if online else b'{"state":"offline"}'
        return Publish(self._topic(d, "/availability"), state, retain=True)

    def will(self, device: DeviceSpec) -> Publish:
        return self._availability(device, False)

    def birth(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        self._entries[device.name] = _entry(device)
        devices = Publish(
            f"{self.prefix}bridge/devices", json_bytes(list(self._entries.values())), True
        )
        return [devices, self._availability(device, True), *self.status(device, state, now_ms)]

    def farewell(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._availability(device, False)]

    def heartbeat(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._availability(device, True)]

    def status(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        if device.actuator in ("pump", "fan"):
            return [
                Publish(self._topic(device), json_bytes({"state": "ON" if is_on(state) else "OFF"}))
            ]
        if device.actuator == "vent":
            return [Publish(self._topic(device), json_bytes({"position": target_position(state)}))]
        return []

    def telemetry(
        self,
        device: DeviceSpec,
        readings: Mapping[str, float],
        state: State,
        now_ms: int,
        message_id: str,
    ) -> list[Publish]:
        return [Publish(self._topic(device), json_bytes(dict(readings)))] if readings else []

    def command(
        self, device: DeviceSpec, topic: str, payload: bytes, state: State, now_ms: int
    ) -> Request | None:
        if topic != self._topic(device, "/set"):
            return None
        body = json_object(payload)
        if body is None:
            return Request("set", error="not a JSON object")
        if device.actuator in ("pump", "fan") and isinstance(body.get("state"), str):
            action = switch_action(device.actuator, body["state"], state)
            return Request("state", action) if action else Request("state", error="bad state")
        if device.actuator == "vent" and isinstance(body.get("position"), int | float):
            return Request("position", "set", {"position": float(body["position"])})
        return Request("set", error=f"no settable {sorted(body)} on this device")

    def reply(
        self, device: DeviceSpec, request: Request, outcome: Outcome, state: State, now_ms: int
    ) -> list[Publish]:
        # Zigbee2MQTT answers a /set with the device's new state; a refused one with nothing.
        return self.status(device, state, now_ms) if outcome.ok else []


def _entry(device: DeviceSpec) -> dict[str, Any]:
    """The device's bridge/devices entry: a numeric expose per sensor, and its actuator."""
    exposes: list[dict[str, Any]] = []
    for sensor in device.sensors:
        if device.actuator == "vent" and sensor.name == "position":
            continue  # the cover's own, settable, below
        exposes.append(
            {"type": "numeric", "name": sensor.name, "property": sensor.name,
             "unit": sensor.unit, "access": _READ_ONLY}
        )  # fmt: skip
    if device.actuator in ("pump", "fan"):
        state = {"type": "binary", "name": "state", "property": "state", "access": _READ_WRITE,
                 "value_on": "ON", "value_off": "OFF", "value_toggle": "TOGGLE"}  # fmt: skip
        exposes.append({"type": "switch", "features": [state]})
    elif device.actuator == "vent":
        position = {"type": "numeric", "name": "position", "property": "position", "unit": "%",
                    "access": _READ_WRITE, "value_min": 0, "value_max": 100}  # fmt: skip
        exposes.append({"type": "cover", "features": [position]})
    return {
        "friendly_name": device.name,
        "ieee_address": f"0x{zlib.crc32(device.name.encode()):016x}",
        "type": "Router" if device.actuator else "EndDevice",
        "supported": True,
        "definition": {"model": "farmbridge-sim", "vendor": "farmbridge", "exposes": exposes},
    }
