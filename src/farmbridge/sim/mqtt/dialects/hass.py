"""Home Assistant MQTT discovery, device side: retained configs and a JSON state topic."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from farmbridge.domain.mqtt import Publish
from farmbridge.sim.devices import DeviceSpec, State
from farmbridge.sim.mqtt.commands import Outcome, Request
from farmbridge.sim.mqtt.dialects._payload import (
    is_on,
    json_bytes,
    switch_action,
    target_position,
)
from farmbridge.sim.mqtt.dialects.base import Dialect

HASS_DISCOVERY_PREFIX: Final = "homeassistant"
HASS_STATE_ROOT: Final = "farmbridge-sim"


_HASS_ID: Final = re.compile(r"[^A-Za-z0-9_-]")


class HassDialect(Dialect):
    """Devices announcing themselves by Home Assistant MQTT discovery (retained configs
    under `homeassistant/`), each with one JSON state topic under
    `{prefix}farmbridge-sim/{farm}/{device}/`."""

    name = "hass"
    reply_reports_state = True
    command_example = 'power {"value": "ON"} (pump, fan); vent: open {"value": "ON"}'

    def _root(self, d: DeviceSpec) -> str:
        return f"{self.prefix}{HASS_STATE_ROOT}/{self.farm}/{d.name}"

    def _node_id(self, d: DeviceSpec) -> str:
        return _HASS_ID.sub("_", f"{self.farm}_{d.name}")

    @staticmethod
    def _switch(d: DeviceSpec) -> str | None:
        if d.actuator in ("pump", "fan"):
            return "power"
        return "open" if d.actuator == "vent" else None

    @staticmethod
    def _switch_state(d: DeviceSpec, state: State) -> str:
        on = target_position(state) > 0 if d.actuator == "vent" else is_on(state)
        return "ON" if on else "OFF"

    def subscriptions(self, device: DeviceSpec) -> list[str]:
        return [f"{self._root(device)}/+/set"]

    def _availability(self, d: DeviceSpec, online: bool) -> Publish:
        text = b"online" if online else b"offline"
        return Publish(f"{self._root(d)}/availability", text, retain=True)

    def will(self, device: DeviceSpec) -> Publish:
        return self._availability(device, False)

    def configs(self, device: DeviceSpec) -> list[Publish]:
        """The retained discovery configs: a sensor per quantity, a switch per actuator."""
        root, node_id = self._root(device), self._node_id(device)
        common = {
            "stat_t": f"{root}/state",
            "avty_t": f"{root}/availability",
            "dev": {"ids": [node_id], "name": device.name, "mdl": "farmbridge simulator"},
        }
        out = []
        for s in device.sensors:
            config = {
                "name": s.name.replace("_", " ").capitalize(),
                "uniq_id": f"{node_id}_{s.name}",
                "val_tpl": f"{{{{ value_json.{s.name} }}}}",
                **({"unit_of_meas": s.unit} if s.unit else {}),
                **common,
            }
            topic = f"{HASS_DISCOVERY_PREFIX}/sensor/{node_id}/{s.name}/config"
            out.append(Publish(topic, json_bytes(config), retain=True))
        switch = self._switch(device)
        if switch is not None:
            config = {
                "name": switch.capitalize(),
                "uniq_id": f"{node_id}_{switch}",
                "cmd_t": f"{root}/{switch}/set",
                "val_tpl": f"{{{{ value_json.{switch} }}}}",
                **common,
            }
            topic = f"{HASS_DISCOVERY_PREFIX}/switch/{node_id}/{switch}/config"
            out.append(Publish(topic, json_bytes(config), retain=True))
        return out

    def birth(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [
            *self.configs(device),
            self._availability(device, True),
            *self.status(device, state, now_ms),
        ]

    def farewell(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._availability(device, False)]

    def heartbeat(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._availability(device, True)]

    def _state_doc(self, d: DeviceSpec, readings: Mapping[str, float], state: State) -> Publish:
        doc: dict[str, Any] = dict(readings)
        switch = self._switch(d)
        if switch is not None:
            doc[switch] = self._switch_state(d, state)
        return Publish(f"{self._root(d)}/state", json_bytes(doc))

    def status(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._state_doc(device, {}, state)] if self._switch(device) else []

    def telemetry(
        self,
        device: DeviceSpec,
        readings: Mapping[str, float],
        state: State,
        now_ms: int,
        message_id: str,
    ) -> list[Publish]:
        # Like most HA devices, the state topic repeats the switch with every report.
        if not readings and self._switch(device) is None:
            return []
        return [self._state_doc(device, readings, state)]

    def command(
        self, device: DeviceSpec, topic: str, payload: bytes, state: State, now_ms: int
    ) -> Request | None:
        head = f"{self._root(device)}/"
        if not topic.startswith(head) or not topic.endswith("/set"):
            return None
        object_id = topic[len(head) : -len("/set")]
        switch = self._switch(device)
        text = payload.decode("utf-8", "replace").strip()
        if switch is None or object_id != switch or device.actuator is None:
            return Request(object_id, error=f"no switch {object_id!r}")
        if text not in ("ON", "OFF"):
            return Request(object_id, error=f"expected ON or OFF, not {text!r}")
        return Request(object_id, switch_action(device.actuator, text, state))

    def reply(
        self, device: DeviceSpec, request: Request, outcome: Outcome, state: State, now_ms: int
    ) -> list[Publish]:
        return self.status(device, state, now_ms) if outcome.ok else []
