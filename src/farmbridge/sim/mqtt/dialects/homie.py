"""Homie 5, device side: retained properties described by `$description`."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

from farmbridge.domain.mqtt import Publish
from farmbridge.sim.devices import DeviceSpec, SensorSpecIn, State
from farmbridge.sim.events import SimEvent
from farmbridge.sim.mqtt.commands import Outcome, Request
from farmbridge.sim.mqtt.dialects._payload import (
    is_on,
    json_bytes,
    number_text,
    target_position,
)
from farmbridge.sim.mqtt.dialects.base import Dialect

HOMIE_VERSION: Final = "5"
HOMIE_SENSOR_NODE: Final = "sensors"


class HomieDialect(Dialect):
    """Homie 5: a node per device (`sensors`, or the actuator), a property per quantity."""

    name = "homie"
    reply_reports_state = True
    command_example = 'pump.power {"value": true}; vent.target {"value": 40}'

    def _base(self, d: DeviceSpec) -> str:
        return f"{self.prefix}{HOMIE_VERSION}/{d.name}"

    @staticmethod
    def _node(d: DeviceSpec) -> str:
        return d.actuator or HOMIE_SENSOR_NODE

    @staticmethod
    def _prop(sensor: SensorSpecIn) -> str:
        # Homie ids are lowercase letters, digits and hyphens.
        return sensor.name.replace("_", "-")

    def sensor_name(self, device: DeviceSpec, sensor: SensorSpecIn) -> str:
        return f"{self._node(device)}.{self._prop(sensor)}"

    def subscriptions(self, device: DeviceSpec) -> list[str]:
        return [f"{self._base(device)}/+/+/set"]

    def _state(self, d: DeviceSpec, state: str) -> Publish:
        return Publish(f"{self._base(d)}/$state", state.encode(), retain=True)

    def will(self, device: DeviceSpec) -> Publish:
        return self._state(device, "lost")

    def description(self, device: DeviceSpec) -> dict[str, Any]:
        """The device's `$description` document."""
        props: dict[str, Any] = {
            self._prop(s): {"name": s.name, "datatype": "float", "unit": s.unit}
            for s in device.sensors
        }
        if device.actuator in ("pump", "fan"):
            props["power"] = {"name": "Power", "datatype": "boolean", "settable": True}
        elif device.actuator == "vent":
            props["target"] = {
                "name": "Target position",
                "datatype": "integer",
                "format": "0:100",
                "unit": "%",
                "settable": True,
            }
        nodes = {self._node(device): {"name": device.title, "properties": props}}
        return {
            "homie": "5.0",
            # Changes whenever the description does, as Homie 5 asks.
            "version": zlib.crc32(json_bytes(nodes)),
            "name": device.title,
            "nodes": nodes,
        }

    def birth(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        desc = Publish(
            f"{self._base(device)}/$description", json_bytes(self.description(device)), True
        )
        return [
            self._state(device, "init"),
            desc,
            *self.status(device, state, now_ms),
            self._state(device, "ready"),
        ]

    def farewell(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._state(device, "disconnected")]

    def heartbeat(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._state(device, "ready")]

    def status(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        base = self._base(device)
        if device.actuator in ("pump", "fan"):
            value = b"true" if is_on(state) else b"false"
            return [Publish(f"{base}/{device.actuator}/power", value, retain=True)]
        if device.actuator == "vent":
            return [
                Publish(f"{base}/vent/target", str(target_position(state)).encode(), retain=True)
            ]
        return []

    def telemetry(
        self,
        device: DeviceSpec,
        readings: Mapping[str, float],
        state: State,
        now_ms: int,
        message_id: str,
    ) -> list[Publish]:
        base, node = self._base(device), self._node(device)
        return [
            Publish(
                f"{base}/{node}/{self._prop(s)}",
                number_text(readings[s.name]).encode(),
                retain=True,
            )
            for s in device.sensors
            if s.name in readings
        ]

    def events(self, device: DeviceSpec, events: Sequence[SimEvent]) -> list[Publish]:
        # Warnings and alarms are alerts, active until their `_cleared` event; the rest logs.
        base, out = self._base(device), []
        for e in events:
            if e.code.endswith("_cleared"):
                alert = e.code.removesuffix("_cleared").replace("_", "-")
                out.append(Publish(f"{base}/$alert/{alert}", b"", retain=True))
            elif e.level in ("warning", "alarm"):
                alert = e.code.replace("_", "-")
                out.append(Publish(f"{base}/$alert/{alert}", e.message.encode(), retain=True))
            else:
                out.append(Publish(f"{base}/$log/info", e.message.encode()))
        return out

    def command(
        self, device: DeviceSpec, topic: str, payload: bytes, state: State, now_ms: int
    ) -> Request | None:
        head = f"{self._base(device)}/"
        if not topic.startswith(head) or not topic.endswith("/set"):
            return None
        parts = topic[len(head) : -len("/set")].split("/")
        if len(parts) != 2:
            return None
        target = "/".join(parts)
        text = payload.decode("utf-8", "replace").strip()
        if device.actuator in ("pump", "fan") and target == f"{device.actuator}/power":
            if text not in ("true", "false"):
                return Request(target, error=f"power takes true or false, not {text!r}")
            return Request(target, "on" if text == "true" else "off")
        if device.actuator == "vent" and target == "vent/target":
            try:
                position = float(text)
            except ValueError:
                return Request(target, error=f"target takes an integer, not {text!r}")
            return Request(target, "set", {"position": position})
        return Request(target, error=f"{target} is not a settable property")

    def reply(
        self, device: DeviceSpec, request: Request, outcome: Outcome, state: State, now_ms: int
    ) -> list[Publish]:
        if not outcome.ok:
            message = f"{request.target}: {outcome.detail}".encode()
            return [Publish(f"{self._base(device)}/$log/warn", message)]
        return self.status(device, state, now_ms)
