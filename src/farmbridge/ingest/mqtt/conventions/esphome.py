"""The ESPHome convention: `{node}/{component}/{object_id}/state` and `{node}/status`."""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, Final

from farmbridge.domain import DeviceState
from farmbridge.domain.actuator import POWER, power_word
from farmbridge.domain.errors import BadPayload
from farmbridge.domain.mqtt import Publish
from farmbridge.domain.reports import (
    CommandReply,
    Data,
    DeviceRef,
    DeviceReport,
    Discovered,
    Liveness,
    ReportedReading,
    ReportedStatus,
)
from farmbridge.ingest.fields import bad, clean_name, reading, shown, utf8_text
from farmbridge.ingest.mqtt.conventions._generic import (
    GENERIC_ACTIONS,
    Generic,
    Remembered,
    generic,
    number_text,
    pick,
    unsupported,
)
from farmbridge.ingest.mqtt.conventions._payload import (
    dumps,
    json_of,
    object_of,
    segment,
    state_shows,
)
from farmbridge.ingest.mqtt.conventions.base import Mapped, OutgoingCommand

DEFAULT_COMPONENT: Final = "switch"
DEFAULT_DISCOVERY_PREFIX: Final = "homeassistant"
_READING: Final = frozenset({"sensor", "binary_sensor", "number"})
# A number is a setting as much as a reading: its state also completes commands.
_SETTABLE: Final = frozenset({"number"})
_SWITCHING: Final = frozenset({"switch", "light", "fan"})
_COMPONENT: Final = re.compile(r"[a-z][a-z0-9_]*")


class EsphomeConvention:
    """ESPHome nodes with the default topic prefix (the node name) under the binding's prefix.

    Sensor names are the entity's object_id alone: ESPHome makes object ids unique per
    node, and the component is not part of what a reading means. Units come from the Home
    Assistant discovery configs the nodes publish (`unit_of_meas`), when they do.
    """

    name: ClassVar[str] = "esphome"

    def __init__(self, *, discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX) -> None:
        """`discovery_prefix`: the nodes' `mqtt: discovery_prefix`, from the broker's root."""
        self._discovery_prefix = discovery_prefix
        self._units: dict[tuple[str, str], str] = {}  # (device, sensor) -> unit
        # node -> object_id -> component, of the entities a generic command can drive
        self._entities: dict[str, dict[str, str]] = {}
        self._generic = Remembered()

    def filters(self) -> list[str]:
        return ["+/status", "+/+/+/state"]

    def discovery_filters(self) -> list[str]:
        # ESPHome's config topic: <discovery_prefix>/<component>/<node name>/<object_id>/config
        return [f"{self._discovery_prefix}/+/+/+/config"]

    def discovery(self, topic: str, payload: bytes, now_ms: int, *, prefix: str) -> list[Mapped]:
        parts = topic.split("/")
        if len(parts) != 5 or parts[0] != self._discovery_prefix or parts[1] not in _READING:
            return []
        if not payload.strip():
            return []  # removed: the sensor stays, with its unit
        try:
            config = object_of(json_of(payload, "config"), "config")
        except BadPayload:
            return []  # not ESPHome's: ESPHome writes JSON objects
        # Ours when its state topic is `<prefix><node>/<component>/<object_id>/state`.
        state_topic = config.get("stat_t", config.get("state_topic"))
        if not isinstance(state_topic, str) or not state_topic.startswith(prefix):
            return []
        levels = state_topic[len(prefix) :].split("/")
        if len(levels) != 4 or levels[1] != parts[1] or levels[3] != "state":
            return []
        unit = config.get("unit_of_meas", config.get("unit_of_measurement", ""))
        if not isinstance(unit, str):
            raise bad("config.unit_of_measurement", f"{shown(unit)} is not text")
        device, sensor = DeviceRef(name=clean_name(levels[0])), clean_name(levels[2])
        if unit:
            self._units[(device.name or "", sensor)] = unit
        return [Discovered(device, levels[0], {sensor: unit})]

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
        if component in _SWITCHING or component in _SETTABLE:
            self._entities.setdefault(node, {})[object_id] = component
        if component in _READING:
            text = utf8_text(payload, where)
            sensor = clean_name(object_id)
            reported = ReportedReading(sensor, reading(text, where), now_ms)
            unit = self._units.get((device.name or "", sensor))
            data = Data(device, DeviceReport(readings=[reported]), {sensor: unit} if unit else {})
            if component in _SETTABLE:
                return [data, CommandReply(device, None, state={object_id: text})]
            return [data]
        state = {object_id: _on_off(component, payload, where)}
        status = ReportedStatus(DeviceState.ONLINE, self._actuator(node, state), now_ms)
        return [Data(device, DeviceReport(status=status)), CommandReply(device, None, state=state)]

    def _actuator(self, node: str, state: dict[str, str]) -> dict[str, str]:
        """A switch's state in the domain's words: `power` for the node's only switch,
        light or fan, `power.<object_id>` for each of several."""
        switching = [i for i, c in self._entities.get(node, {}).items() if c in _SWITCHING]
        return {
            (POWER if switching == [object_id] else f"{POWER}.{object_id}"): power_word(
                text == "ON"
            )
            for object_id, text in state.items()
        }

    def command(self, device: DeviceRef, cmd: OutgoingCommand) -> list[Publish]:
        node = segment(device.name, "device's node name")
        translated = generic(cmd)
        if translated is not None:
            return [self._generic_command(node, cmd.id, translated)]
        object_id = segment(cmd.action, "entity's object_id")
        component = cmd.params.get("component", DEFAULT_COMPONENT)
        if not isinstance(component, str) or not _COMPONENT.fullmatch(component):
            raise bad("params.component", f"{shown(component)} is not an ESPHome component")
        text = _command_text(component, cmd.params.get("value"))
        # ESPHome's MQTT light speaks its JSON schema; the other components take plain text.
        payload = dumps({"state": text}, "light command") if component == "light" else text.encode()
        return [Publish(f"{node}/{component}/{object_id}/command", payload)]

    def _generic_command(self, node: str, command_id: int, g: Generic) -> Publish:
        """A generic command to the node's switch, light or fan (power), or its number
        (position or value), as it reported them; `target` names the object_id."""
        entities = self._entities.get(node, {})
        wanted = _SWITCHING if g.kind == "power" else _SETTABLE
        what = "switch, light or fan" if g.kind == "power" else "number"
        candidates = sorted(i for i, c in entities.items() if c in wanted)
        try:
            object_id = pick(candidates, g.target, what, node)
        except BadPayload as exc:
            raise unsupported("esphome", g, exc.message) from exc
        component = entities[object_id]
        if g.kind == "power":
            text = "TOGGLE" if g.on is None else ("ON" if g.on else "OFF")
        else:
            text = number_text(g.level)
        payload = dumps({"state": text}, "light command") if component == "light" else text.encode()
        self._generic.keep(command_id, object_id, text)
        return Publish(f"{node}/{component}/{segment(object_id, 'object_id')}/command", payload)

    def completes(self, cmd: OutgoingCommand, reply: CommandReply) -> bool:
        if cmd.action in GENERIC_ACTIONS:
            sent = self._generic.get(cmd.id)
            done = sent is not None and state_shows(reply.state, sent[0], sent[1])
            if done:
                self._generic.forget(cmd.id)
            return done
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
