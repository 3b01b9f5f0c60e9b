"""The Home Assistant MQTT discovery convention: configs in, then the state topics they name."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace
from functools import cache
from typing import Any, ClassVar, Final

from farmbridge.domain import DeviceState
from farmbridge.domain.actuator import POSITION, POWER, VALUE, power_word
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
from farmbridge.ingest.fields import bad, reading, shown, utf8_text
from farmbridge.ingest.mqtt.conventions._generic import (
    GENERIC_ACTIONS,
    Generic,
    Remembered,
    generic,
    number_text,
    pick,
    unsupported,
)
from farmbridge.ingest.mqtt.conventions._hass_config import (
    COMPONENTS,
    NUMERIC,
    Entity,
    components,
    entity,
    expanded,
)
from farmbridge.ingest.mqtt.conventions._payload import (
    json_of,
    object_of,
    state_shows,
    value_text,
)
from farmbridge.ingest.mqtt.conventions.base import Mapped, OutgoingCommand, Refused, Watch

DEFAULT_DISCOVERY_PREFIX: Final = "homeassistant"
DEVICE: Final = "device"  # the <component> level of a device config's topic
# A command_template whose only Jinja is `{{ value }}` (HA's docs' `{"state": "{{ value }}"}`).
_VALUE_ONLY: Final = re.compile(r"\{\{\s*value\s*\}\}")


class HassConvention:
    """Devices announcing themselves by HA MQTT discovery (Tasmota, ESPHome, Zigbee2MQTT...).

    Bind it with an empty prefix: the discovery prefix is part of its filters, and the
    state topics configs name are absolute. Entities of the sensor, binary_sensor, switch
    and number components are read, from single-component configs and from the components of
    device configs (`<prefix>/device/<id>/config`); a device config's other components are
    refused (logged and counted) once per config. What it learns lives in this instance,
    rebuilt from the retained configs after a restart.
    """

    name: ClassVar[str] = "hass"

    def __init__(self, *, discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX) -> None:
        """`discovery_prefix`: HA's `discovery_prefix` setting, `homeassistant` by default."""
        self._prefix = discovery_prefix
        # config topic (with #<component id> for a device config's) -> entity
        self._entities: dict[str, Entity] = {}
        self._by_state: dict[str, list[Entity]] = {}
        self._by_availability: dict[str, list[Entity]] = {}
        self._watched: set[str] = set()
        self._devices: dict[str, tuple[DeviceRef, str]] = {}  # identity -> device, title
        self._refused: dict[str, str] = {}  # device config component -> why, once said
        self._switch_states: dict[tuple[str | None, str], str] = {}  # (device, switch) -> ON/OFF
        self._generic = Remembered()

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
            out.extend(self._switched(_states(entities, text, payload, now_ms), now_ms))
        return out

    def _switches(self, device: DeviceRef, component: str = "switch") -> dict[str, Entity]:
        """The device's switches (or numbers) that take commands, by sensor name."""
        return {
            e.sensor: e
            for e in self._entities.values()
            if e.device.name == device.name and e.component == component and e.command_topic
        }

    def _switched(self, items: list[Mapped], now_ms: int) -> list[Mapped]:
        """The switches' and numbers' states of a state message as the devices' actuator
        state (`power` for a device's only switch, `power.<sensor>` for each of several;
        a number `position` when its unit is %, else `value`), the switches' also kept
        for a later toggle."""
        actuators: dict[DeviceRef, dict[str, Any]] = {}
        for item in items:
            if not isinstance(item, CommandReply):
                continue
            switches = self._switches(item.device)
            numbers = self._switches(item.device, "number")
            for sensor, state in item.state.items():
                if sensor in switches and state in ("ON", "OFF"):
                    self._switch_states[(item.device.name, sensor)] = state
                    key = POWER if list(switches) == [sensor] else f"{POWER}.{sensor}"
                    actuators.setdefault(item.device, {})[key] = power_word(state == "ON")
                elif sensor in numbers:
                    word = POSITION if numbers[sensor].unit == "%" else VALUE
                    key = word if list(numbers) == [sensor] else f"{word}.{sensor}"
                    actuators.setdefault(item.device, {})[key] = state
        out: list[Mapped] = []
        for item in items:
            actuator = actuators.get(item.device) if isinstance(item, Data) else None
            if isinstance(item, Data) and actuator:
                status = ReportedStatus(DeviceState.ONLINE, actuator, now_ms)
                item = replace(item, report=replace(item.report, status=status))
            out.append(item)
        return out

    def command(self, device: DeviceRef, cmd: OutgoingCommand) -> list[Publish]:
        translated = generic(cmd)
        if translated is not None:
            return [self._generic_command(device, cmd.id, translated)]
        for e in self._entities.values():
            if e.device.name == device.name and e.sensor == cmd.action and e.command_topic:
                if e.component == "number":
                    text = _number_value(cmd.params.get("value"))
                    return [Publish(e.command_topic, _templated(e, text).encode())]
                on = _on_off(cmd.params.get("value"))
                return [Publish(e.command_topic, (e.payload_on if on else e.payload_off).encode())]
        raise BadPayload(f"{device.name!r} has no discovered entity {cmd.action!r} to command")

    def _generic_command(self, device: DeviceRef, command_id: int, g: Generic) -> Publish:
        """on/off/toggle to the device's switch (`target` names its sensor) as its
        payload_on/payload_off, through its command_template when it has one."""
        if g.kind != "power":
            numbers = self._switches(device, "number")
            try:
                sensor = pick(
                    sorted(numbers), g.target, "number with a command_topic", str(device.name)
                )
            except BadPayload as exc:
                raise unsupported("hass", g, exc.message) from exc
            text = number_text(g.level)
            payload = self._render(numbers[sensor], g, text)
            self._generic.keep(command_id, sensor, text)
            return Publish(numbers[sensor].command_topic or "", payload.encode())
        switches = self._switches(device)
        try:
            sensor = pick(
                sorted(switches), g.target, "switch with a command_topic", str(device.name)
            )
        except BadPayload as exc:
            raise unsupported("hass", g, exc.message) from exc
        e = switches[sensor]
        on = g.on
        if on is None:  # toggle: the opposite of the state the switch last reported
            last = self._switch_states.get((device.name, sensor))
            if last is None:
                raise unsupported("hass", g, f"switch {sensor!r} has not reported its state")
            on = last == "OFF"
        payload = self._render(e, g, e.payload_on if on else e.payload_off)
        self._generic.keep(command_id, sensor, "ON" if on else "OFF")
        return Publish(e.command_topic or "", payload.encode())  # _switches have one

    @staticmethod
    def _render(e: Entity, g: Generic, value: str) -> str:
        try:
            return _templated(e, value)
        except BadPayload as exc:
            raise unsupported("hass", g, exc.message) from exc

    def completes(self, cmd: OutgoingCommand, reply: CommandReply) -> bool:
        if cmd.action in GENERIC_ACTIONS:
            sent = self._generic.get(cmd.id)
            done = sent is not None and state_shows(reply.state, sent[0], sent[1], normal=str)
            if done:
                self._generic.forget(cmd.id)
            return done
        try:
            requested = "ON" if _on_off(cmd.params.get("value")) else "OFF"
        except BadPayload:
            return False
        return state_shows(reply.state, cmd.action, requested, normal=str)

    def _config(self, topic: str, parts: list[str], payload: bytes) -> list[Mapped]:
        component, object_id = parts[0], parts[-2]
        if component != DEVICE and component not in COMPONENTS:
            return []
        keys = self._keys_of(topic)
        if not payload.strip():
            for key in keys:
                self._forget(key)
            for key in [k for k in self._refused if k.startswith(f"{topic}#")]:
                del self._refused[key]
            return []  # the entity, or the device's every component, was removed
        node_id = parts[1] if len(parts) == 4 else None
        body = expanded(object_of(json_of(payload, "config"), "config"))
        if component != DEVICE:
            return self._entity(topic, entity(component, node_id, object_id, body))
        # A device config: each component an entity of the device the topic's object_id
        # names (failing device.name and identifiers), keyed as HA does, by component id.
        out: list[Mapped] = []
        listed = components(body)
        for key in keys:
            if key.partition("#")[2] not in listed:
                self._forget(key)  # dropped from the config
        for component_id, (own, config) in listed.items():
            key = f"{topic}#{component_id}"
            platform = config.get("platform")
            if own.keys() == {"platform"}:
                self._forget(key)  # only its platform: HA's way to remove one component
                continue
            try:
                if platform not in COMPONENTS:
                    raise BadPayload(
                        f"platform {shown(platform)} is not read"
                        " (sensor, binary_sensor, switch, number)"
                    )
                learned = entity(platform, object_id, component_id, config)
            except BadPayload as exc:
                self._forget(key)
                reason = f"component {component_id!r}: {exc.message}"
                if self._refused.get(key) != reason:  # not again for a retained redelivery
                    self._refused[key] = reason
                    out.append(Refused(reason))
                continue
            self._refused.pop(key, None)
            out.extend(self._entity(key, learned))
        return out

    def _keys_of(self, topic: str) -> list[str]:
        """The entities a config topic set up: itself, or a device config's components."""
        return [k for k in self._entities if k == topic or k.startswith(f"{topic}#")]

    def _entity(self, key: str, parsed: Entity) -> list[Mapped]:
        learned = self._device_of(parsed)
        if self._entities.get(key) == learned:
            return []  # a retained config seen before
        return [*self._learn(key, learned), *self._rehome(learned)]

    def _device_of(self, entity: Entity) -> Entity:
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

    def _rehome(self, named: Entity) -> list[Mapped]:
        """Entities learned before their device was named (retained configs come in any
        order), moved onto the named device and discovered there."""
        if not named.named:
            return []
        out: list[Mapped] = []
        for topic, e in list(self._entities.items()):
            if not e.named and e.device != named.device and e.identity & named.identity:
                out.extend(self._learn(topic, replace(e, device=named.device, title=named.title)))
        return out

    def _learn(self, topic: str, entity: Entity) -> list[Mapped]:
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


def _templated(e: Entity, value: str) -> str:
    """`value` through the entity's command_template, when it has one: only templates
    whose Jinja is `{{ value }}` are rendered (no Jinja is run); BadPayload else."""
    if e.command_template is None:
        return value
    rest = _VALUE_ONLY.sub("", e.command_template)
    if "{{" in rest or "{%" in rest:
        raise BadPayload(
            f"command_template {shown(e.command_template)} is not only {{{{ value }}}}"
        )
    return _VALUE_ONLY.sub(lambda _: value, e.command_template)


def _number_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad("params.value", f"{shown(value)} is not a number")
    return value_text(value)


def _on_off(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.casefold() in ("on", "true", "off", "false"):
        return value.casefold() in ("on", "true")
    raise bad("params.value", f"{shown(value)} is not ON, OFF, true or false")


def _liveness(entities: list[Entity], text: str, now_ms: int) -> list[Mapped]:
    # Entities of one device may spell availability differently; one match per device does.
    out: dict[DeviceRef, Mapped] = {}
    for e in entities:
        if text in (e.payload_available, e.payload_not_available):
            online = text == e.payload_available
            out.setdefault(e.device, Liveness(e.device, online, now_ms))
    if entities and not out:
        raise bad("availability", f"{shown(text)} is neither available nor not available")
    return list(out.values())


def _states(entities: list[Entity], text: str, payload: bytes, now_ms: int) -> list[Mapped]:
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


def _value(e: Entity, rendered: Any) -> tuple[float, Any]:
    """The reading, and the state a command's completion compares against."""
    if e.component in NUMERIC:
        value = reading(rendered, e.sensor)
        return value, value
    # Jinja renders booleans as True/False; HA compares that text with payload_on/off.
    text = str(rendered) if isinstance(rendered, str | int | float | bool) else None
    if text == e.state_on:
        return 1.0, "ON"
    if text == e.state_off:
        return 0.0, "OFF"
    raise BadPayload(f"{shown(rendered)} is neither {e.state_on!r} nor {e.state_off!r}")
