"""ESPHome's MQTT component, device side: an entity per quantity or actuator."""

from __future__ import annotations

from collections.abc import Mapping

from farmbridge.domain.mqtt import Publish
from farmbridge.sim.devices import DeviceSpec, State
from farmbridge.sim.mqtt.commands import Outcome, Request
from farmbridge.sim.mqtt.dialects._payload import (
    is_on,
    json_object,
    number_text,
    switch_action,
    target_position,
)
from farmbridge.sim.mqtt.dialects.base import Dialect


class EsphomeDialect(Dialect):
    """ESPHome's MQTT component with the node name as topic prefix: a `sensor` per
    quantity, a `switch` per actuator (the vent's opens it), a `number` for the vent's
    target position."""

    name = "esphome"
    reply_reports_state = True
    command_example = 'pump {"value": "ON"} (switches pump, fan, vent)'

    def _node(self, d: DeviceSpec) -> str:
        return f"{self.prefix}{d.name}"

    def subscriptions(self, device: DeviceSpec) -> list[str]:
        return [f"{self._node(device)}/+/+/command"]

    def _availability(self, d: DeviceSpec, online: bool) -> Publish:
        return Publish(f"{self._node(d)}/status", b"online" if online else b"offline", True)

    def will(self, device: DeviceSpec) -> Publish:
        return self._availability(device, False)

    def birth(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._availability(device, True), *self.status(device, state, now_ms)]

    def farewell(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._availability(device, False)]

    def heartbeat(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._availability(device, True)]

    def status(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        node = self._node(device)
        if device.actuator in ("pump", "fan"):
            on = b"ON" if is_on(state) else b"OFF"
            return [Publish(f"{node}/switch/{device.actuator}/state", on)]
        if device.actuator == "vent":
            target = target_position(state)
            return [
                Publish(f"{node}/switch/vent/state", b"ON" if target > 0 else b"OFF"),
                Publish(f"{node}/number/target/state", str(target).encode()),
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
        node = self._node(device)
        return [
            Publish(f"{node}/sensor/{name}/state", number_text(value).encode())
            for name, value in readings.items()
        ]

    def command(
        self, device: DeviceSpec, topic: str, payload: bytes, state: State, now_ms: int
    ) -> Request | None:
        head = f"{self._node(device)}/"
        if not topic.startswith(head) or not topic.endswith("/command"):
            return None
        parts = topic[len(head) : -len("/command")].split("/")
        if len(parts) != 2:
            return None
        component, object_id = parts
        target = f"{component}/{object_id}"
        text = payload.decode("utf-8", "replace").strip()
        if component == "light" and text.startswith("{"):
            body = json_object(payload) or {}
            text = str(body.get("state", ""))
        if device.actuator and component in ("switch", "light") and object_id == device.actuator:
            action = switch_action(device.actuator, text, state)
            if action is None:
                return Request(target, error=f"expected ON, OFF or TOGGLE, not {text!r}")
            return Request(target, action)
        if device.actuator == "vent" and component == "number" and object_id == "target":
            try:
                return Request(target, "set", {"position": float(text)})
            except ValueError:
                return Request(target, error=f"not a number: {text!r}")
        return Request(target, error=f"no {component} {object_id!r} on this node")

    def reply(
        self, device: DeviceSpec, request: Request, outcome: Outcome, state: State, now_ms: int
    ) -> list[Publish]:
        # ESPHome answers a command with the entity's new state, and a bad one with nothing.
        return self.status(device, state, now_ms) if outcome.ok else []
