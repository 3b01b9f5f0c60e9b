"""ThingsBoard's gateway API, device side: one client speaking for every device."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from farmbridge.domain.mqtt import Publish
from farmbridge.sim.devices import MAX_ACK_DETAIL_CHARS, DeviceSpec, State
from farmbridge.sim.mqtt.commands import Outcome, Request
from farmbridge.sim.mqtt.dialects._payload import json_bytes, json_object
from farmbridge.sim.mqtt.dialects.base import Dialect

log = logging.getLogger(__name__)


class ThingsBoardDialect(Dialect):
    """The gateway API: one client names its devices in every payload."""

    name = "thingsboard"
    shared = True
    command_example = 'RPC methods are the model\'s actions: on, off, set {"position": 40}'

    def _topic(self, kind: str) -> str:
        return f"{self.prefix}v1/gateway/{kind}"

    def subscriptions(self, device: DeviceSpec) -> list[str]:
        return [self._topic("rpc")]

    def _connect(self, d: DeviceSpec) -> Publish:
        return Publish(self._topic("connect"), json_bytes({"device": d.name, "type": d.kind}))

    def birth(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._connect(device), *self.status(device, state, now_ms)]

    def farewell(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [Publish(self._topic("disconnect"), json_bytes({"device": device.name}))]

    def status(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        if not state:
            return []
        return [Publish(self._topic("attributes"), json_bytes({device.name: dict(state)}))]

    def heartbeat(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._connect(device)]

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
        body = {device.name: [{"ts": now_ms, "values": dict(readings)}]}
        return [Publish(self._topic("telemetry"), json_bytes(body))]

    def command(
        self, device: DeviceSpec, topic: str, payload: bytes, state: State, now_ms: int
    ) -> Request | None:
        if topic != self._topic("rpc"):
            return None
        body = json_object(payload)
        if body is None or body.get("device") != device.name:
            return None
        data = body.get("data")
        if not isinstance(data, dict) or "method" not in data:
            return None  # a reply (ours, echoed back on the shared topic)
        rpc_id, method, params = data.get("id"), data.get("method"), data.get("params") or {}
        if isinstance(rpc_id, bool) or not isinstance(rpc_id, int):
            log.warning("%s: an RPC without an id cannot be answered: %r", device.name, payload)
            return None
        if method == "setValue":  # ThingsBoard's switch and slider widgets' method
            return _set_value(device, rpc_id, data.get("params"))
        if not isinstance(method, str) or not isinstance(params, dict):
            return Request(
                device.name, id=rpc_id, error="method must be a string, params an object"
            )
        return Request(device.name, method, params, id=rpc_id)

    def reply(
        self, device: DeviceSpec, request: Request, outcome: Outcome, state: State, now_ms: int
    ) -> list[Publish]:
        detail = outcome.detail[:MAX_ACK_DETAIL_CHARS]
        data = {"success": True, "result": detail} if outcome.ok else {"error": detail}
        body = {"device": device.name, "id": request.id, "data": data}
        return [Publish(self._topic("rpc"), json_bytes(body))]


def _set_value(device: DeviceSpec, rpc_id: int, value: object) -> Request:
    """`setValue` true/false switches the pump or fan (opens or closes the vent); a number
    sets the vent's position."""
    if isinstance(value, bool):
        if device.actuator == "vent":
            return Request(device.name, "open" if value else "close", id=rpc_id)
        return Request(device.name, "on" if value else "off", id=rpc_id)
    if isinstance(value, int | float) and device.actuator == "vent":
        return Request(device.name, "set", {"position": float(value)}, id=rpc_id)
    return Request(device.name, id=rpc_id, error=f"setValue {value!r} does not fit this device")
