"""Simulated devices over MQTT: the demo greenhouse, or a load of sensor nodes, in any convention.

Every simulated device is an MQTT client of its own (a ThingsBoard gateway is one client
speaking for all its devices) with a persistent session (a fixed client id, clean session
off), QoS 1 on everything it publishes and subscribes, an online message when it connects
and a last will saying offline. It publishes readings, status changes and, where the
convention has them, events; it answers commands the way that convention's devices do, so
the bridge completes them. Topics are under the binding's prefix (`DEFAULT_PREFIXES`):

- native: `{farm}/{dev}/telemetry` with a `message_id`; `status` (retained) online, will
  offline; commands are the model's actions (`on`, `off`, `toggle`, `set`, `run`, `open`,
  `close`), answered on `commands/ack` naming the command id.
- thingsboard (gateway form, one client): `v1/gateway/telemetry`; `connect` and
  `disconnect` per device, `attributes` for the actuator (no will: the gateway API has
  none per device); RPC methods are the model's actions, answered on `v1/gateway/rpc`
  naming the RPC id.
- homie: retained `5/{dev}/{node}/{prop}` values described by `$description`; `$state`
  ready, will lost; `pump.power` or `fan.power` `true`/`false` and `vent.target` 0-100
  (actions `node.property`) are settable, answered by the property's new value.
- tasmota: `tele/{dev}/SENSOR`, `tele/{dev}/STATE`; `tele/{dev}/LWT` Online, will
  Offline; `POWER` ON/OFF/TOGGLE (pump, fan), `ShutterPosition1` n, `ShutterOpen1`,
  `ShutterClose1` (vent), answered on `stat/{dev}/RESULT`.
- esphome: `{dev}/sensor/{name}/state`; `{dev}/status` online, will offline; switch
  `pump`/`fan`/`vent` ON/OFF/TOGGLE and number `target`, answered by the entity's state.
- hass: retained discovery configs, then one JSON state topic per device and an
  availability topic (will offline); switch `power` (pump, fan) or `open` (vent) ON/OFF,
  answered by the new state.

Events travel only where the convention has a place for them: native `events`, Homie
`$alert`/`$log`. Commands a device cannot run are refused the convention's way (a failed
native ack or ThingsBoard RPC error, Tasmota `{"Command": "Unknown"}`, a Homie `$log`
warning, silence from ESPHome and Home Assistant devices).

Two ways to run it. `MqttSimulator.run` plays the demo greenhouse (`farmbridge demo --mqtt
URL`). `run_load` (or this module from the command line) runs N sensor nodes named
`{device_prefix}{i}` (`d0` ... `d{N-1}`, the names the benchmarks register) publishing R
messages a second in total, counted as MQTT publishes, for a number of seconds, and reports
what was published and acknowledged by the broker as JSON:

    python -m farmbridge.ingest.mqtt.simulator --url mqtt://127.0.0.1:1883 --farm F \\
        --devices 10 --rate 200 --convention native --seconds 10 [--sensors 1] \\
        [--device-prefix d] [--prefix farmbridge/] [--client-id-prefix fbsim-]
    python -m farmbridge.ingest.mqtt.simulator --url mqtt://127.0.0.1:1883 --farm F \\
        --greenhouse --convention tasmota          # the demo's five devices, until Ctrl-C

The devices must be registered on the farm (or approved from pending) for the bridge to
store what they send; the bridge registers their sensors as they first report.

paho's network loop runs in a thread per client (`loop_start`); its callbacks hand
messages to the asyncio loop, where the model and every publish live, so nothing on the
loop blocks on the network. The threads share the GIL: one process publishes up to about
7,000 messages a second with ten clients (16,000 through the one ThingsBoard gateway
client) on a laptop-class CPU; run several processes for more, and read `achieved_rate`
and `max_lag_s` in the result to see whether the generator kept up.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import logging
import random
import re
import secrets
import ssl
import sys
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from farmbridge.ingest.mqtt.conventions.base import Publish
from farmbridge.ingest.mqtt.link import BrokerUrl
from farmbridge.ingest.signals import Greenhouse, ModelEvent
from farmbridge.ingest.simulator import (
    DEMO_DEVICES,
    MAX_ACK_DETAIL_CHARS,
    DeviceSpec,
    SensorSpecIn,
)

log = logging.getLogger(__name__)

QOS: Final = 1
DEFAULT_PREFIXES: Final[Mapping[str, str]] = {
    "native": "farmbridge/",
    "thingsboard": "",
    "homie": "homie/",
    "tasmota": "",
    "esphome": "",
    "hass": "",
}
"""The prefix each convention's devices publish under by default: the typical binding's."""
KEEPALIVE_S: Final = 30
RECONNECT_MIN_DELAY_S: Final = 1
RECONNECT_MAX_DELAY_S: Final = 30
MAX_INFLIGHT_MESSAGES: Final = 100
HEARTBEAT_S: Final = 60.0
"""A device with nothing to report says it is alive this often, well inside the bridge's
liveness timeout (600 s by default)."""
CONNECT_WAIT_S: Final = 10.0
STOP_DRAIN_S: Final = 3.0
LOAD_DRAIN_S: Final = 10.0
BIRTH_DRAIN_S: Final = 2.0
LOAD_SECONDS: Final = 10.0
PACE_TICK_S: Final = 0.001
MAX_BATCH_MESSAGES: Final = 200
MIN_MODEL_STEP_S: Final = 1.0
MAX_REMEMBERED_COMMANDS: Final = 256
MAX_OUTSTANDING_PER_CLIENT: Final = 2_000
"""Load mode waits rather than queue more unacknowledged messages than this per client."""
HASS_DISCOVERY_PREFIX: Final = "homeassistant"
HASS_STATE_ROOT: Final = "farmbridge-sim"
HOMIE_VERSION: Final = "5"
HOMIE_SENSOR_NODE: Final = "sensors"

LOAD_SENSORS: Final[tuple[SensorSpecIn, ...]] = tuple(
    s for spec in DEMO_DEVICES if spec.actuator is None for s in spec.sensors
)
"""What load devices measure, the first `sensors` of these (at most five)."""

State = Mapping[str, str | int | float | bool | None]
"""A device's actuator state as the model reports it: `{"power": "on"}`, `{"position": 40}`."""


@dataclass(frozen=True, slots=True)
class SimEvent:
    """A model event as its device reports it, at wall-clock epoch milliseconds."""

    level: str
    code: str
    message: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Request:
    """A command as a simulated device read it off the wire.

    `action` and `params` are a Greenhouse action (see `Greenhouse.apply`); no action and
    no error is a query, answered with the current state. `error` says why the device
    will not run it. `id` is the command id the answer must name (native, ThingsBoard),
    which also tells a redelivered command; `target` is the convention's name for what
    was commanded (a Tasmota command, an ESPHome entity, a Homie property).
    """

    target: str
    action: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    detail: str


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def _text(value: float) -> str:
    return str(round(value, 2))


def _is_on(state: State) -> bool:
    return state.get("power") == "on"


def _target(state: State) -> int:
    value = state.get("position")
    return int(value) if isinstance(value, int | float) else 0


def _switch_action(actuator: str, text: str, state: State) -> str | None:
    """The model action for ON/OFF/TOGGLE (any case) sent to an actuator's switch; the vent
    switch opens and closes it."""
    word = text.strip().upper()
    if word not in ("ON", "OFF", "TOGGLE"):
        return None
    if actuator == "vent":
        on = word == "ON" or (word == "TOGGLE" and _target(state) == 0)
        return "open" if on else "close"
    return word.lower()


def _json_object(payload: bytes) -> dict[str, Any] | None:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _local_time(now_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now_ms / 1000))


# -- conventions, device side (pure) --------------------------------------------------------


class Dialect(abc.ABC):
    """How one convention's devices talk. Pure: the clock comes in as `now_ms`, and every
    topic is absolute (the prefix included).

    Args:
        farm: the farm the devices belong to (native topics carry it; Home Assistant
            state topics include it to stay apart from other farms').
        prefix: the binding's prefix; None for the convention's `DEFAULT_PREFIXES` one.
    """

    name: ClassVar[str]
    shared: ClassVar[bool] = False
    """One client speaks for every device (a gateway), instead of one client each."""
    reply_reports_state: ClassVar[bool] = False
    """The answer to a command that ran already is the device's new state."""
    command_example: ClassVar[str]
    """Commands an operator can send these devices, for the demo's banner."""

    def __init__(self, *, farm: str, prefix: str | None = None) -> None:
        self.farm = farm
        self.prefix = DEFAULT_PREFIXES[self.name] if prefix is None else prefix

    def sensor_name(self, device: DeviceSpec, sensor: SensorSpecIn) -> str:
        """The name the bridge's convention gives this sensor's readings."""
        return sensor.name

    @abc.abstractmethod
    def subscriptions(self, device: DeviceSpec) -> list[str]:
        """Topic filters the device listens on for commands."""

    def will(self, device: DeviceSpec) -> Publish | None:
        """The last will the broker publishes when the device vanishes."""
        return None

    @abc.abstractmethod
    def birth(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        """What the device publishes on every (re)connection: online, and its state."""

    @abc.abstractmethod
    def farewell(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        """What the device publishes before it disconnects on purpose."""

    @abc.abstractmethod
    def telemetry(
        self,
        device: DeviceSpec,
        readings: Mapping[str, float],
        state: State,
        now_ms: int,
        message_id: str,
    ) -> list[Publish]:
        """One report of readings (keyed by `SensorSpecIn.name`); empty when there is
        nothing to send."""

    @abc.abstractmethod
    def status(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        """The device's actuator state, after it changed."""

    def heartbeat(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        """A sign of life from a device with nothing else to say."""
        return self.status(device, state, now_ms)

    def events(self, device: DeviceSpec, events: Sequence[SimEvent]) -> list[Publish]:
        """Events, where the convention has a place for them."""
        return []

    @abc.abstractmethod
    def command(
        self, device: DeviceSpec, topic: str, payload: bytes, state: State, now_ms: int
    ) -> Request | None:
        """The command in a message; None when the message is not a command for `device`."""

    @abc.abstractmethod
    def reply(
        self, device: DeviceSpec, request: Request, outcome: Outcome, state: State, now_ms: int
    ) -> list[Publish]:
        """The device's answer to a command, given its outcome and the state after it."""


class NativeDialect(Dialect):
    name = "native"
    command_example = 'on, off, toggle, run {"duration_s": 60}; vent: set {"position": 40}'

    def _base(self, d: DeviceSpec) -> str:
        return f"{self.prefix}{self.farm}/{d.name}"

    def subscriptions(self, device: DeviceSpec) -> list[str]:
        return [f"{self._base(device)}/commands"]

    def will(self, device: DeviceSpec) -> Publish:
        # No ts: the will is fixed at connect time, so the bridge stamps it on arrival.
        return Publish(f"{self._base(device)}/status", _json({"state": "offline"}), retain=True)

    def _status(self, d: DeviceSpec, online: bool, state: State, now_ms: int) -> Publish:
        body = {"state": "online" if online else "offline", "actuator": dict(state), "ts": now_ms}
        return Publish(f"{self._base(d)}/status", _json(body), retain=True)

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
        return [Publish(f"{self._base(device)}/telemetry", _json(body))]

    def events(self, device: DeviceSpec, events: Sequence[SimEvent]) -> list[Publish]:
        if not events:
            return []
        body = [
            {"level": e.level, "code": e.code, "message": e.message, "ts": e.ts_ms} for e in events
        ]
        return [Publish(f"{self._base(device)}/events", _json(body))]

    def command(
        self, device: DeviceSpec, topic: str, payload: bytes, state: State, now_ms: int
    ) -> Request | None:
        if topic != f"{self._base(device)}/commands":
            return None
        body = _json_object(payload)
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
        return [Publish(f"{self._base(device)}/commands/ack", _json(body))]


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
        return Publish(self._topic("connect"), _json({"device": d.name, "type": d.kind}))

    def birth(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._connect(device), *self.status(device, state, now_ms)]

    def farewell(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [Publish(self._topic("disconnect"), _json({"device": device.name}))]

    def status(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        if not state:
            return []
        return [Publish(self._topic("attributes"), _json({device.name: dict(state)}))]

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
        return [Publish(self._topic("telemetry"), _json(body))]

    def command(
        self, device: DeviceSpec, topic: str, payload: bytes, state: State, now_ms: int
    ) -> Request | None:
        if topic != self._topic("rpc"):
            return None
        body = _json_object(payload)
        if body is None or body.get("device") != device.name:
            return None
        data = body.get("data")
        if not isinstance(data, dict) or "method" not in data:
            return None  # a reply (ours, echoed back on the shared topic)
        rpc_id, method, params = data.get("id"), data.get("method"), data.get("params") or {}
        if isinstance(rpc_id, bool) or not isinstance(rpc_id, int):
            log.warning("%s: an RPC without an id cannot be answered: %r", device.name, payload)
            return None
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
        return [Publish(self._topic("rpc"), _json(body))]


class HomieDialect(Dialect):
    """Homie 5: a node per device (`sensors`, or the actuator), a property per quantity."""

    name = "homie"
    reply_reports_state = True
    command_example = 'pump.power {"value": true}; vent.target {"value": 40}'

    def _base(self, d: DeviceSpec) -> str:
        return f"{self.prefix}{HOMIE_VERSION}/{d.name}"

    @staticmethod
    def _node(d: DeviceSpec) -> str:
        return d.actuator or HOMIE_SENSOR_NODE

    @staticmethod
    def _prop(sensor: SensorSpecIn) -> str:
        # Homie ids are lowercase letters, digits and hyphens.
        return sensor.name.replace("_", "-")

    def sensor_name(self, device: DeviceSpec, sensor: SensorSpecIn) -> str:
        return f"{self._node(device)}.{self._prop(sensor)}"

    def subscriptions(self, device: DeviceSpec) -> list[str]:
        return [f"{self._base(device)}/+/+/set"]

    def _state(self, d: DeviceSpec, state: str) -> Publish:
        return Publish(f"{self._base(d)}/$state", state.encode(), retain=True)

    def will(self, device: DeviceSpec) -> Publish:
        return self._state(device, "lost")

    def description(self, device: DeviceSpec) -> dict[str, Any]:
        """The device's `$description` document."""
        props: dict[str, Any] = {
            self._prop(s): {"name": s.name, "datatype": "float", "unit": s.unit}
            for s in device.sensors
        }
        if device.actuator in ("pump", "fan"):
            props["power"] = {"name": "Power", "datatype": "boolean", "settable": True}
        elif device.actuator == "vent":
            props["target"] = {
                "name": "Target position",
                "datatype": "integer",
                "format": "0:100",
                "unit": "%",
                "settable": True,
            }
        nodes = {self._node(device): {"name": device.title, "properties": props}}
        return {
            "homie": "5.0",
            # Changes whenever the description does, as Homie 5 asks.
            "version": zlib.crc32(_json(nodes)),
            "name": device.title,
            "nodes": nodes,
        }

    def birth(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        desc = Publish(f"{self._base(device)}/$description", _json(self.description(device)), True)
        return [
            self._state(device, "init"),
            desc,
            *self.status(device, state, now_ms),
            self._state(device, "ready"),
        ]

    def farewell(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._state(device, "disconnected")]

    def heartbeat(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._state(device, "ready")]

    def status(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        base = self._base(device)
        if device.actuator in ("pump", "fan"):
            value = b"true" if _is_on(state) else b"false"
            return [Publish(f"{base}/{device.actuator}/power", value, retain=True)]
        if device.actuator == "vent":
            return [Publish(f"{base}/vent/target", str(_target(state)).encode(), retain=True)]
        return []

    def telemetry(
        self,
        device: DeviceSpec,
        readings: Mapping[str, float],
        state: State,
        now_ms: int,
        message_id: str,
    ) -> list[Publish]:
        base, node = self._base(device), self._node(device)
        return [
            Publish(f"{base}/{node}/{self._prop(s)}", _text(readings[s.name]).encode(), retain=True)
            for s in device.sensors
            if s.name in readings
        ]

    def events(self, device: DeviceSpec, events: Sequence[SimEvent]) -> list[Publish]:
        # Warnings and alarms are alerts, active until their `_cleared` event; the rest logs.
        base, out = self._base(device), []
        for e in events:
            if e.code.endswith("_cleared"):
                alert = e.code.removesuffix("_cleared").replace("_", "-")
                out.append(Publish(f"{base}/$alert/{alert}", b"", retain=True))
            elif e.level in ("warning", "alarm"):
                alert = e.code.replace("_", "-")
                out.append(Publish(f"{base}/$alert/{alert}", e.message.encode(), retain=True))
            else:
                out.append(Publish(f"{base}/$log/info", e.message.encode()))
        return out

    def command(
        self, device: DeviceSpec, topic: str, payload: bytes, state: State, now_ms: int
    ) -> Request | None:
        head = f"{self._base(device)}/"
        if not topic.startswith(head) or not topic.endswith("/set"):
            return None
        parts = topic[len(head) : -len("/set")].split("/")
        if len(parts) != 2:
            return None
        target = "/".join(parts)
        text = payload.decode("utf-8", "replace").strip()
        if device.actuator in ("pump", "fan") and target == f"{device.actuator}/power":
            if text not in ("true", "false"):
                return Request(target, error=f"power takes true or false, not {text!r}")
            return Request(target, "on" if text == "true" else "off")
        if device.actuator == "vent" and target == "vent/target":
            try:
                position = float(text)
            except ValueError:
                return Request(target, error=f"target takes an integer, not {text!r}")
            return Request(target, "set", {"position": position})
        return Request(target, error=f"{target} is not a settable property")

    def reply(
        self, device: DeviceSpec, request: Request, outcome: Outcome, state: State, now_ms: int
    ) -> list[Publish]:
        if not outcome.ok:
            message = f"{request.target}: {outcome.detail}".encode()
            return [Publish(f"{self._base(device)}/$log/warn", message)]
        return self.status(device, state, now_ms)


class TasmotaDialect(Dialect):
    """Tasmota with the default FullTopic `%prefix%/%topic%/`; the device name is its topic."""

    name = "tasmota"
    command_example = 'POWER {"value": "ON"}; vent: ShutterPosition1 {"value": 40}'

    def _topic(self, kind: str, d: DeviceSpec, what: str) -> str:
        return f"{self.prefix}{kind}/{d.name}/{what}"

    def subscriptions(self, device: DeviceSpec) -> list[str]:
        return [self._topic("cmnd", device, "+")]

    def will(self, device: DeviceSpec) -> Publish:
        return Publish(self._topic("tele", device, "LWT"), b"Offline", retain=True)

    def birth(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        lwt = Publish(self._topic("tele", device, "LWT"), b"Online", retain=True)
        return [lwt, *self.status(device, state, now_ms)]

    def farewell(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [Publish(self._topic("tele", device, "LWT"), b"Offline", retain=True)]

    def status(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        body: dict[str, Any] = {"Time": _local_time(now_ms)}
        if device.actuator in ("pump", "fan"):
            body["POWER"] = "ON" if _is_on(state) else "OFF"
        elif device.actuator == "vent":
            body["Shutter1"] = {"Target": _target(state)}
        return [Publish(self._topic("tele", device, "STATE"), _json(body))]

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
        body: dict[str, Any] = {"Time": _local_time(now_ms), **readings}
        if "temperature" in readings:
            body["TempUnit"] = "C"
        return [Publish(self._topic("tele", device, "SENSOR"), _json(body))]

    def command(
        self, device: DeviceSpec, topic: str, payload: bytes, state: State, now_ms: int
    ) -> Request | None:
        head = self._topic("cmnd", device, "")
        name = topic[len(head) :]
        if not topic.startswith(head) or not name or "/" in name:
            return None
        text = payload.decode("utf-8", "replace").strip()
        command = name.casefold()
        if device.actuator in ("pump", "fan") and command in ("power", "power1"):
            if not text:
                return Request("POWER")  # a query
            word = {"1": "ON", "0": "OFF", "2": "TOGGLE", "true": "ON", "false": "OFF"}
            action = _switch_action(device.actuator, word.get(text.casefold(), text), state)
            return Request("POWER", action) if action else Request("POWER", error="Error")
        if device.actuator == "vent":
            if command in ("shutterposition", "shutterposition1"):
                if not text:
                    return Request(name)
                try:
                    return Request(name, "set", {"position": float(text)})
                except ValueError:
                    return Request(name, error="Error")
            if command in ("shutteropen", "shutteropen1"):
                return Request(name, "open")
            if command in ("shutterclose", "shutterclose1"):
                return Request(name, "close")
        return Request(name, error="Unknown")

    def reply(
        self, device: DeviceSpec, request: Request, outcome: Outcome, state: State, now_ms: int
    ) -> list[Publish]:
        if request.error is not None:
            body: dict[str, Any] = {"Command": request.error}
        elif not outcome.ok:
            body = {"Command": "Error"}
        elif request.target == "POWER":
            body = {"POWER": "ON" if _is_on(state) else "OFF"}
        else:
            body = {request.target: _target(state)}
        return [Publish(self._topic("stat", device, "RESULT"), _json(body))]


class EsphomeDialect(Dialect):
    """ESPHome's MQTT component with the node name as topic prefix: a `sensor` per
    quantity, a `switch` per actuator (the vent's opens it), a `number` for the vent's
    target position."""

    name = "esphome"
    reply_reports_state = True
    command_example = 'pump {"value": "ON"} (switches pump, fan, vent)'

    def _node(self, d: DeviceSpec) -> str:
        return f"{self.prefix}{d.name}"

    def subscriptions(self, device: DeviceSpec) -> list[str]:
        return [f"{self._node(device)}/+/+/command"]

    def _availability(self, d: DeviceSpec, online: bool) -> Publish:
        return Publish(f"{self._node(d)}/status", b"online" if online else b"offline", True)

    def will(self, device: DeviceSpec) -> Publish:
        return self._availability(device, False)

    def birth(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._availability(device, True), *self.status(device, state, now_ms)]

    def farewell(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._availability(device, False)]

    def heartbeat(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        return [self._availability(device, True)]

    def status(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        node = self._node(device)
        if device.actuator in ("pump", "fan"):
            on = b"ON" if _is_on(state) else b"OFF"
            return [Publish(f"{node}/switch/{device.actuator}/state", on)]
        if device.actuator == "vent":
            target = _target(state)
            return [
                Publish(f"{node}/switch/vent/state", b"ON" if target > 0 else b"OFF"),
                Publish(f"{node}/number/target/state", str(target).encode()),
            ]
        return []

    def telemetry(
        self,
        device: DeviceSpec,
        readings: Mapping[str, float],
        state: State,
        now_ms: int,
        message_id: str,
    ) -> list[Publish]:
        node = self._node(device)
        return [
            Publish(f"{node}/sensor/{name}/state", _text(value).encode())
            for name, value in readings.items()
        ]

    def command(
        self, device: DeviceSpec, topic: str, payload: bytes, state: State, now_ms: int
    ) -> Request | None:
        head = f"{self._node(device)}/"
        if not topic.startswith(head) or not topic.endswith("/command"):
            return None
        parts = topic[len(head) : -len("/command")].split("/")
        if len(parts) != 2:
            return None
        component, object_id = parts
        target = f"{component}/{object_id}"
        text = payload.decode("utf-8", "replace").strip()
        if component == "light" and text.startswith("{"):
            body = _json_object(payload) or {}
            text = str(body.get("state", ""))
        if device.actuator and component in ("switch", "light") and object_id == device.actuator:
            action = _switch_action(device.actuator, text, state)
            if action is None:
                return Request(target, error=f"expected ON, OFF or TOGGLE, not {text!r}")
            return Request(target, action)
        if device.actuator == "vent" and component == "number" and object_id == "target":
            try:
                return Request(target, "set", {"position": float(text)})
            except ValueError:
                return Request(target, error=f"not a number: {text!r}")
        return Request(target, error=f"no {component} {object_id!r} on this node")

    def reply(
        self, device: DeviceSpec, request: Request, outcome: Outcome, state: State, now_ms: int
    ) -> list[Publish]:
        # ESPHome answers a command with the entity's new state, and a bad one with nothing.
        return self.status(device, state, now_ms) if outcome.ok else []


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
        on = _target(state) > 0 if d.actuator == "vent" else _is_on(state)
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
            out.append(Publish(topic, _json(config), retain=True))
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
            out.append(Publish(topic, _json(config), retain=True))
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
        return Publish(f"{self._root(d)}/state", _json(doc))

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
        return Request(object_id, _switch_action(device.actuator, text, state))

    def reply(
        self, device: DeviceSpec, request: Request, outcome: Outcome, state: State, now_ms: int
    ) -> list[Publish]:
        return self.status(device, state, now_ms) if outcome.ok else []


DIALECTS: Final[Mapping[str, type[Dialect]]] = {
    d.name: d
    for d in (
        NativeDialect,
        ThingsBoardDialect,
        HomieDialect,
        TasmotaDialect,
        EsphomeDialect,
        HassDialect,
    )
}


def make_dialect(convention: str, *, farm: str, prefix: str | None = None) -> Dialect:
    """The device side of `convention`; raises ValueError for an unknown one, listing them."""
    cls = DIALECTS.get(convention)
    if cls is None:
        raise ValueError(
            f"unknown MQTT convention {convention!r}; known: {', '.join(sorted(DIALECTS))}"
        )
    return cls(farm=farm, prefix=prefix)


def load_devices(count: int, *, sensors: int = 1, name_prefix: str = "d") -> list[DeviceSpec]:
    """`count` sensor nodes `{name_prefix}0`... measuring the first `sensors` (1 to 5)
    quantities of LOAD_SENSORS. Raises ValueError for counts out of range."""
    if count < 1:
        raise ValueError(f"need at least one device, got {count}")
    if not 1 <= sensors <= len(LOAD_SENSORS):
        raise ValueError(f"sensors must be 1 to {len(LOAD_SENSORS)}, got {sensors}")
    chosen = LOAD_SENSORS[:sensors]
    return [
        DeviceSpec(f"{name_prefix}{i}", "sensor_node", f"Load device {i}", chosen)
        for i in range(count)
    ]


# -- MQTT clients -------------------------------------------------------------------------------


class _Client:
    """One paho client with its network loop in its own thread; callbacks go to the loop."""

    def __init__(
        self,
        *,
        url: BrokerUrl,
        client_id: str,
        devices: tuple[DeviceSpec, ...],
        will: Publish | None,
        subscriptions: list[str],
        keepalive_s: int,
        ca_file: Path | None,
        on_up: Callable[[_Client], None],
        on_message: Callable[[_Client, str, bytes], None],
    ) -> None:
        self.url = url
        self.client_id = client_id
        self.devices = devices
        self.up = False
        self.connected = asyncio.Event()
        self.published = 0
        self.dropped = 0
        self.acked = 0  # written by paho's thread only
        self._loop = asyncio.get_running_loop()
        self._keepalive_s = keepalive_s
        self._subscriptions = subscriptions
        self._on_up = on_up
        self._on_message = on_message
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=paho.MQTTv311,
        )
        if url.username is not None:
            client.username_pw_set(url.username, url.password)
        if url.tls:
            client.tls_set(
                ca_certs=str(ca_file) if ca_file else None, tls_version=ssl.PROTOCOL_TLS_CLIENT
            )
        if will is not None:
            client.will_set(will.topic, will.payload, qos=QOS, retain=will.retain)
        client.max_inflight_messages_set(MAX_INFLIGHT_MESSAGES)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)
        client.on_connect = self._paho_connect
        client.on_disconnect = self._paho_disconnect
        client.on_message = self._paho_message
        client.on_publish = self._paho_publish
        self.paho = client

    def start(self) -> None:
        """Connects in paho's thread, retrying until it succeeds; returns at once."""
        self.paho.connect_async(self.url.host, self.url.port, keepalive=self._keepalive_s)
        self.paho.loop_start()

    def publish(self, messages: Sequence[Publish]) -> None:
        """Hands messages to paho, which sends them now or, being QoS 1, after a reconnect."""
        for m in messages:
            info = self.paho.publish(m.topic, m.payload, qos=QOS, retain=m.retain)
            if info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                self.published += 1
            else:
                self.dropped += 1
                log.warning("%s: publish to %s failed: %s", self.client_id, m.topic, info.rc)

    @property
    def outstanding(self) -> int:
        return self.published - self.acked

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        # RuntimeError: the loop closed under a shutting-down client.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(fn, *args)

    # paho's thread.

    def _paho_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning("%s: broker %s refused: %s", self.client_id, self.url.safe(), reason)
            return
        if self._subscriptions:
            client.subscribe([(f, QOS) for f in self._subscriptions])
        self._call(self._came_up)

    def _paho_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self._call(self._went_down, str(reason))

    def _paho_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self._call(self._on_message, self, msg.topic, bytes(msg.payload))

    def _paho_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        self.acked += 1

    # The loop's thread.

    def _came_up(self) -> None:
        self.up = True
        self.connected.set()
        self._on_up(self)

    def _went_down(self, reason: str) -> None:
        if self.up:
            log.info("%s: disconnected (%s)", self.client_id, reason)
        self.up = False
        self.connected.clear()


def _join(clients: Sequence[_Client]) -> None:
    for c in clients:
        c.paho.loop_stop()


class _Fleet:
    """The clients of a set of devices, one each or one shared, and who handles what."""

    def __init__(
        self,
        *,
        url: str,
        dialect: Dialect,
        devices: Sequence[DeviceSpec],
        client_id_prefix: str,
        keepalive_s: int,
        ca_file: Path | None,
        on_up: Callable[[_Client], None],
        on_command: Callable[[DeviceSpec, Request], None],
        state_of: Callable[[DeviceSpec], State],
    ) -> None:
        self.broker = BrokerUrl.parse(url)
        self._dialect = dialect
        self._on_command = on_command
        self._state_of = state_of
        farm = dialect.farm
        groups = [tuple(devices)] if dialect.shared else [(d,) for d in devices]
        self.clients: list[_Client] = []
        self._client_of: dict[str, _Client] = {}
        for group in groups:
            single = None if dialect.shared else group[0]
            client = _Client(
                url=self.broker,
                client_id=f"{client_id_prefix}{farm}-{single.name if single else 'gateway'}",
                devices=group,
                will=dialect.will(single) if single else None,
                subscriptions=sorted({f for d in group for f in dialect.subscriptions(d)}),
                keepalive_s=keepalive_s,
                ca_file=ca_file,
                on_up=on_up,
                on_message=self._message,
            )
            self.clients.append(client)
            for d in group:
                self._client_of[d.name] = client

    def start(self) -> None:
        for c in self.clients:
            c.start()

    def client(self, device: DeviceSpec) -> _Client:
        return self._client_of[device.name]

    async def wait_connected(self, wait_s: float) -> int:
        """Waits up to `wait_s` for every client's first connection; returns how many are up."""
        waits = [asyncio.ensure_future(c.connected.wait()) for c in self.clients if not c.up]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=wait_s)
            for w in pending:
                w.cancel()
        return sum(c.up for c in self.clients)

    @property
    def published(self) -> int:
        return sum(c.published for c in self.clients)

    @property
    def acked(self) -> int:
        return sum(c.acked for c in self.clients)

    @property
    def dropped(self) -> int:
        return sum(c.dropped for c in self.clients)

    def _message(self, client: _Client, topic: str, payload: bytes) -> None:
        now_ms = time.time_ns() // 1_000_000
        for d in client.devices:
            request = self._dialect.command(d, topic, payload, self._state_of(d), now_ms)
            if request is not None:
                self._on_command(d, request)
                return

    async def stop(self, *, farewell: bool, drain_s: float = STOP_DRAIN_S) -> None:
        """Says goodbye (unless told not to), waits a little for the broker's
        acknowledgements, then disconnects every client cleanly (no will)."""
        now_ms = time.time_ns() // 1_000_000
        if farewell:
            for c in self.clients:
                if c.up:
                    for d in c.devices:
                        c.publish(self._dialect.farewell(d, self._state_of(d), now_ms))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_s
        while loop.time() < deadline:
            if not any(c.up and c.outstanding > 0 for c in self.clients):
                break
            await asyncio.sleep(0.02)
        for c in self.clients:
            c.paho.disconnect()
        # loop_stop joins paho's threads: not on the loop.
        await asyncio.to_thread(_join, self.clients)


# -- the simulator --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a load run did: publishes counted as MQTT messages, acked by the broker."""

    convention: str
    devices: int
    clients: int
    connected: int
    target_rate: float
    seconds: float
    published: int
    acked: int
    dropped: int
    elapsed_s: float
    achieved_rate: float
    max_lag_s: float


class MqttSimulator:
    """Plays simulated devices against a broker in one convention.

    Args:
        url: the broker, `mqtt://[user:pass@]host[:port]` or `mqtts://...`.
        farm: the farm's name (native topics carry it; other conventions rely on the
            bridge's binding naming it).
        convention: one of DIALECTS.
        prefix: the binding's topic prefix; None for the convention's default.
        devices: the devices to play; the demo greenhouse by default.
        interval_s: real seconds between two reports of a device (`run` only).
        time_scale: simulated seconds per real second; readings keep wall-clock times.
        seed: makes weather and noise repeatable; None picks one at random.
        client_id_prefix: client ids are `{prefix}{farm}-{device}` (`-gateway` for
            ThingsBoard); they must stay the same across runs for the sessions to persist.
        ca_file: the CA bundle for mqtts.
        keepalive_s: MQTT keepalive.

    Counters: `published` and `acked` (by the broker) count messages; `commands_applied`
    and `commands_refused` count commands the model carried out and turned down.
    """

    def __init__(
        self,
        *,
        url: str,
        farm: str,
        convention: str = "native",
        prefix: str | None = None,
        devices: Sequence[DeviceSpec] = DEMO_DEVICES,
        interval_s: float = 2.0,
        time_scale: float = 1.0,
        seed: int | None = None,
        client_id_prefix: str = "fbsim-",
        ca_file: Path | None = None,
        keepalive_s: int = KEEPALIVE_S,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        if len({d.name for d in devices}) != len(devices):
            raise ValueError("device names must be unique")
        self.dialect = make_dialect(convention, farm=farm, prefix=prefix)
        self.broker = BrokerUrl.parse(url)
        self._url = url
        self._devices = tuple(devices)
        self._interval_s = interval_s
        self._time_scale = time_scale
        self._client_id_prefix = client_id_prefix
        self._ca_file = ca_file
        self._keepalive_s = keepalive_s
        self.seed = secrets.randbits(32) if seed is None else seed
        self._rng = random.Random(self.seed)  # noqa: S311 - phases, not secrets
        self.model = Greenhouse(
            seed=self.seed, start_s=time.time(), utc_offset_s=time.localtime().tm_gmtoff
        )
        # Which device reports an event about a sensor quantity or an actuator.
        self._owner: dict[str, str] = {}
        for d in self._devices:
            if d.actuator:
                self._owner.setdefault(d.actuator, d.name)
            for s in d.sensors:
                self._owner.setdefault(d.channel(s), d.name)
        self._pending: dict[str, list[SimEvent]] = {d.name: [] for d in self._devices}
        self._reported: dict[str, State] = {}
        self._last_sent: dict[str, float] = {}
        self._seen: dict[str, OrderedDict[int, Outcome]] = {d.name: OrderedDict() for d in devices}
        self._run_id = secrets.token_hex(6)
        self._sequence = 0
        self._fleet: _Fleet | None = None
        self._anchor()
        self.commands_applied = 0
        self.commands_refused = 0

    @property
    def published(self) -> int:
        return self._fleet.published if self._fleet else 0

    @property
    def acked(self) -> int:
        return self._fleet.acked if self._fleet else 0

    @property
    def sent(self) -> int:
        """Messages published (the HTTP simulator's counter of the same name)."""
        return self.published

    def sensor_name(self, device: DeviceSpec, sensor: SensorSpecIn) -> str:
        """What the bridge will call this sensor's readings (for registering them)."""
        return self.dialect.sensor_name(device, sensor)

    # -- running --------------------------------------------------------------------------

    def _start(self) -> _Fleet:
        fleet = _Fleet(
            url=self._url,
            dialect=self.dialect,
            devices=self._devices,
            client_id_prefix=self._client_id_prefix,
            keepalive_s=self._keepalive_s,
            ca_file=self._ca_file,
            on_up=self._came_up,
            on_command=self._command,
            state_of=self._state,
        )
        self._fleet = fleet
        self._anchor()
        fleet.start()
        return fleet

    async def run(self, stop: asyncio.Event) -> None:
        """Runs every device, a report each interval, until `stop` is set; then says
        goodbye and disconnects. A broker that is away is retried; QoS 1 messages wait."""
        fleet = self._start()
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self._report_loop(d), name=f"farmbridge.mqtt_sim.{d.name}")
                    for d in self._devices
                ]
                await stop.wait()
                for task in tasks:
                    task.cancel()
        finally:
            await fleet.stop(farewell=True)

    async def run_paced(
        self, *, rate: float, seconds: float, stop: asyncio.Event | None = None
    ) -> LoadResult:
        """Load mode: publishes `rate` messages a second in total, the devices taking
        turns, for `seconds` (or until `stop`), then waits for the broker's acks.

        Raises ValueError for a rate or duration that is not positive, ConnectionError
        when no client could connect within CONNECT_WAIT_S.
        """
        if rate <= 0 or seconds <= 0:
            raise ValueError(f"rate and seconds must be positive, got {rate} and {seconds}")
        fleet = self._start()
        loop = asyncio.get_running_loop()
        try:
            connected = await fleet.wait_connected(CONNECT_WAIT_S)
            if connected == 0:
                raise ConnectionError(f"no connection to {fleet.broker.safe()}")
            await self._drained(fleet, BIRTH_DRAIN_S)  # count only the paced messages' acks
            start = loop.time()
            cap = MAX_OUTSTANDING_PER_CLIENT * len(fleet.clients)
            first_published, first_acked = fleet.published, fleet.acked
            sent, turn, max_lag = 0, 0, 0.0
            while not (stop is not None and stop.is_set()):
                now = loop.time()
                if now - start >= seconds:
                    break
                # How late this turn starts on the schedule: sleep overshoot, a busy loop,
                # or waiting for the broker's acknowledgements.
                max_lag = max(max_lag, now - start - sent / rate)
                # Behind schedule, a turn still yields to the loop after a bounded batch.
                due = min(int((now - start) * rate) + 1, sent + MAX_BATCH_MESSAGES)
                while sent < due and fleet.published - fleet.acked < cap:
                    sent += self._report(self._devices[turn % len(self._devices)])
                    turn += 1
                await asyncio.sleep(max(PACE_TICK_S, start + (sent + 1) / rate - loop.time()))
            elapsed = loop.time() - start
            await self._drained(fleet, LOAD_DRAIN_S)
            published = fleet.published - first_published
            return LoadResult(
                convention=self.dialect.name,
                devices=len(self._devices),
                clients=len(fleet.clients),
                connected=connected,
                target_rate=rate,
                seconds=seconds,
                published=published,
                acked=fleet.acked - first_acked,
                dropped=fleet.dropped,
                elapsed_s=round(elapsed, 3),
                achieved_rate=round(published / elapsed, 1) if elapsed > 0 else 0.0,
                max_lag_s=round(max_lag, 3),
            )
        finally:
            await fleet.stop(farewell=True)

    @staticmethod
    async def _drained(fleet: _Fleet, wait_s: float) -> None:
        """Waits up to `wait_s` for the broker to acknowledge every message published."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while loop.time() < deadline:
            if fleet.acked >= fleet.published:
                return
            await asyncio.sleep(0.01)

    async def _report_loop(self, spec: DeviceSpec) -> None:
        assert self._fleet is not None
        await self._fleet.client(spec).connected.wait()
        loop = asyncio.get_running_loop()
        # A random phase keeps a fleet started at once from publishing in lockstep.
        next_at = loop.time() + self._rng.uniform(0, self._interval_s)
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            self._report(spec)
            next_at += self._interval_s
            if next_at < loop.time():
                next_at = loop.time()  # far behind: skip the missed ticks, do not burst

    # -- time and model -----------------------------------------------------------------

    def _anchor(self) -> None:
        self._origin_sim_s = self.model.time_s
        self._origin_mono_s = time.monotonic()
        self._origin_wall_s = time.time()

    def _advance(self, *, force: bool = False) -> None:
        now_s = self._origin_sim_s + (time.monotonic() - self._origin_mono_s) * self._time_scale
        if not force and now_s - self.model.time_s < MIN_MODEL_STEP_S:
            return  # a load run reports far more often than the model needs a step
        for event in self.model.advance_to(now_s):
            owner = self._owner.get(event.subject)
            if owner is not None:
                self._pending[owner].append(self._event(event))

    def _event(self, event: ModelEvent) -> SimEvent:
        # Map simulated time back onto the wall clock, never past now.
        wall_s = self._origin_wall_s + (event.time_s - self._origin_sim_s) / self._time_scale
        ts_ms = min(time.time_ns() // 1_000_000, int(wall_s * 1000))
        return SimEvent(event.level, event.code, event.message, ts_ms)

    def _state(self, spec: DeviceSpec) -> State:
        return self.model.actuator_state(spec.actuator) if spec.actuator else {}

    # -- publishing -------------------------------------------------------------------------

    def _came_up(self, client: _Client) -> None:
        now_ms = time.time_ns() // 1_000_000
        for d in client.devices:
            state = self._state(d)
            client.publish(self.dialect.birth(d, state, now_ms))
            self._reported[d.name] = state
            self._last_sent[d.name] = time.monotonic()

    def _report(self, spec: DeviceSpec) -> int:
        """Publishes one report of the device; returns how many messages that took."""
        assert self._fleet is not None
        self._advance()
        now_ms = time.time_ns() // 1_000_000
        state = self._state(spec)
        readings = {
            s.name: min(s.max_value, max(s.min_value, self.model.reading(spec.channel(s))))
            for s in spec.sensors
        }
        self._sequence += 1
        message_id = f"sim-{self._run_id}-{self._sequence}"
        messages = self.dialect.telemetry(spec, readings, state, now_ms, message_id)
        if state != self._reported.get(spec.name):
            messages += self.dialect.status(spec, state, now_ms)
            self._reported[spec.name] = state
        events, self._pending[spec.name] = self._pending[spec.name], []
        messages += self.dialect.events(spec, events)
        mono = time.monotonic()
        if not messages and mono - self._last_sent.get(spec.name, mono) >= HEARTBEAT_S:
            messages = self.dialect.heartbeat(spec, state, now_ms)
        if messages:
            self._fleet.client(spec).publish(messages)
            self._last_sent[spec.name] = mono
        return len(messages)

    def _command(self, spec: DeviceSpec, request: Request) -> None:
        assert self._fleet is not None
        seen = self._seen[spec.name]
        remembered = seen.get(request.id) if request.id is not None else None
        if remembered is not None:
            # Redelivered (QoS 1 is at least once): answer again, do not run it twice.
            outcome = remembered
        else:
            outcome = self._execute(spec, request)
            if request.id is not None:
                seen[request.id] = outcome
                while len(seen) > MAX_REMEMBERED_COMMANDS:
                    seen.popitem(last=False)
        log.info(
            "%s: command %s %s -> %s: %s",
            spec.name,
            request.target,
            request.action,
            "ok" if outcome.ok else "refused",
            outcome.detail,
        )
        now_ms = time.time_ns() // 1_000_000
        state = self._state(spec)
        messages = self.dialect.reply(spec, request, outcome, state, now_ms)
        if state != self._reported.get(spec.name):
            if not (self.dialect.reply_reports_state and outcome.ok):
                messages += self.dialect.status(spec, state, now_ms)
            self._reported[spec.name] = state
        self._fleet.client(spec).publish(messages)
        self._last_sent[spec.name] = time.monotonic()

    def _execute(self, spec: DeviceSpec, request: Request) -> Outcome:
        if request.error is not None:
            self.commands_refused += 1
            return Outcome(False, request.error)
        if request.action is None:
            return Outcome(True, "state reported")
        if spec.actuator is None:
            self.commands_refused += 1
            return Outcome(False, f"{spec.name} has no actuator to command")
        # Catch up first, so a timed pump run is counted from now.
        self._advance(force=True)
        try:
            detail = self.model.apply(spec.actuator, request.action, request.params)
        except ValueError as exc:
            self.commands_refused += 1
            return Outcome(False, str(exc))
        self.commands_applied += 1
        return Outcome(True, detail)


async def run_load(
    *,
    url: str,
    farm: str,
    devices: int,
    rate: float,
    seconds: float,
    convention: str = "native",
    prefix: str | None = None,
    sensors: int = 1,
    device_prefix: str = "d",
    client_id_prefix: str = "fbsim-",
    ca_file: Path | None = None,
    seed: int | None = None,
) -> LoadResult:
    """Runs `devices` sensor nodes (`load_devices`) publishing `rate` messages a second in
    total for `seconds`, and returns what was published and acknowledged.

    Raises ValueError for bad arguments and ConnectionError when the broker is out of reach.
    """
    sim = MqttSimulator(
        url=url,
        farm=farm,
        convention=convention,
        prefix=prefix,
        devices=load_devices(devices, sensors=sensors, name_prefix=device_prefix),
        seed=seed,
        client_id_prefix=client_id_prefix,
        ca_file=ca_file,
    )
    return await sim.run_paced(rate=rate, seconds=seconds)


# -- command line -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m farmbridge.ingest.mqtt.simulator",
        description="Simulated devices over MQTT: a load of sensor nodes, or the demo greenhouse.",
    )
    add = parser.add_argument
    add("--url", required=True, help="broker, mqtt://[user:pass@]host[:port] or mqtts://...")
    add("--farm", required=True, help="the farm the devices are registered on")
    add("--convention", default="native", choices=sorted(DIALECTS))
    add("--prefix", default=None, help="topic prefix (default: the convention's usual one)")
    add("--devices", type=int, default=10, help="load: number of devices")
    add("--rate", type=float, default=200.0, help="load: messages per second, in total")
    add("--seconds", type=float, default=None, help="how long: load 10 s, greenhouse until Ctrl-C")
    add("--sensors", type=int, default=1, help="load: quantities per device, 1 to 5")
    add("--device-prefix", default="d", help="load: devices are named {prefix}0, {prefix}1...")
    add("--client-id-prefix", default="fbsim-")
    add("--ca-file", type=Path, default=None, help="CA bundle for mqtts")
    add("--greenhouse", action="store_true", help="play the demo greenhouse instead of a load")
    add("--interval-s", type=float, default=2.0, help="greenhouse: seconds between reports")
    add("--time-scale", type=float, default=120.0, help="greenhouse: simulated s per real s")
    add("--seed", type=int, default=None)
    add("-v", "--verbose", action="store_true")
    return parser


async def _greenhouse(args: argparse.Namespace, seconds: float | None) -> None:
    sim = MqttSimulator(
        url=args.url,
        farm=args.farm,
        convention=args.convention,
        prefix=args.prefix,
        interval_s=args.interval_s,
        time_scale=args.time_scale,
        seed=args.seed,
        client_id_prefix=args.client_id_prefix,
        ca_file=args.ca_file,
    )
    stop = asyncio.Event()
    if seconds is not None:
        asyncio.get_running_loop().call_later(seconds, stop.set)
    await sim.run(stop)
    print(orjson.dumps({"published": sim.published, "acked": sim.acked}).decode())


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.greenhouse:
            asyncio.run(_greenhouse(args, args.seconds))
            return 0
        result = asyncio.run(
            run_load(
                url=args.url,
                farm=args.farm,
                devices=args.devices,
                rate=args.rate,
                seconds=args.seconds or LOAD_SECONDS,
                convention=args.convention,
                prefix=args.prefix,
                sensors=args.sensors,
                device_prefix=args.device_prefix,
                client_id_prefix=args.client_id_prefix,
                ca_file=args.ca_file,
                seed=args.seed,
            )
        )
    except KeyboardInterrupt:
        return 130
    except (ValueError, ConnectionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps(asdict(result)).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
