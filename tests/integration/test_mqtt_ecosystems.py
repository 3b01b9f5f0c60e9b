"""Zigbee2MQTT, Shelly Gen2+ and Tasmota's own discovery end to end on a real Mosquitto.

One bridge serves a zigbee2mqtt, a shelly and a tasmota binding (see BINDINGS). Each test
creates its devices over REST first (unknown devices are only held as pending), plays the
device with a paho client publishing the projects' own sample payloads
(tests/ecosystem_samples.py, each cited there), and checks REST and the WebSocket stream.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

import orjson
import pytest

from tests import ecosystem_samples as s
from tests.conftest import ADMIN, Bridge, make_admin
from tests.integration.api_client import Api
from tests.integration.mqtt_support import eventually
from tests.integration.test_mqtt_conventions import Clients, Env, Watcher, received
from tests.integration.ws_probe import Probe
from tests.mosquitto import Mosquitto

FARM: Final = "ecosystems"
CLIENT_ID: Final = "bridge-ecosystems"
BINDINGS: Final = [
    {"convention": "zigbee2mqtt", "prefix": "zigbee2mqtt/", "farm": FARM},
    {"convention": "shelly", "prefix": "", "farm": FARM},
    {"convention": "tasmota", "prefix": "", "farm": FARM},
]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("ecosystems")
    data = root / "bridge"
    data.mkdir()
    make_admin(data)
    broker = Mosquitto(root / "broker")
    broker.start()
    bridge = Bridge(
        data,
        env={
            "FARMBRIDGE_MQTT_URL": broker.url,
            "FARMBRIDGE_MQTT_CLIENT_ID": CLIENT_ID,
            "FARMBRIDGE_MQTT_BINDINGS": json.dumps(BINDINGS),
        },
    )
    try:
        bridge.start()
        api = Api(bridge.url, *ADMIN)
        farm_id = int(api.farm(FARM)["id"])
        yield Env(broker, bridge, api, farm_id, {})
        api.close()
    finally:
        bridge.stop()
        broker.stop()


@pytest.fixture
def clients(env: Env) -> Iterator[Clients]:
    c = Clients(env.broker)
    yield c
    for dev in c.opened:
        with contextlib.suppress(Exception):
            dev.close()


@pytest.fixture
async def watcher(env: Env) -> AsyncIterator[Watcher]:
    probe = await Probe.open(env.bridge.url)
    await probe.auth(env.api.token)
    await probe.send({"type": "subscribe", "id": "s", "farm": env.farm_id})
    await probe.expect("subscribed")
    yield Watcher(probe, env)
    await probe.close()


def events(env: Env, device_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = env.api.ok(
        "GET", f"/api/v1/farms/{env.farm_id}/events?device_id={device_id}"
    )
    return rows


# Zigbee2MQTT


async def test_zigbee2mqtt_bridge_devices_registers_sensors_with_units_before_any_state(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """The retained bridge/devices registers each device's sensors with their units before
    the first state; states are then readings of those sensors; availability is liveness."""
    device_id = env.device("weather_sensor")
    dev = clients.connect("z2m-bridge")
    dev.publish("zigbee2mqtt/bridge/devices", s.Z2M_DEVICES, retain=True)
    expected = {
        "battery": "%",
        "temperature": "°C",
        "humidity": "%",
        "pressure": "hPa",
        "voltage": "mV",
        "linkquality": "lqi",
    }
    eventually(lambda: env.units(device_id) == expected, what="units from bridge/devices")
    dev.publish("zigbee2mqtt/weather_sensor", s.Z2M_WEATHER_STATE)
    await watcher.expect_values(device_id, {"temperature": [27.34], "humidity": [44.72]})
    assert env.units(device_id) == expected

    dev.publish("zigbee2mqtt/weather_sensor/availability", s.Z2M_OFFLINE)
    env.wait_state(device_id, "offline")
    dev.publish("zigbee2mqtt/weather_sensor/availability", s.Z2M_ONLINE)
    env.wait_state(device_id, "online")
    # The bridge's own topics other than bridge/devices are no bad payloads.
    before = env.bad_payloads("zigbee2mqtt:zigbee2mqtt/")
    dev.publish("zigbee2mqtt/bridge/logging", s.Z2M_BRIDGE_LOGGING)
    dev.publish("zigbee2mqtt/bridge/state", s.Z2M_BRIDGE_STATE, retain=True)
    dev.publish("zigbee2mqtt/weather_sensor", s.Z2M_WEATHER_STATE)
    await watcher.expect_values(
        device_id, {"temperature": [27.34, 27.34], "humidity": [44.72, 44.72]}
    )
    assert env.bad_payloads("zigbee2mqtt:zigbee2mqtt/") == before


async def test_zigbee2mqtt_set_command_is_completed_by_the_next_state(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """A command on a settable expose goes to {friendly_name}/set as JSON and is
    acknowledged when the device's state shows the value; the state is actuator state."""
    device_id = env.device("bulb", kind="actuator")
    dev = clients.connect("z2m-bulb")
    dev.publish("zigbee2mqtt/bridge/devices", s.Z2M_DEVICES, retain=True)
    eventually(lambda: "color_temp" in env.units(device_id), what="the bulb's sensors")
    assert env.units(device_id)["color_temp"] == "mired"
    dev.subscribe("zigbee2mqtt/bulb/set")
    command_id = env.command(device_id, "state", {"value": "ON"})
    assert received(dev, "zigbee2mqtt/bulb/set") == [s.Z2M_SET_ON]
    assert env.command_of(command_id)["state"] != "acknowledged"
    dev.publish("zigbee2mqtt/bulb", s.Z2M_BULB_STATE)
    env.wait_command(command_id, "acknowledged")
    actuator = await watcher.expect_state(device_id, "online")
    assert actuator == {"state": "ON", "brightness": 215, "color_temp": 325}
    await watcher.expect_values(device_id, {"brightness": [215.0], "color_temp": [325.0]})


async def test_zigbee2mqtt_command_on_a_read_only_expose_fails(env: Env, clients: Clients) -> None:
    """An expose without the set access bit takes no command: it fails, naming why."""
    device_id = env.device("power_plug", kind="actuator")
    dev = clients.connect("z2m-plug")
    dev.publish("zigbee2mqtt/bridge/devices", s.Z2M_DEVICES, retain=True)
    eventually(lambda: "power" in env.units(device_id), what="the plug's sensors")
    dev.publish("zigbee2mqtt/power_plug/availability", s.Z2M_ONLINE)
    env.wait_state(device_id, "online")
    command_id = env.command(device_id, "energy", {"value": 1})
    failed = env.wait_command(command_id, "failed")
    assert "no settable 'energy'" in failed["detail"]


# Shelly


async def test_shelly_status_topics_and_notifications_are_readings_state_and_events(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """<id>/status/switch:0 gives readings with units and the output; NotifyStatus updates
    the output; NotifyEvent is an event; <id>/online is liveness."""
    device_id = env.device(s.SHELLY_ID, kind="actuator")
    dev = clients.connect("shelly")
    dev.publish(f"{s.SHELLY_ID}/online", s.SHELLY_ONLINE, retain=True)
    env.wait_state(device_id, "online")
    dev.publish(f"{s.SHELLY_ID}/status/switch:0", s.SHELLY_SWITCH_STATUS)
    await watcher.expect_values(
        device_id, {"switch_0.apower": [8.9], "switch_0.temperature.tC": [23.5]}
    )
    units = env.units(device_id)
    assert units["switch_0.apower"] == "W"
    assert units["switch_0.voltage"] == "V"
    assert units["switch_0.aenergy.total"] == "Wh"
    assert units["switch_0.temperature.tC"] == "°C"
    await watcher.expect_state(device_id, "online", {"switch:0": True})

    dev.publish(f"{s.SHELLY_ID}/events/rpc", s.shelly_at(s.SHELLY_NOTIFY_EVENT, time.time()))
    found = eventually(lambda: events(env, device_id) or None, what="the NotifyEvent event")
    assert [(e["level"], e["code"], e["message"]) for e in found] == [
        ("info", "single_push", "input:0: single_push")
    ]
    dev.publish(f"{s.SHELLY_ID}/online", s.SHELLY_OFFLINE, retain=True)
    env.wait_state(device_id, "offline")


async def test_shelly_rpc_command_is_acknowledged_by_the_reply_to_the_bridge(
    env: Env, clients: Clients
) -> None:
    """A command is a JSON-RPC request on <id>/rpc from the bridge's client id; the
    device's response on <client id>/rpc acknowledges it, an error response fails it."""
    device_id = env.device(s.SHELLY_ID + "-rpc", kind="actuator")
    device_topic = s.SHELLY_ID + "-rpc"
    dev = clients.connect("shelly-rpc")
    dev.publish(f"{device_topic}/online", s.SHELLY_ONLINE)
    env.wait_state(device_id, "online")
    dev.subscribe(f"{device_topic}/rpc")
    command_id = env.command(device_id, "Switch.Set", {"id": 0, "on": True})
    [request] = received(dev, f"{device_topic}/rpc")
    frame = orjson.loads(request)
    assert frame == {
        "id": command_id,
        "src": CLIENT_ID,
        "method": "Switch.Set",
        "params": {"id": 0, "on": True},
    }
    dev.publish(f"{frame['src']}/rpc", s.shelly_result_for(command_id, device_topic, CLIENT_ID))
    env.wait_command(command_id, "acknowledged")

    failing = env.command(device_id, "Switch.Set", {"on": True})
    eventually(lambda: len(dev.messages(f"{device_topic}/rpc")) == 2, what="the second request")
    error = orjson.loads(s.SHELLY_ERROR)
    error.update(id=failing, src=device_topic, dst=CLIENT_ID)
    dev.publish(f"{CLIENT_ID}/rpc", error)
    failed = env.wait_command(failing, "failed")
    assert failed["detail"] == "-103: Missing required 'id'"


# Tasmota discovery


async def test_tasmota_discovery_registers_the_device_and_its_sensors_before_telemetry(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """tasmota/discovery/<mac>/config and /sensors (retained) register the device's sensors
    with units before its first tele/SENSOR; the readings then land on them."""
    device_id = env.device("tasmota_49A3BC")
    dev = clients.connect("tasmota-discovery")
    mac = s.TASMOTA_DEFAULT_CONFIG["mac"]
    config = s.tasmota_config(ft="%prefix%/%topic%/", rl=[1, 0, 0, 0, 0, 0, 0, 0])
    dev.publish(f"tasmota/discovery/{mac}/config", config, retain=True)
    dev.publish(f"tasmota/discovery/{mac}/sensors", s.TASMOTA_TEMPERATURE_SENSORS, retain=True)
    eventually(
        lambda: env.units(device_id) == {"DS18B20.Temperature": "°C"}, what="discovered sensors"
    )
    dev.publish("tele/tasmota_49A3BC/SENSOR", s.TASMOTA_DS18B20_SENSOR)
    await watcher.expect_values(device_id, {"DS18B20.Temperature": [12.3]})
    assert env.units(device_id) == {"DS18B20.Temperature": "°C"}


async def test_tasmota_discovery_with_an_unreadable_full_topic_is_a_bad_payload(
    env: Env, clients: Clients
) -> None:
    """HA's test config (FullTopic %topic%/%prefix%/) is refused: logged and counted."""
    before = env.bad_payloads("tasmota:")
    dev = clients.connect("tasmota-other-fulltopic")
    dev.publish("tasmota/discovery/00000049A3BD/config", s.tasmota_config(mac="00000049A3BD"))
    eventually(lambda: env.bad_payloads("tasmota:") > before, what="the refused config")


# Last: restarts the module's bridge.


async def test_zigbee2mqtt_retained_devices_come_before_retained_states_on_subscribing(
    env: Env, clients: Clients
) -> None:
    """On subscribing afresh (a new session), the broker sends the retained bridge/devices
    (subscribed first) before the retained states under '#': a state retained before the
    device list still lands on sensors registered with their units."""
    # The weather sensor's entry under another friendly name (as after a rename in
    # Zigbee2MQTT), so its sensors are new to the store.
    cellar = dict(s.Z2M_WEATHER_SENSOR, friendly_name="cellar_sensor")
    device_id = env.device("cellar_sensor")
    env.bridge.stop()
    dev = clients.connect("z2m-retained")
    dev.publish("zigbee2mqtt/cellar_sensor", s.Z2M_WEATHER_STATE, retain=True)
    devices = [*orjson.loads(s.Z2M_DEVICES), cellar]
    mid = dev.publish("zigbee2mqtt/bridge/devices", orjson.dumps(devices), retain=True)
    eventually(lambda: mid in dev.acked, what="retained messages at the broker")
    # A new client id: a new session, so the broker sends retained messages per
    # subscription (the old session would get what was queued, in publication order).
    env.bridge.env["FARMBRIDGE_MQTT_CLIENT_ID"] = CLIENT_ID + "-2"
    env.bridge.start()

    def stored() -> dict[str, Any] | None:
        sensors = env.sensors(device_id)
        return sensors if sensors.get("temperature", {}).get("last_value") is not None else None

    sensors = eventually(stored, what="the retained state stored")
    assert sensors["temperature"]["last_value"] == 27.34
    assert sensors["temperature"]["unit"] == "°C"
    assert sensors["humidity"]["unit"] == "%"
