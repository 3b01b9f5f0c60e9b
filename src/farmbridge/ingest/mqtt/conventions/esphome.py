"""The ESPHome convention: `{node}/{component}/{object_id}/state` and `{node}/status`."""

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
    dumps,
    json_of,
    object_of,
    segment,
    state_shows,
)
from farmbridge.ingest.mqtt.conventions.base import Mapped, OutgoingCommand

DEFAULT_COMPONENT: Final = "switch"
_READING: Final = frozenset({"sensor", "binary_sensor"})
_SWITCHING: Final = frozenset({"switch", "light", "fan"})
_COMPONENT: Final = re.compile(r"[a-z][a-z0-9_]*")


class EsphomeConvention:
    """ESPHome nodes with the default topic prefix (the node name) under the binding's prefix.

    Sensor names are the entity's object_id alone: ESPHome makes object ids unique per
    node, and the component is not part of what a reading means.
    """

    name: ClassVar[str] = "esphome"

    def filters(self) -> list[str]:
        return ["+/status", "+/+/+/state"]

    def map(self, topic: str, payload: bytes, now_ms: int) -> list[Mapped]:
        parts = topic.split("/")
        if len(parts) == 2 and parts[1] == "status":
            return [_availability(DeviceRef(name=clean_name(parts[0])), payload, now_ms)]
        if len(parts) != 4 or parts[3] != "state":
            return []
        node, component, object_id = parts[:3]
        if component not in _READING and component not in _SWITCHING:
            return []  # text_sensor, cover, climate...: no reading or switch state
        device = DeviceRef(name=clean_name(node))
        where = f"{component}/{object_id}"
        if component in _READING:
            value = reading(utf8_text(payload, where), where)
            reported = ReportedReading(clean_name(object_id), value, now_ms)
            return [Data(device, DeviceReport(readings=[reported]))]
        state = {object_id: _on_off(component, payload, where)}
        status = ReportedStatus(DeviceState.ONLINE, state, now_ms)
        return [Data(device, DeviceReport(status=status)), CommandReply(device, None, state=state)]

    def command(self, device: DeviceRef, cmd: OutgoingCommand) -> list[Publish]:
        node = segment(device.name, "device's node name")
        object_id = segment(cmd.action, "entity's object_id")
        component = cmd.params.get("component", DEFAULT_COMPONENT)
        if not isinstance(component, str) or not _COMPONENT.fullmatch(component):
            raise bad("params.component", f"{shown(component)} is not an ESPHome component")
        text = _command_text(component, cmd.params.get("value"))
        # ESPHome's MQTT light speaks its JSON schema; the other components take plain text.
        payload = dumps({"state": text}, "light command") if component == "light" else text.encode()
        return [Publish(f"{node}/{component}/{object_id}/command", payload)]

    def completes(self, cmd: OutgoingCommand, reply: CommandReply) -> bool:
        component = cmd.params.get("component", DEFAULT_COMPONENT)
        try:
            requested = _command_text(str(component), cmd.params.get("value"))
        except BadPayload:
            return False
        return state_shows(reply.state, cmd.action, requested)


def _availability(device: DeviceRef, payload: bytes, now_ms: int) -> Liveness:
    text = utf8_text(payload, "status")
    if text not in ("online", "offline"):
        raise bad("status", f"expected online or offline, got {shown(text)}")
    return Liveness(device, text == "online", now_ms)


def _on_off(component: str, payload: bytes, where: str) -> str:
    text = utf8_text(payload, where)
    if component == "light" and text.startswith("{"):
        state = object_of(json_of(payload, where), where).get("state")
        text = state if isinstance(state, str) else ""
    upper = text.upper()
    if upper not in ("ON", "OFF"):
        raise bad(where, f"expected ON or OFF, got {shown(text)}")
    return upper


def _command_text(component: str, value: Any) -> str:
    if value is None:
        if component in _SWITCHING:
            return "TOGGLE"
        raise BadPayload(f"a {component} command needs params.value")
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if isinstance(value, float) and not math.isfinite(value):
        raise bad("params.value", f"{shown(value)} is not a finite number")
    if not isinstance(value, str | int | float):
        raise bad("params.value", f"{shown(value)} cannot be a command payload")
    text = str(value)
    if component in _SWITCHING and text.upper() not in ("ON", "OFF", "TOGGLE"):
        raise BadPayload(f"a {component} takes ON, OFF or TOGGLE, not {shown(value)}")
    return text.upper() if component in _SWITCHING else text
