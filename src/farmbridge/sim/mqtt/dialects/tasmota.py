"""Tasmota, device side: `tele/` reports, `cmnd/` commands answered on `stat/`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from farmbridge.domain.mqtt import Publish
from farmbridge.sim.devices import DeviceSpec, State
from farmbridge.sim.mqtt.commands import Outcome, Request
from farmbridge.sim.mqtt.dialects._payload import (
    is_on,
    json_bytes,
    local_time,
    switch_action,
    target_position,
)
from farmbridge.sim.mqtt.dialects.base import Dialect


class TasmotaDialect(Dialect):
    """Tasmota with the default FullTopic `%prefix%/%topic%/`; the device name is its topic."""

    name = "tasmota"
    command_example = 'POWER {"value": "ON"}; vent: ShutterPosition1 {"value": 40}'

    def _topic(self, kind: str, d: DeviceSpec, what: str) -> str:
        return f"{self.prefix}{kind}/{d.name}/{what}"

    def subscriptions(self, device: DeviceSpec) -> list[str]:
        return [self._topic("cmnd", device, "+")]

    def will(self, device: DeviceSpec) -> Publish:
        return Publish(self._topic("tele", device, "LWT"), b"Offline", retain=True)

    def birth(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        lwt = Publish(self._topic("tele", device, "LWT"), b"Online", retain=True)
        return [lwt, *self.status(device, state, now_ms)]

    def farewell(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [Publish(self._topic("tele", device, "LWT"), b"Offline", retain=True)]

    def status(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        body: dict[str, Any] = {"Time": local_time(now_ms)}
        if device.actuator in ("pump", "fan"):
            body["POWER"] = "ON" if is_on(state) else "OFF"
        elif device.actuator == "vent":
            body["Shutter1"] = {"Target": target_position(state)}
        return [Publish(self._topic("tele", device, "STATE"), json_bytes(body))]

    def telemetry(
        self,
        device: DeviceSpec,
        readings: Mapping[str, float],
        state: State,
        now_ms: int,
        message_id: str,
    ) -> list[Publish]:
        if not readings:
            return []
        body: dict[str, Any] = {"Time": local_time(now_ms), **readings}
        if "temperature" in readings:
            body["TempUnit"] = "C"
        return [Publish(self._topic("tele", device, "SENSOR"), json_bytes(body))]

    def command(
        self, device: DeviceSpec, topic: str, payload: bytes, state: State, now_ms: int
    ) -> Request | None:
        head = self._topic("cmnd", device, "")
        name = topic[len(head) :]
        if not topic.startswith(head) or not name or "/" in name:
            return None
        text = payload.decode("utf-8", "replace").strip()
        command = name.casefold()
        if device.actuator in ("pump", "fan") and command in ("power", "power1"):
            if not text:
                return Request("POWER")  # a query
            word = {"1": "ON", "0": "OFF", "2": "TOGGLE", "true": "ON", "false": "OFF"}
            action = switch_action(device.actuator, word.get(text.casefold(), text), state)
            return Request("POWER", action) if action else Request("POWER", error="Error")
        if device.actuator == "vent":
            if command in ("shutterposition", "shutterposition1"):
                if not text:
                    return Request(name)
                try:
                    return Request(name, "set", {"position": float(text)})
                except ValueError:
                    return Request(name, error="Error")
            if command in ("shutteropen", "shutteropen1"):
                return Request(name, "open")
            if command in ("shutterclose", "shutterclose1"):
                return Request(name, "close")
        return Request(name, error="Unknown")

    def reply(
        self, device: DeviceSpec, request: Request, outcome: Outcome, state: State, now_ms: int
    ) -> list[Publish]:
        if request.error is not None:
            body: dict[str, Any] = {"Command": request.error}
        elif not outcome.ok:
            body = {"Command": "Error"}
        elif request.target == "POWER":
            body = {"POWER": "ON" if is_on(state) else "OFF"}
        else:
            # What ShutterPosition answers (the Position moves on; the Target is set).
            target = target_position(state)
            body = {"Shutter1": {"Position": target, "Direction": 0, "Target": target}}
        return [Publish(self._topic("stat", device, "RESULT"), json_bytes(body))]
