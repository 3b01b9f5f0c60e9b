"""The Zigbee2MQTT convention: `bridge/devices` registers, `{friendly_name}` states, `/set` out."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Final

from farmbridge.domain import DeviceState
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
from farmbridge.ingest.fields import MAX_ACTUATOR_KEYS, bad, clean_name, reading, shown, utf8_text
from farmbridge.ingest.mqtt.conventions._generic import generic, pick, unsupported
from farmbridge.ingest.mqtt.conventions._payload import (
    dumps,
    json_of,
    object_of,
    same_value,
)
from farmbridge.ingest.mqtt.conventions.base import Mapped, OutgoingCommand, Refused

log = logging.getLogger(__name__)

DEVICES_TOPIC: Final = "bridge/devices"
# Access bits of an expose (Zigbee2MQTT's docs, "Exposes"): in the published state, settable.
ACCESS_STATE: Final = 1
ACCESS_SET: Final = 2
# Exposes that group features (a switch's state, a light's brightness); a composite's or a
# list's features are nested objects in the state, not numbers.
_GROUPS: Final = frozenset({"switch", "light", "cover", "lock", "fan", "climate"})
MAX_EXPOSE_DEPTH: Final = 4
MAX_BRIDGE_TOPICS_LOGGED: Final = 64
_AVAILABILITY: Final = "availability"
_REQUESTS: Final = frozenset({"set", "get"})


@dataclass(frozen=True, slots=True)
class Expose:
    """One numeric or binary property of a device, as `bridge/devices` describes it."""

    kind: str  # "numeric" or "binary"
    unit: str = ""
    access: int = ACCESS_STATE
    value_on: Any = None
    value_off: Any = None
    value_toggle: Any = None
    value_min: float | None = None
    value_max: float | None = None

    @property
    def settable(self) -> bool:
        return bool(self.access & ACCESS_SET)

    @property
    def is_reading(self) -> bool:
        """Numbers are readings; a binary is one unless it can be set (a relay's `state`
        is actuator state)."""
        return self.kind == "numeric" or not self.settable


@dataclass(slots=True)
class _Device:
    friendly_name: str
    exposes: dict[str, Expose] = field(default_factory=dict)


class Zigbee2MqttConvention:
    """Zigbee2MQTT's own topics under its base topic (the binding's prefix, `zigbee2mqtt/`).

    Devices are named by their friendly name (cleaned: `kitchen/floor_light` is
    `kitchen_floor_light`); commands use the friendly name as Zigbee2MQTT knows it.
    """

    name: ClassVar[str] = "zigbee2mqtt"

    def __init__(self) -> None:
        self._devices: dict[str, _Device] = {}  # cleaned name -> device
        self._bridge_logged: set[str] = set()

    def filters(self) -> list[str]:
        # bridge/devices first: the broker sends retained messages per subscription, so
        # devices and units are known before the retained states under '#' arrive. '#'
        # delivers bridge/devices again: registering is idempotent (known sensors stay),
        # and a device created since the first delivery gets its sensors.
        return [DEVICES_TOPIC, "#"]

    def map(self, topic: str, payload: bytes, now_ms: int) -> list[Mapped]:
        if topic == DEVICES_TOPIC:
            return self._read_devices(payload)
        if topic.startswith("bridge/") or topic == "bridge":
            self._log_bridge_topic(topic)
            return []
        friendly, rest = self._split(topic)
        if rest == _AVAILABILITY:
            return [_availability(DeviceRef(name=clean_name(friendly)), payload, now_ms)]
        if rest is not None:
            return []  # /set, /get (ours or another client's), attribute output
        if not payload.strip():
            return []  # a cleared retained state
        return self._state(friendly, payload, now_ms)

    def command(self, device: DeviceRef, cmd: OutgoingCommand) -> list[Publish]:
        known = self._devices.get(device.name or "")
        if known is None:
            raise BadPayload(
                f"device {shown(device.name)} is not in zigbee2mqtt/bridge/devices (yet)"
            )
        cmd = _own_command(known, cmd)
        expose = known.exposes.get(cmd.action)
        if expose is None or not expose.settable:
            raise BadPayload(f"{known.friendly_name} exposes no settable {shown(cmd.action)}")
        if any(c in known.friendly_name for c in "+#\0"):
            raise BadPayload(f"friendly name {shown(known.friendly_name)} cannot be a topic")
        value = _set_value(expose, cmd.params.get("value"))
        payload = dumps({cmd.action: value}, "set command")
        return [Publish(f"{known.friendly_name}/set", payload)]

    def completes(self, cmd: OutgoingCommand, reply: CommandReply) -> bool:
        known = self._devices.get(reply.device.name or "")
        if known is None:
            return False
        try:
            cmd = _own_command(known, cmd)
        except BadPayload:
            return False
        expose = known.exposes.get(cmd.action)
        if expose is None or cmd.action not in reply.state:
            return False
        try:
            requested = _set_value(expose, cmd.params.get("value"))
        except BadPayload:
            return False
        if expose.value_toggle is not None and requested == expose.value_toggle:
            return True  # the outcome of a toggle is not known: any report completes it
        return same_value(requested, reply.state[cmd.action])

    # Reading.

    def _split(self, topic: str) -> tuple[str, str | None]:
        """The friendly name a topic is about and what follows it (None for the state
        topic itself): a known name, the longest first, as names may contain '/'."""
        best = ""
        for device in self._devices.values():
            name = device.friendly_name
            if (topic == name or topic.startswith(name + "/")) and len(name) > len(best):
                best = name
        if best:
            return best, (topic[len(best) + 1 :] if topic != best else None)
        parts = topic.split("/")
        if len(parts) > 1 and parts[-1] == _AVAILABILITY:
            return "/".join(parts[:-1]), _AVAILABILITY
        for i, part in enumerate(parts[1:], start=1):
            if part in _REQUESTS:
                return "/".join(parts[:i]), "/".join(parts[i:])
        return topic, None

    def _log_bridge_topic(self, topic: str) -> None:
        if topic not in self._bridge_logged and len(self._bridge_logged) < MAX_BRIDGE_TOPICS_LOGGED:
            self._bridge_logged.add(topic)
            log.debug("zigbee2mqtt %s is not read (only bridge/devices is)", topic)

    def _read_devices(self, payload: bytes) -> list[Mapped]:
        if not payload.strip():
            return []
        raw = json_of(payload, DEVICES_TOPIC)
        if not isinstance(raw, list):
            raise bad(DEVICES_TOPIC, f"expected a JSON array, got {shown(raw)}")
        devices: dict[str, _Device] = {}
        out: list[Mapped] = []
        for index, item in enumerate(raw):
            where = f"{DEVICES_TOPIC}[{index}]"
            try:
                device = _device(item, where)
            except BadPayload as exc:
                out.append(Refused(exc.message))
                continue
            if device is None:
                continue  # the coordinator, an unsupported or disabled device
            key = clean_name(device.friendly_name)
            devices[key] = device
            sensors = {p: e.unit for p, e in device.exposes.items() if e.is_reading}
            out.append(Discovered(DeviceRef(name=key), device.friendly_name, sensors))
        self._devices = devices
        return out

    def _state(self, friendly: str, payload: bytes, now_ms: int) -> list[Mapped]:
        device = DeviceRef(name=clean_name(friendly))
        body = object_of(json_of(payload, friendly), friendly)
        known = self._devices.get(device.name or "")
        readings: list[ReportedReading] = []
        units: dict[str, str] = {}
        actuator: dict[str, Any] = {}
        for key, value in body.items():
            if value is None:
                continue
            expose = known.exposes.get(key) if known else _guess(key, value)
            if expose is None:
                continue  # enum, text, composite, last_seen, update...: not a number
            where = f"{friendly}.{key}"
            if expose.kind == "binary":
                number = _binary(expose, value, where)
                if not expose.is_reading:
                    actuator[key] = value
                    continue
            else:
                number = reading(value, where)
                if expose.settable:
                    actuator[key] = value
            sensor = clean_name(key)
            readings.append(ReportedReading(sensor, number, now_ms))
            if expose.unit:
                units[sensor] = expose.unit
        # Settable values (a relay's state, a bulb's brightness) are actuator state.
        state = dict(list(actuator.items())[:MAX_ACTUATOR_KEYS])
        status = ReportedStatus(DeviceState.ONLINE, state, now_ms) if state else None
        out: list[Mapped] = []
        if readings or status:
            readings.sort(key=lambda r: r.sensor)
            out.append(Data(device, DeviceReport(readings=readings, status=status), units))
        if actuator:
            out.append(CommandReply(device, None, state=actuator))
        return out


def _guess(key: str, value: Any) -> Expose | None:
    """What a state key is before bridge/devices described the device: numbers are
    readings, an ON/OFF `state` is a relay."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Expose("numeric")
    if key.startswith("state") and isinstance(value, str) and value.upper() in ("ON", "OFF"):
        return Expose("binary", access=ACCESS_STATE | ACCESS_SET, value_on="ON", value_off="OFF")
    return None


def _binary(expose: Expose, value: Any, where: str) -> float:
    if expose.value_on is None and expose.value_off is None:
        return reading(value, where)
    if value == expose.value_on:
        return 1.0
    if value == expose.value_off:
        return 0.0
    raise bad(
        where, f"expected {shown(expose.value_on)} or {shown(expose.value_off)}, got {shown(value)}"
    )


def _availability(device: DeviceRef, payload: bytes, now_ms: int) -> Liveness:
    """`online`/`offline` (legacy), or `{"state": "online"}`."""
    text = utf8_text(payload, _AVAILABILITY)
    if text.startswith("{"):
        state = object_of(json_of(payload, _AVAILABILITY), _AVAILABILITY).get("state")
        text = state if isinstance(state, str) else ""
    if text not in ("online", "offline"):
        raise bad(_AVAILABILITY, f"expected online or offline, got {shown(text)}")
    return Liveness(device, text == "online", now_ms)


def _device(item: Any, where: str) -> _Device | None:
    """One entry of bridge/devices: None for one without exposes to read."""
    entry = object_of(item, where)
    friendly = entry.get("friendly_name")
    if not isinstance(friendly, str) or not friendly:
        raise bad(f"{where}.friendly_name", f"{shown(friendly)} is not a name")
    if entry.get("type") == "Coordinator" or entry.get("disabled") is True:
        return None
    definition = entry.get("definition")
    if definition is None:
        return None  # unsupported: Zigbee2MQTT gives no definition
    exposes = object_of(definition, f"{where}.definition").get("exposes")
    if not isinstance(exposes, list):
        raise bad(f"{where}.definition.exposes", f"{shown(exposes)} is not a list")
    device = _Device(friendly)
    _collect(exposes, device.exposes, f"{where}.definition.exposes", 0)
    return device


def _collect(exposes: list[Any], into: dict[str, Expose], where: str, depth: int) -> None:
    if depth > MAX_EXPOSE_DEPTH:
        raise bad(where, f"nested deeper than {MAX_EXPOSE_DEPTH} levels")
    for index, raw in enumerate(exposes):
        at = f"{where}[{index}]"
        item = object_of(raw, at)
        kind = item.get("type")
        if kind in _GROUPS:
            features = item.get("features")
            if isinstance(features, list):
                _collect(features, into, f"{at}.features", depth + 1)
            continue
        if kind not in ("numeric", "binary"):
            continue  # enum, text, composite, list: no number to store
        prop = item.get("property")
        access = item.get("access", ACCESS_STATE)
        if not isinstance(prop, str) or not prop:
            raise bad(f"{at}.property", f"{shown(prop)} is not a property name")
        if isinstance(access, bool) or not isinstance(access, int):
            raise bad(f"{at}.access", f"{shown(access)} is not access bits")
        if not access & ACCESS_STATE and not access & ACCESS_SET:
            continue
        unit = item.get("unit", "")
        if not isinstance(unit, str):
            raise bad(f"{at}.unit", f"{shown(unit)} is not text")
        into[prop] = Expose(
            kind,
            unit=unit,
            access=access,
            value_on=item.get("value_on"),
            value_off=item.get("value_off"),
            value_toggle=item.get("value_toggle"),
            value_min=_bound(item.get("value_min")),
            value_max=_bound(item.get("value_max")),
        )


def _bound(raw: Any) -> float | None:
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        return float(raw)
    return None


def _own_command(known: _Device, cmd: OutgoingCommand) -> OutgoingCommand:
    """A generic command as the property it sets: power is the `state` binary (or the
    target's, `state_l2`), a position the `position` number, a value `brightness`, else
    the target or the one settable number; the convention's own actions (a property name)
    pass as they are."""
    g = generic(cmd)
    if g is None:
        return cmd
    settable = {n: e for n, e in known.exposes.items() if e.settable}
    if g.kind == "power":
        prop = g.target or "state"
        expose = settable.get(prop)
        if expose is None or expose.kind != "binary":
            raise unsupported("zigbee2mqtt", g, f"{known.friendly_name} has no settable {prop}")
        value: Any = None if g.on is None else g.on
        if value is None and expose.value_toggle is None:
            raise unsupported("zigbee2mqtt", g, f"{prop} of {known.friendly_name} has no toggle")
        return replace(cmd, action=prop, params={} if value is None else {"value": value})
    numbers = [n for n, e in settable.items() if e.kind == "numeric"]
    # A cover's level is `position`, a light's `brightness` (Zigbee2MQTT's expose names).
    preferred = "position" if g.kind == "position" else "brightness"
    if g.target is None and preferred in numbers:
        prop = preferred
    else:
        prop = pick(numbers, g.target, "settable number", known.friendly_name)
    level: float | int = int(g.level) if g.level.is_integer() else g.level
    return replace(cmd, action=prop, params={"value": level})


def _set_value(expose: Expose, value: Any) -> Any:
    """What `/set` takes for `value`: a binary's own value_on/value_off/value_toggle (from a
    boolean or their text, case-insensitively), a number within the expose's range."""
    if expose.kind == "binary":
        if value is None:
            if expose.value_toggle is None:
                raise BadPayload("the command needs params.value")
            return expose.value_toggle
        if isinstance(value, bool):
            return expose.value_on if value else expose.value_off
        for choice in (expose.value_on, expose.value_off, expose.value_toggle):
            if choice is not None and str(choice).casefold() == str(value).casefold():
                return choice
        raise bad(
            "params.value",
            f"{shown(value)} is not {shown(expose.value_on)} or {shown(expose.value_off)}",
        )
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise bad("params.value", f"{shown(value)} is not a number")
    number = reading(value, "params.value")
    if (expose.value_min is not None and number < expose.value_min) or (
        expose.value_max is not None and number > expose.value_max
    ):
        raise bad(
            "params.value", f"{shown(value)} is outside {expose.value_min}..{expose.value_max}"
        )
    return int(number) if number.is_integer() else number
