"""The native convention, device side: JSON telemetry, status, events and acked commands."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from farmbridge.domain.mqtt import Publish
from farmbridge.sim.devices import MAX_ACK_DETAIL_CHARS, DeviceSpec, State
from farmbridge.sim.events import SimEvent
from farmbridge.sim.mqtt.commands import Outcome, Request
from farmbridge.sim.mqtt.dialects._payload import json_bytes, json_object
from farmbridge.sim.mqtt.dialects.base import Dialect

log = logging.getLogger(__name__)


class NativeDialect(Dialect):
    name = "native"
    command_example = 'on, off, toggle, run {"duration_s": 60}; vent: set {"position": 40}'

    def _base(self, d: DeviceSpec) -> str:
        return f"{self.prefix}{self.farm}/{d.name}"

    def subscriptions(self, device: DeviceSpec) -> list[str]:
        return [f"{self._base(device)}/commands"]

    def will(self, device: DeviceSpec) -> Publish:
        # No ts: the will is fixed at connect time, so the bridge stamps it on arrival.
        return Publish(
            f"{self._base(device)}/status", json_bytes({"state": "offline"}), retain=True
        )

    def _status(self, d: DeviceSpec, online: bool, state: State, now_ms: int) -> Publish:
        body = {"state": "online" if online else "offline", "actuator": dict(state), "ts": now_ms}
        return Publish(f"{self._base(d)}/status", json_bytes(body), retain=True)

    def birth(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._status(device, True, state, now_ms)]

    def farewell(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._status(device, False, state, now_ms)]

    def status(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._status(device, True, state, now_ms)]

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
        body = {"message_id": message_id, "ts": now_ms, "readings": dict(readings)}
        return [Publish(f"{self._base(device)}/telemetry", json_bytes(body))]

    def events(self, device: DeviceSpec, events: Sequence[SimEvent]) -> list[Publish]:
        if not events:
            return []
        body = [
            {"level": e.level, "code": e.code, "message": e.message, "ts": e.ts_ms} for e in events
        ]
        return [Publish(f"{self._base(device)}/events", json_bytes(body))]

    def command(
        self, device: DeviceSpec, topic: str, payload: bytes, state: State, now_ms: int
    ) -> Request | None:
        if topic != f"{self._base(device)}/commands":
            return None
        body = json_object(payload)
        command_id = body.get("id") if body is not None else None
        if body is None or isinstance(command_id, bool) or not isinstance(command_id, int):
            log.warning("%s: a command without an id cannot be answered: %r", device.name, payload)
            return None
        action, params, expires = body.get("action"), body.get("params") or {}, body.get("expires")
        if isinstance(expires, int) and expires < now_ms:
            return Request(
                str(command_id), id=command_id, error="expired before it reached the device"
            )
        if not isinstance(action, str) or not isinstance(params, dict):
            error = "action must be a string and params an object"
            return Request(str(command_id), id=command_id, error=error)
        return Request(str(command_id), action, params, id=command_id)

    def reply(
        self, device: DeviceSpec, request: Request, outcome: Outcome, state: State, now_ms: int
    ) -> list[Publish]:
        body = {"id": request.id, "ok": outcome.ok, "detail": outcome.detail[:MAX_ACK_DETAIL_CHARS]}
        return [Publish(f"{self._base(device)}/commands/ack", json_bytes(body))]
