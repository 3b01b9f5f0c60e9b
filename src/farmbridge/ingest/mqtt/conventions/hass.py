"""The Home Assistant MQTT discovery convention: configs in, then the state topics they name."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, ClassVar, Final

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
)
from farmbridge.ingest.fields import (
    at,
    bad,
    clean_name,
    optional,
    reading,
    shown,
    string,
    utf8_text,
)
from farmbridge.ingest.mqtt.conventions._payload import json_of, object_of, state_shows
from farmbridge.ingest.mqtt.conventions._template import PLAIN, ValueTemplate, parse
from farmbridge.ingest.mqtt.conventions.base import Mapped, OutgoingCommand, Watch

DEFAULT_DISCOVERY_PREFIX: Final = "homeassistant"
_COMPONENTS: Final = frozenset({"sensor", "binary_sensor", "switch"})
# The abbreviations of the keys read here, from HA's MQTT discovery documentation.
_ABBREVIATIONS: Final = {
    "stat_t": "state_topic",
    "cmd_t": "command_topic",
    "avty_t": "availability_topic",
    "unit_of_meas": "unit_of_measurement",
    "val_tpl": "value_template",
    "pl_on": "payload_on",
    "pl_off": "payload_off",
    "stat_on": "state_on",
    "stat_off": "state_off",
    "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available",
    "uniq_id": "unique_id",
    "dev": "device",
    "ids": "identifiers",
    "cns": "connections",
}
_TOPIC_KEYS: Final = ("state_topic", "command_topic", "availability_topic")


@dataclass(frozen=True, slots=True)
class _Entity:
    component: str
    device: DeviceRef
    title: str
    sensor: str
    unit: str
    template: ValueTemplate
    state_topic: str | None
    command_topic: str | None
    availability_topic: str | None
    payload_on: str
    payload_off: str
    state_on: str
    state_off: str
    payload_available: str
    payload_not_available: str
    # What makes two configs one device in HA: its identifiers and connections, and
    # whether this config named the device itself (device.name) or only pointed at it.
    identity: frozenset[str]
    named: bool


class HassConvention:
    """Devices announcing themselves by HA MQTT discovery (Tasmota, ESPHome, Zigbee2MQTT...).

    Bind it with an empty prefix: the discovery prefix is part of its filters, and the
    state topics configs name are absolute. Entities of the sensor, binary_sensor and
    switch components are read; what it learns lives in this instance, rebuilt from the
    retained configs after a restart.
    """

    name: ClassVar[str] = "hass"

    def __init__(self, *, discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX) -> None:
        """`discovery_prefix`: HA's `discovery_prefix` setting, `homeassistant` by default."""
        self._prefix = discovery_prefix
        self._entities: dict[str, _Entity] = {}  # config topic -> entity
        self._by_state: dict[str, list[_Entity]] = {}
        self._by_availability: dict[str, list[_Entity]] = {}
        self._watched: set[str] = set()
        self._devices: dict[str, tuple[DeviceRef, str]] = {}  # identity -> device, title

    def filters(self) -> list[str]:
        # Learned state topics too, so a bridge that re-subscribes from filters() keeps them.
        p = self._prefix
        return [f"{p}/+/+/config", f"{p}/+/+/+/config", *sorted(self._watched)]

    def map(self, topic: str, payload: bytes, now_ms: int) -> list[Mapped]:
        if topic.startswith(f"{self._prefix}/") and topic.endswith("/config"):
            parts = topic[len(self._prefix) + 1 :].split("/")
            if len(parts) in (3, 4):
                return self._config(topic, parts, payload)
        entities = self._by_state.get(topic, [])
        available = self._by_availability.get(topic, [])
        if not entities and not available:
            return []
        text = utf8_text(payload, topic)
        out: list[Mapped] = _liveness(available, text, now_ms)
        if entities:
            out.extend(_states(entities, text, payload, now_ms))
        return out

    def command(self, device: DeviceRef, cmd: OutgoingCommand) -> list[Publish]:
        for e in self._entities.values():
            if e.device.name == device.name and e.sensor == cmd.action and e.command_topic:
                on = _on_off(cmd.params.get("value"))
                return [Publish(e.command_topic, (e.payload_on if on else e.payload_off).encode())]
        raise BadPayload(f"{device.name!r} has no discovered entity {cmd.action!r} to command")

    def completes(self, cmd: OutgoingCommand, reply: CommandReply) -> bool:
        try:
            requested = "ON" if _on_off(cmd.params.get("value")) else "OFF"
        except BadPayload:
            return False
        return state_shows(reply.state, cmd.action, requested, normal=str)

    def _config(self, topic: str, parts: list[str], payload: bytes) -> list[Mapped]:
        component, object_id = parts[0], parts[-2]
        if component not in _COMPONENTS:
            return []
        if not payload.strip():
            self._forget(topic)
            return []  # the entity was removed
        node_id = parts[1] if len(parts) == 4 else None
        entity = self._device_of(_entity(component, node_id, object_id, payload))
        if self._entities.get(topic) == entity:
            return []  # a retained config seen before
        out: list[Mapped] = [*self._learn(topic, entity), *self._rehome(entity)]
        return out

    def _device_of(self, entity: _Entity) -> _Entity:
        """`entity` on the device HA would put it on: a config that names its device only
        by identifiers or connections joins the device a config named with them."""
        shared = sorted(k for k in entity.identity if k in self._devices)
        known = self._devices[shared[0]] if shared else None
        if entity.named or known is None:
            for key in entity.identity:
                if entity.named or key not in self._devices:
                    self._devices[key] = (entity.device, entity.title)
            return entity
        device, title = known
        return replace(entity, device=device, title=title)

    def _rehome(self, named: _Entity) -> list[Mapped]:
        """Entities learned before their device was named (retained configs come in any
        order), moved onto the named device and discovered there."""
        if not named.named:
            return []
        out: list[Mapped] = []
        for topic, e in list(self._entities.items()):
            if not e.named and e.device != named.device and e.identity & named.identity:
                out.extend(self._learn(topic, replace(e, device=named.device, title=named.title)))
        return out

    def _learn(self, topic: str, entity: _Entity) -> list[Mapped]:
        self._forget(topic)
        self._entities[topic] = entity
        if entity.state_topic:
            self._by_state.setdefault(entity.state_topic, []).append(entity)
        if entity.availability_topic:
            self._by_availability.setdefault(entity.availability_topic, []).append(entity)
        out: list[Mapped] = [Discovered(entity.device, entity.title, {entity.sensor: entity.unit})]
        for watch in (entity.state_topic, entity.availability_topic):
            if watch and watch not in self._watched:
                self._watched.add(watch)
                out.append(Watch(watch))
        return out

    def _forget(self, topic: str) -> None:
        # Subscriptions stay: the protocol has no Unwatch, and a silent topic costs nothing.
        old = self._entities.pop(topic, None)
        if old is None:
            return
        for index, key in (
            (self._by_state, old.state_topic),
            (self._by_availability, old.availability_topic),
        ):
            if key and key in index:
                index[key] = [e for e in index[key] if e is not old]


def _entity(component: str, node_id: str | None, object_id: str, payload: bytes) -> _Entity:
    raw = object_of(json_of(payload, "config"), "config")
    body = {_ABBREVIATIONS.get(k, k): v for k, v in raw.items()}
    base = optional(string, body.get("~"), "config.~", wording="{shown} is not a topic")
    topics = {key: _topic(body.get(key), key, base) for key in _TOPIC_KEYS}
    if topics["state_topic"] is None and component != "switch":
        raise bad("config", f"a {component} needs a state_topic")
    device = object_of(body.get("device", {}), "config.device")
    device = {_ABBREVIATIONS.get(k, k): v for k, v in device.items()}
    device_title = device.get("name")
    identifiers = device.get("identifiers")
    identifiers = identifiers if isinstance(identifiers, list) else [identifiers]
    identity = {f"id:{i}" for i in identifiers if isinstance(i, str) and i}
    connections = device.get("connections")
    for pair in connections if isinstance(connections, list) else []:
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair):
            identity.add(f"cn:{pair[0]}:{pair[1]}")
    first_id = identifiers[0] if identifiers else None
    named = [v for v in (device_title, first_id, node_id, object_id) if isinstance(v, str) and v]
    if not named:
        raise bad("config", "no device name, identifier, node_id or object_id")
    template = body.get("value_template")
    unit = body.get("unit_of_measurement")
    payload_on = _text(body.get("payload_on", "ON"), "payload_on")
    payload_off = _text(body.get("payload_off", "OFF"), "payload_off")
    # Only a switch reports state apart from its command payloads (state_on/state_off).
    switch = component == "switch"
    state_on = _text(body.get("state_on", payload_on), "state_on") if switch else payload_on
    state_off = _text(body.get("state_off", payload_off), "state_off") if switch else payload_off
    return _Entity(
        component=component,
        device=DeviceRef(name=clean_name(named[0])),
        title=named[0],
        sensor=clean_name(object_id),
        unit="" if unit is None else _text(unit, "unit_of_measurement"),
        template=PLAIN if template is None else parse(_text(template, "value_template")),
        state_topic=topics["state_topic"],
        command_topic=topics["command_topic"],
        availability_topic=topics["availability_topic"],
        payload_on=payload_on,
        payload_off=payload_off,
        state_on=state_on,
        state_off=state_off,
        payload_available=_text(body.get("payload_available", "online"), "payload_available"),
        payload_not_available=_text(
            body.get("payload_not_available", "offline"), "payload_not_available"
        ),
        identity=frozenset(identity),
        named=isinstance(device_title, str) and bool(device_title),
    )


def _topic(raw: Any, key: str, base: str | None) -> str | None:
    where = at("config", key)
    given = optional(string, raw, where, min_chars=1, wording="{shown} is not a topic")
    if given is None:
        return None
    topic = given
    # HA replaces `~` with the base topic at the start or the end of a topic value.
    if base is not None and topic.startswith("~"):
        topic = base + topic[1:]
    elif base is not None and topic.endswith("~"):
        topic = topic[:-1] + base
    if any(c in topic for c in "+#\0"):
        raise bad(where, f"{shown(topic)} is not a topic name")
    return topic


def _text(raw: Any, key: str) -> str:
    # HA's config schema (cv.string) coerces any scalar with str(): Zigbee2MQTT's binary
    # sensors give `payload_on: true`, which HA compares as "True" with the rendered state.
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool | int | float):
        return str(raw)
    raise bad(at("config", key), f"{shown(raw)} is not text")


def _on_off(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.casefold() in ("on", "true", "off", "false"):
        return value.casefold() in ("on", "true")
    raise bad("params.value", f"{shown(value)} is not ON, OFF, true or false")


def _liveness(entities: list[_Entity], text: str, now_ms: int) -> list[Mapped]:
    # Entities of one device may spell availability differently; one match per device does.
    out: dict[DeviceRef, Mapped] = {}
    for e in entities:
        if text in (e.payload_available, e.payload_not_available):
            online = text == e.payload_available
            out.setdefault(e.device, Liveness(e.device, online, now_ms))
    if entities and not out:
        raise bad("availability", f"{shown(text)} is neither available nor not available")
    return list(out.values())


def _states(entities: list[_Entity], text: str, payload: bytes, now_ms: int) -> list[Mapped]:
    """One Data per device fed by this state topic, and its state for command completion.

    One topic often feeds many entities (Tasmota's tele/SENSOR); an entity whose template
    finds nothing in this message is skipped, as HA does, unless none found anything.
    """
    document = cache(lambda: json_of(payload, "state"))
    readings: dict[DeviceRef, list[ReportedReading]] = defaultdict(list)
    units: dict[DeviceRef, dict[str, str]] = defaultdict(dict)
    states: dict[DeviceRef, dict[str, Any]] = defaultdict(dict)
    commanded: set[DeviceRef] = set()
    errors: list[str] = []
    for e in entities:
        try:
            value, shown_state = _value(e, e.template.render(text, document))
        except BadPayload as exc:
            errors.append(f"{e.sensor}: {exc.message}")
            continue
        readings[e.device].append(ReportedReading(e.sensor, value, now_ms))
        if e.unit:
            units[e.device][e.sensor] = e.unit
        states[e.device][e.sensor] = shown_state
        if e.command_topic:
            commanded.add(e.device)
    if not readings:
        raise BadPayload("; ".join(errors[:3]))
    out: list[Mapped] = []
    for device, device_readings in readings.items():
        out.append(Data(device, DeviceReport(readings=device_readings), units.get(device, {})))
        if device in commanded:
            out.append(CommandReply(device, None, state=states[device]))
    return out


def _value(e: _Entity, rendered: Any) -> tuple[float, Any]:
    """The reading, and the state a command's completion compares against."""
    if e.component == "sensor":
        value = reading(rendered, e.sensor)
        return value, value
    # Jinja renders booleans as True/False; HA compares that text with payload_on/off.
    text = str(rendered) if isinstance(rendered, str | int | float | bool) else None
    if text == e.state_on:
        return 1.0, "ON"
    if text == e.state_off:
        return 0.0, "OFF"
    raise BadPayload(f"{shown(rendered)} is neither {e.state_on!r} nor {e.state_off!r}")
