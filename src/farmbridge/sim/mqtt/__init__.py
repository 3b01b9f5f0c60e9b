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

    python -m farmbridge.sim.mqtt --url mqtt://127.0.0.1:1883 --farm F \\
        --devices 10 --rate 200 --convention native --seconds 10 [--sensors 1] \\
        [--device-prefix d] [--prefix farmbridge/] [--client-id-prefix fbsim-]
    python -m farmbridge.sim.mqtt --url mqtt://127.0.0.1:1883 --farm F \\
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

from farmbridge.sim.devices import LOAD_SENSORS, State, load_devices
from farmbridge.sim.events import SimEvent
from farmbridge.sim.mqtt.cli import main
from farmbridge.sim.mqtt.commands import Outcome, Request
from farmbridge.sim.mqtt.dialects import DIALECTS, make_dialect
from farmbridge.sim.mqtt.dialects.base import DEFAULT_PREFIXES, Dialect
from farmbridge.sim.mqtt.dialects.esphome import EsphomeDialect
from farmbridge.sim.mqtt.dialects.hass import HassDialect
from farmbridge.sim.mqtt.dialects.homie import HomieDialect
from farmbridge.sim.mqtt.dialects.native import NativeDialect
from farmbridge.sim.mqtt.dialects.tasmota import TasmotaDialect
from farmbridge.sim.mqtt.dialects.thingsboard import ThingsBoardDialect
from farmbridge.sim.mqtt.simulator import LoadResult, MqttSimulator, run_load

__all__ = [
    "DEFAULT_PREFIXES",
    "DIALECTS",
    "LOAD_SENSORS",
    "Dialect",
    "EsphomeDialect",
    "HassDialect",
    "HomieDialect",
    "LoadResult",
    "MqttSimulator",
    "NativeDialect",
    "Outcome",
    "Request",
    "SimEvent",
    "State",
    "TasmotaDialect",
    "ThingsBoardDialect",
    "load_devices",
    "main",
    "make_dialect",
    "run_load",
]
