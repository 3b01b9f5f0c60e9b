"""What one Home Assistant discovery config says: the entity it sets up, on which device.

Single-component configs (`<prefix>/<component>/[<node_id>/]<object_id>/config`) are one
entity each; a device config (`<prefix>/device/[<node_id>/]<object_id>/config`, with
`dev`, `o` and `cmps`) is several, sharing its root options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from farmbridge.domain.reports import DeviceRef
from farmbridge.ingest.fields import at, bad, clean_name, optional, shown, string
from farmbridge.ingest.mqtt.conventions._payload import object_of
from farmbridge.ingest.mqtt.conventions._template import PLAIN, ValueTemplate, parse

COMPONENTS: Final = frozenset({"sensor", "binary_sensor", "switch", "number"})
# Components whose state is a number (the rest compare it with their on/off payloads).
NUMERIC: Final = frozenset({"sensor", "number"})
# The abbreviations of the keys read here, from HA's MQTT discovery documentation.
_ABBREVIATIONS: Final = {
    "stat_t": "state_topic",
    "cmd_t": "command_topic",
    "cmd_tpl": "command_template",
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
    "o": "origin",
    "cmps": "components",
    "cmp": "components",  # as HA's docs spell it in prose
    "p": "platform",
}
_TOPIC_KEYS: Final = ("state_topic", "command_topic", "availability_topic")


@dataclass(frozen=True, slots=True)
class Entity:
    """One entity a config set up, as far as the bridge reads it."""

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
    # The command_template (HA renders it with `value`: a switch's payload_on/off, a
    # number's new value).
    command_template: str | None = None


def expanded(raw: dict[str, Any]) -> dict[str, Any]:
    """A config object with the abbreviated keys read here spelled out (one level)."""
    return {_ABBREVIATIONS.get(k, k): v for k, v in raw.items()}


def components(body: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """A device config's components by id: each one's own options, and those over the
    root's shared options (device and origin stay the root's: HA does not let a component
    override them); BadPayload when `components` is not an object of objects."""
    listed = object_of(body.get("components"), "config.components")
    shared = {k: v for k, v in body.items() if k != "components"}
    out: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for component_id, raw in listed.items():
        own = expanded(object_of(raw, at("config.components", component_id)))
        merged = {**shared, **own}
        for key in ("device", "origin"):
            if key in shared:
                merged[key] = shared[key]
        out[component_id] = (own, merged)
    return out


def entity(component: str, node_id: str | None, object_id: str, body: dict[str, Any]) -> Entity:
    """The entity of one (expanded) config; BadPayload naming what it cannot read."""
    base = optional(string, body.get("~"), "config.~", wording="{shown} is not a topic")
    topics = {key: _topic(body.get(key), key, base) for key in _TOPIC_KEYS}
    if topics["state_topic"] is None and component not in ("switch", "number"):
        raise bad("config", f"a {component} needs a state_topic")
    device = expanded(object_of(body.get("device", {}), "config.device"))
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
    payload_on = text(body.get("payload_on", "ON"), "payload_on")
    payload_off = text(body.get("payload_off", "OFF"), "payload_off")
    # Only a switch reports state apart from its command payloads (state_on/state_off).
    switch = component == "switch"
    state_on = text(body.get("state_on", payload_on), "state_on") if switch else payload_on
    state_off = text(body.get("state_off", payload_off), "state_off") if switch else payload_off
    return Entity(
        component=component,
        device=DeviceRef(name=clean_name(named[0])),
        title=named[0],
        sensor=clean_name(object_id),
        unit="" if unit is None else text(unit, "unit_of_measurement"),
        template=PLAIN if template is None else parse(text(template, "value_template")),
        state_topic=topics["state_topic"],
        command_topic=topics["command_topic"],
        availability_topic=topics["availability_topic"],
        payload_on=payload_on,
        payload_off=payload_off,
        state_on=state_on,
        state_off=state_off,
        payload_available=text(body.get("payload_available", "online"), "payload_available"),
        payload_not_available=text(
            body.get("payload_not_available", "offline"), "payload_not_available"
        ),
        identity=frozenset(identity),
        named=isinstance(device_title, str) and bool(device_title),
        command_template=optional(
            string,
            body.get("command_template"),
            "config.command_template",
            wording="{shown} is not text",
        ),
    )


def text(raw: Any, key: str) -> str:
    """A config value HA reads as text.

    HA's config schema (cv.string) coerces any scalar with str(): Zigbee2MQTT's binary
    sensors give `payload_on: true`, which HA compares as "True" with the rendered state.
    """
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool | int | float):
        return str(raw)
    raise bad(at("config", key), f"{shown(raw)} is not text")


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
