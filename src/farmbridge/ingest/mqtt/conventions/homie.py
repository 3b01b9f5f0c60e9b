"""The Homie 5 convention: `5/{device}/$state`, `$description` and property value topics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from farmbridge.domain import DeviceState, EventLevel
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
    ReportedEvent,
    ReportedReading,
    ReportedStatus,
)
from farmbridge.ingest.fields import (
    at,
    bad,
    boolean,
    clean_name,
    maybe_reading,
    optional,
    shown,
    string,
    utf8_text,
)
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
    json_of,
    object_of,
    same_value,
    segment,
    value_text,
)
from farmbridge.ingest.mqtt.conventions.base import Mapped, OutgoingCommand

VERSION: Final = "5"
_NUMERIC: Final = frozenset({"integer", "float", "boolean"})
_STATES: Final = {"ready": True, "disconnected": False, "sleeping": False, "lost": False}
_NOT_TEXT: Final = "{shown} is not text"
_NUMBERS: Final = frozenset({"integer", "float"})
_ALERT: Final = "$alert"
# The event log's limits (the native convention's, which the store keeps).
MAX_ALERT_CODE_CHARS: Final = 64
MAX_ALERT_MESSAGE_CHARS: Final = 2_000


@dataclass(frozen=True, slots=True)
class _Property:
    datatype: str
    unit: str
    settable: bool


class HomieConvention:
    """Homie 5 devices under the binding's prefix (usually `homie/`).

    Remembers each device's `$description`, so values of string, enum or color properties
    are not mistaken for readings, and commands to read-only properties fail early.
    """

    name: ClassVar[str] = "homie"

    def __init__(self) -> None:
        self._described: dict[str, dict[str, _Property]] = {}  # device -> "node/prop" -> ...
        self._values: dict[tuple[str, str], str] = {}  # (device, "node/prop") -> last value
        self._ready: dict[str, bool] = {}  # device -> whether its $state is ready
        self._alerts: dict[tuple[str, str], str] = {}  # (device, alert id) -> message
        self._generic = Remembered()

    def filters(self) -> list[str]:
        return [f"{VERSION}/+/$state", f"{VERSION}/+/$description", f"{VERSION}/+/+/+"]

    def map(self, topic: str, payload: bytes, now_ms: int) -> list[Mapped]:
        parts = topic.split("/")
        if len(parts) not in (3, 4) or parts[0] != VERSION or parts[1].startswith("$"):
            return []  # $broadcast, /set, $target and other versions are not data
        name = clean_name(parts[1])
        if len(parts) == 3:
            if parts[2] == "$state":
                out = _state(name, payload, now_ms)
                for item in out:
                    if isinstance(item, Liveness):
                        self._ready[name] = item.online
                return out
            if parts[2] == "$description":
                return self._description(name, parts[1], payload)
            return []  # $log and other device attributes
        node, prop = parts[2], parts[3]
        if node == _ALERT:
            return self._alert(name, prop, payload, now_ms)
        if node.startswith("$") or prop.startswith("$"):
            return []  # $alert and other attributes
        return self._value(name, node, prop, payload, now_ms)

    def command(self, device: DeviceRef, cmd: OutgoingCommand) -> list[Publish]:
        name = segment(device.name, "device's name")
        translated = generic(cmd)
        if translated is not None:
            key, text = self._generic_command(name, translated)
            self._generic.keep(cmd.id, key, text)
            return [Publish(f"{VERSION}/{name}/{key}/set", text.encode())]
        key = _property_key(cmd.action)
        node, _, prop = key.partition("/")
        segment(node, "node of action 'node/property'")
        segment(prop, "property of action 'node/property'")
        known = self._described.get(name, {}).get(key)
        if known is not None and not known.settable:
            raise BadPayload(f"property {key!r} of {name!r} is not settable")
        text = _command_text(cmd.params)
        return [Publish(f"{VERSION}/{name}/{node}/{prop}/set", text.encode())]

    def completes(self, cmd: OutgoingCommand, reply: CommandReply) -> bool:
        if cmd.action in GENERIC_ACTIONS:
            sent = self._generic.get(cmd.id)
            done = sent is not None and same_value(sent[1], reply.state.get(sent[0]))
            if done:
                self._generic.forget(cmd.id)
            return done
        key = _property_key(cmd.action)
        if key not in reply.state:
            return False
        try:
            requested = _command_text(cmd.params)
        except BadPayload:
            return False
        return same_value(requested, reply.state[key])

    def _generic_command(self, name: str, g: Generic) -> tuple[str, str]:
        """The property (`node/prop`) and /set payload of a generic command, from the
        device's $description: power goes to its settable boolean, a position or value to
        its settable integer or float; `target` names the property (`node.prop`)."""
        described = self._described.get(name)
        if described is None:
            raise unsupported("homie", g, f"no $description of {name!r} seen yet")
        wanted = frozenset({"boolean"}) if g.kind == "power" else _NUMBERS
        candidates = sorted(k for k, p in described.items() if p.settable and p.datatype in wanted)
        what = "settable boolean" if g.kind == "power" else "settable integer or float"
        target = None if g.target is None else _property_key(g.target)
        try:
            key = pick(candidates, target, f"{what} property", name)
        except BadPayload as exc:
            raise unsupported("homie", g, exc.message) from exc
        if g.kind != "power":
            if described[key].datatype == "integer" and not g.level.is_integer():
                raise unsupported("homie", g, f"{key} is an integer, not {g.level}")
            return key, number_text(g.level)
        on = g.on
        if on is None:  # toggle: the opposite of the last state the device reported
            last = self._values.get((name, key))
            if last not in ("true", "false"):
                raise unsupported("homie", g, f"{key} of {name!r} has not reported its state")
            on = last == "false"
        return key, "true" if on else "false"

    def _actuator(self, name: str, key: str, text: str) -> dict[str, Any]:
        """A settable property's value in the domain's words: the device's only settable
        boolean is `power`, its only settable number `position` (a % unit) or `value`;
        with several, each is suffixed by `.node.prop`."""
        described = self._described.get(name, {})
        prop = described.get(key)
        if prop is None or not prop.settable:
            return {}
        if prop.datatype == "boolean":
            if text not in ("true", "false"):
                return {}
            word: str = POWER
            value: Any = power_word(text == "true")
            same = [k for k, p in described.items() if p.settable and p.datatype == "boolean"]
        elif prop.datatype in _NUMBERS:
            number = maybe_reading(text)
            if number is None:
                return {}
            word, value = (POSITION if prop.unit == "%" else VALUE), number
            same = [k for k, p in described.items() if p.settable and p.datatype in _NUMBERS]
        else:
            return {}
        return {word if same == [key] else f"{word}.{key.replace('/', '.')}": value}

    def _alert(self, name: str, alert: str, payload: bytes, now_ms: int) -> list[Mapped]:
        """`$alert/<id>`: a warning in the event log when raised, an info when cleared
        (an empty payload); the same alert again (a retained redelivery) says nothing."""
        text = utf8_text(payload, f"$alert/{alert}")
        key = (name, alert)
        if not text:
            if self._alerts.pop(key, None) is None:
                return []
            code = f"{alert[: MAX_ALERT_CODE_CHARS - len('_cleared')]}_cleared"
            event = ReportedEvent(EventLevel.INFO, code, "", now_ms)
        else:
            if self._alerts.get(key) == text:
                return []
            self._alerts[key] = text
            code, message = alert[:MAX_ALERT_CODE_CHARS], text[:MAX_ALERT_MESSAGE_CHARS]
            event = ReportedEvent(EventLevel.WARNING, code, message, now_ms)
        return [Data(DeviceRef(name=name), DeviceReport(events=[event]))]

    def _description(self, name: str, device_id: str, payload: bytes) -> list[Mapped]:
        if not payload.strip():
            self._described.pop(name, None)
            return []  # the retained description was cleared: device removed
        body = object_of(json_of(payload, "$description"), "$description")
        title = optional(string, body.get("name"), "$description.name", wording=_NOT_TEXT)
        properties: dict[str, _Property] = {}
        sensors: dict[str, str] = {}
        nodes = object_of(body.get("nodes", {}), "$description.nodes")
        for node_id, node in nodes.items():
            where = at("$description.nodes", node_id)
            props_at = at(where, "properties")
            props = object_of(object_of(node, where).get("properties", {}), props_at)
            for prop_id, raw in props.items():
                prop = _property(raw, at(props_at, prop_id))
                properties[f"{node_id}/{prop_id}"] = prop
                if prop.datatype in _NUMERIC:
                    sensors[clean_name(node_id, prop_id)] = prop.unit
        self._described[name] = properties
        return [Discovered(DeviceRef(name=name), title or device_id, sensors)]

    def _value(self, name: str, node: str, prop: str, payload: bytes, now_ms: int) -> list[Mapped]:
        key = f"{node}/{prop}"
        text = utf8_text(payload, key)
        if not text:
            return []  # a cleared retained value, not a reading
        device = DeviceRef(name=name)
        self._values[(name, key)] = text
        reply = CommandReply(device, None, state={key: text})
        readings, units = self._reading(name, key, text, now_ms)
        actuator = self._actuator(name, key, text)
        status = None
        if actuator:
            # A retained value comes on every subscription, also of a device that is gone.
            state = DeviceState.ONLINE if self._ready.get(name, True) else DeviceState.OFFLINE
            status = ReportedStatus(state, actuator, now_ms)
        if not readings and status is None:
            return [reply]
        return [Data(device, DeviceReport(readings=readings, status=status), units), reply]

    def _reading(
        self, name: str, key: str, text: str, now_ms: int
    ) -> tuple[list[ReportedReading], dict[str, str]]:
        """The reading of a property value, if it is one, and its unit."""
        node, _, prop = key.partition("/")
        known = self._described.get(name, {}).get(key)
        if known is not None and known.datatype not in _NUMERIC:
            return [], {}
        value = maybe_reading(text)
        if value is None:
            if known is not None:
                raise bad(key, f"{shown(text)} is not a {known.datatype}")
            return [], {}  # not described yet: a string property, most likely
        sensor = clean_name(node, prop)
        units = {sensor: known.unit} if known is not None and known.unit else {}
        return [ReportedReading(sensor, value, now_ms)], units


def _state(name: str, payload: bytes, now_ms: int) -> list[Mapped]:
    state = utf8_text(payload, "$state")
    if state in ("", "init"):
        return []  # cleared (device removed) or still starting up
    if state not in _STATES:
        raise bad("$state", f"{shown(state)} is not a Homie 5 state")
    return [Liveness(DeviceRef(name=name), _STATES[state], now_ms)]


def _property(raw: Any, where: str) -> _Property:
    obj = object_of(raw, where)
    datatype = string(
        obj.get("datatype"), at(where, "datatype"), wording="{shown} is not a datatype"
    )
    unit = string(obj.get("unit", ""), at(where, "unit"), wording=_NOT_TEXT)
    settable = boolean(
        obj.get("settable", False), at(where, "settable"), wording="{shown} is not true or false"
    )
    return _Property(datatype, unit, settable)


def _command_text(params: dict[str, Any]) -> str:
    """The /set payload: Homie spells booleans true/false and integral numbers without '.0'."""
    if "value" not in params:
        raise BadPayload("a Homie command needs params.value")
    value = params["value"]
    if not isinstance(value, str | int | float | bool):
        raise bad("params.value", f"{shown(value)} cannot be a property value")
    if isinstance(value, float) and not math.isfinite(value):
        raise bad("params.value", f"{shown(value)} is not a finite number")
    return value_text(value)


def _property_key(action: str) -> str:
    """`node/property`, also written `node.property` (the sensor's name, and what the
    API's action names allow): Homie ids hold no dots, so the first one separates."""
    if "/" in action:
        return action
    node, dot, prop = action.partition(".")
    return f"{node}/{prop}" if dot else action
