"""The dashboard's generic commands (on, off, toggle, set) in every convention, end to end.

One bridge on one real Mosquitto with a binding per convention; each test plays a device
of that convention with a plain paho client, as its firmware would: the bridge must
publish the convention's own command, the device's state report must acknowledge it, and
the device's state must read as the dashboard's `power` / `position` actuator state. A
command a device cannot take fails at once, saying why. Device payloads are the
projects' own examples (cited beside each, as in the unit tests).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import pytest

from tests.conftest import ADMIN, Bridge, make_admin
from tests.integration.api_client import Api
from tests.integration.mqtt_support import Device, eventually
from tests.mosquitto import Mosquitto

FARM: Final = "commands"
TB_KEYED: Final = "tb-valve"
BINDINGS: Final = [
    {"convention": "thingsboard", "prefix": "tb/", "farm": FARM},
    {"convention": "homie", "prefix": "homie/", "farm": FARM},
    {"convention": "tasmota", "prefix": "", "farm": FARM},
    {"convention": "esphome", "prefix": "esphome/", "farm": FARM},
    {"convention": "hass", "prefix": "", "farm": FARM},
]


@dataclass
class Env:
    broker: Mosquitto
    bridge: Bridge
    api: Api
    farm_id: int
    keyed: tuple[int, str]  # the ThingsBoard device's id and access token
    opened: list[Device] = field(default_factory=list)

    def device(self, name: str) -> int:
        body = {"name": name, "kind": "actuator", "sensors": []}
        created = self.api.ok("POST", f"/api/v1/farms/{self.farm_id}/devices", json=body)
        return int(created["device"]["id"])

    def connect(self, name: str, *, port: int | None = None, username: str | None = None) -> Device:
        client_id = f"{name}-{uuid.uuid4().hex[:8]}"
        dev = Device(port or self.broker.port, client_id, keepalive=5, username=username)
        self.opened.append(dev)
        return dev

    def command(self, device_id: int, action: str, params: dict[str, Any] | None = None) -> int:
        body: dict[str, Any] = {"action": action}
        if params is not None:
            body["params"] = params
        r = self.api.http.post(f"/api/v1/devices/{device_id}/commands", json=body)
        assert r.status_code == 201, f"{action!r} refused: {r.status_code} {r.text}"
        return int(r.json()["id"])

    def final(self, command_id: int, timeout: float = 15.0) -> dict[str, Any]:
        """The command once it is acknowledged, failed or timed out."""

        def done() -> dict[str, Any] | None:
            cmd: dict[str, Any] = self.api.ok("GET", f"/api/v1/commands/{command_id}")
            return cmd if cmd["state"] in ("acknowledged", "failed", "timed_out") else None

        return eventually(done, timeout, f"command {command_id} final")

    def actuator(self, device_id: int, expected: dict[str, Any]) -> None:
        """Waits until the device's actuator state holds `expected`."""

        def shows() -> bool:
            status = self.api.ok("GET", f"/api/v1/devices/{device_id}")["status"]
            actuator = status["actuator"]
            return all(actuator.get(k) == v for k, v in expected.items())

        eventually(shows, 15.0, f"device {device_id} actuator {expected}")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("commands")
    data = root / "bridge"
    data.mkdir()
    make_admin(data)
    # The ThingsBoard device first, without MQTT: the broker mounts its key.
    setup = Bridge(data)
    setup.start()
    try:
        api = Api(setup.url, *ADMIN)
        farm_id = int(api.farm(FARM)["id"])
        body = {"name": TB_KEYED, "kind": "actuator", "sensors": []}
        created = api.ok("POST", f"/api/v1/farms/{farm_id}/devices", json=body)
        keyed = (int(created["device"]["id"]), str(created["key"]))
        api.close()
    finally:
        setup.stop()
    broker = Mosquitto(root / "broker")
    broker.mount(f"tb/{keyed[1]}/")
    broker.start()
    bridge = Bridge(
        data,
        env={
            "FARMBRIDGE_MQTT_URL": broker.url,
            "FARMBRIDGE_MQTT_CLIENT_ID": "bridge-commands",
            "FARMBRIDGE_MQTT_BINDINGS": json.dumps(BINDINGS),
            "FARMBRIDGE_COMMAND_TTL_S": "20",
        },
    )
    try:
        bridge.start()
        api = Api(bridge.url, *ADMIN)
        e = Env(broker, bridge, api, farm_id, keyed)
        yield e
        for dev in e.opened:
            with contextlib.suppress(Exception):
                dev.close()
        api.close()
    finally:
        bridge.stop()
        broker.stop()


def received(dev: Device, topic: str) -> list[bytes]:
    return eventually(lambda: dev.messages(topic) or None, 15.0, f"a message on {topic}")


def test_tasmota_dashboard_on_is_power_on_and_its_result_acknowledges_it(env: Env) -> None:
    """`on` goes out as cmnd/<t>/POWER ON; stat/<t>/RESULT {"POWER":"ON"} acknowledges it;
    tele/STATE POWER OFF and the result read as `power: off` / `power: on`."""
    device_id = env.device("tasmota_9CF9D1")
    dev = env.connect("tasmota_9CF9D1")
    dev.subscribe("cmnd/tasmota_9CF9D1/+")
    # tele/STATE from a Tasmota console log (https://pastebin.com/4izDrY6W, line 1).
    dev.publish(
        "tele/tasmota_9CF9D1/STATE",
        b'{"Time":"2024-02-24T22:20:38","Uptime":"0T00:10:11","UptimeSec":611,"Heap":24,'
        b'"SleepMode":"Dynamic","Sleep":50,"LoadAvg":19,"MqttCount":1,"POWER":"OFF",'
        b'"Wifi":{"AP":1,"SSId":"ESP-Network","BSSId":"E6:8D:8C:4B:BE:F7","Channel":3,'
        b'"Mode":"11n","RSSI":44,"Signal":-78,"LinkCount":1,"Downtime":"0T00:00:05"}}',
    )
    env.actuator(device_id, {"power": "off"})
    command_id = env.command(device_id, "on")
    assert received(dev, "cmnd/tasmota_9CF9D1/POWER") == [b"ON"]
    # The reply Tasmota's Commands page shows (https://tasmota.github.io/docs/Commands/).
    dev.publish("stat/tasmota_9CF9D1/RESULT", b'{"POWER":"ON"}')
    assert env.final(command_id)["state"] == "acknowledged"
    env.actuator(device_id, {"power": "on"})


def test_esphome_dashboard_off_goes_to_the_switch_and_its_state_acknowledges_it(
    env: Env,
) -> None:
    """`off` goes to the node's only switch as OFF on its command topic; the switch's
    state OFF acknowledges it and reads as `power: off` (ESPHome's mqtt_switch.cpp
    publishes ON/OFF and parses ON/OFF/TOGGLE)."""
    device_id = env.device("pump-node")
    dev = env.connect("pump-node")
    dev.subscribe("esphome/pump-node/+/+/command")
    dev.publish("esphome/pump-node/switch/pump/state", b"ON", retain=True)
    env.actuator(device_id, {"power": "on"})
    command_id = env.command(device_id, "off")
    assert received(dev, "esphome/pump-node/switch/pump/command") == [b"OFF"]
    dev.publish("esphome/pump-node/switch/pump/state", b"OFF", retain=True)
    assert env.final(command_id)["state"] == "acknowledged"
    env.actuator(device_id, {"power": "off"})


def test_homie_dashboard_toggle_negates_the_power_property_and_its_value_acknowledges_it(
    env: Env,
) -> None:
    """`toggle` sets the settable boolean to the opposite of its last value; the value the
    device then reports acknowledges it. The device is the Homie 5 spec's example
    (homieiot/convention, convention.md: kitchen-light, light/power settable)."""
    device_id = env.device("kitchen-light")
    dev = env.connect("kitchen-light")
    base = "homie/5/kitchen-light"
    dev.subscribe(f"{base}/+/+/set")
    description = {
        "homie": "5.0",
        "version": 3,
        "name": "Kitchen light",
        "nodes": {"light": {"properties": {"power": {"datatype": "boolean", "settable": True}}}},
    }
    dev.publish(f"{base}/$state", b"init", retain=True)
    dev.publish(f"{base}/$description", description, retain=True)
    dev.publish(f"{base}/light/power", b"false", retain=True)
    dev.publish(f"{base}/$state", b"ready", retain=True)
    env.actuator(device_id, {"power": "off"})
    command_id = env.command(device_id, "toggle")
    assert received(dev, f"{base}/light/power/set") == [b"true"]
    dev.publish(f"{base}/light/power", b"true", retain=True)
    assert env.final(command_id)["state"] == "acknowledged"
    env.actuator(device_id, {"power": "on"})


def test_hass_dashboard_on_is_payload_on_and_set_fails_at_once(env: Env) -> None:
    """`on` publishes the switch's payload_on to its command_topic and the state topic's
    ON acknowledges it; a `set` position (no number entities are read) fails at once,
    saying why. The switch is HA's discovery example (home-assistant.io,
    source/_integrations/mqtt.markdown, "Entities with command topics")."""
    device_id = env.device("Garden")
    dev = env.connect("garden")
    dev.subscribe("homeassistant/switch/irrigation/set")
    config = {
        "name": "Irrigation",
        "command_topic": "homeassistant/switch/irrigation/set",
        "state_topic": "homeassistant/switch/irrigation/state",
        "unique_id": "irr01ad",
        "device": {"identifiers": ["garden01ad"], "name": "Garden"},
    }
    dev.publish("homeassistant/switch/irrigation/config", config, retain=True)
    eventually(
        lambda: any(
            s["name"] == "irrigation"
            for s in env.api.ok("GET", f"/api/v1/farms/{env.farm_id}/sensors")
            if s["device_id"] == device_id
        ),
        15.0,
        "the discovered switch",
    )
    dev.publish("homeassistant/switch/irrigation/state", b"OFF", retain=True)
    env.actuator(device_id, {"power": "off"})
    command_id = env.command(device_id, "on")
    assert received(dev, "homeassistant/switch/irrigation/set") == [b"ON"]
    dev.publish("homeassistant/switch/irrigation/state", b"ON", retain=True)
    assert env.final(command_id)["state"] == "acknowledged"
    env.actuator(device_id, {"power": "on"})

    refused = env.final(env.command(device_id, "set", {"position": 40}), timeout=5.0)
    assert refused["state"] == "failed"
    assert "only switches are read" in refused["detail"]


def test_thingsboard_gateway_dashboard_off_is_a_set_value_rpc(env: Env) -> None:
    """`off` reaches a gateway device as the setValue RPC ThingsBoard's switch widget sends
    (params false); the gateway's reply acknowledges it."""
    device_id = env.device("Gw_Valve")
    gw = env.connect("gateway")
    gw.subscribe("tb/v1/gateway/rpc")
    gw.publish("tb/v1/gateway/connect", {"device": "Gw Valve"})
    eventually(
        lambda: env.api.ok("GET", f"/api/v1/devices/{device_id}")["status"]["state"] == "online",
        15.0,
        "gateway device online",
    )
    command_id = env.command(device_id, "off")

    def request() -> dict[str, Any] | None:
        for raw in gw.messages("tb/v1/gateway/rpc"):
            body = json.loads(raw)
            if isinstance(body.get("data"), dict) and "method" in body["data"]:
                return dict(body)
        return None

    assert eventually(request, 15.0, "the RPC request") == {
        "device": "Gw Valve",
        "data": {"id": command_id, "method": "setValue", "params": False},
    }
    # The gateway API's RPC reply (https://thingsboard.io/docs/reference/gateway-mqtt-api/).
    reply = {"device": "Gw Valve", "id": command_id, "data": {"success": True}}
    gw.publish("tb/v1/gateway/rpc", reply)
    assert env.final(command_id)["state"] == "acknowledged"


def test_esphome_dashboard_set_without_a_number_fails_at_once(env: Env) -> None:
    """A node that reported no number fails a `set` at once, not by a time-out."""
    device_id = env.device("fan-node")
    dev = env.connect("fan-node")
    dev.publish("esphome/fan-node/fan/fan/state", b"OFF", retain=True)
    env.actuator(device_id, {"power": "off"})
    refused = env.final(env.command(device_id, "set", {"position": 40}), timeout=5.0)
    assert refused["state"] == "failed"
    assert "reported no number" in refused["detail"]
