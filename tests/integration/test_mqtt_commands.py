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
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest

from tests.conftest import ADMIN, Bridge, make_admin
from tests.integration.api_client import Api
from tests.integration.mqtt_support import Device, eventually
from tests.mosquitto import MOSQUITTO, Mosquitto

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
    ON acknowledges it; a `set` position to a device without a number fails at once,
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
    assert "has reported no number" in refused["detail"]


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


def _mosquitto_version() -> tuple[int, ...]:
    """The version of the mosquitto binary the tests start (`mosquitto -h`'s first line)."""
    out = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, check=False)
    match = re.search(r"mosquitto version (\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    assert match is not None, f"no version in {out.stdout!r}"
    return tuple(int(g) for g in match.groups())


def test_thingsboard_device_behind_a_mount_point_gets_its_rpc_only_on_mosquitto_2_0_12(
    env: Env,
) -> None:
    """The mount-point recipe on the Mosquitto the tests run: a plain paho client connected
    like a ThingsBoard device (its token as username, subscribed to
    v1/devices/me/rpc/request/+) on the listener with mount_point tb/<key>/.

    Its telemetry and RPC responses reach the bridge (the mount point is added to what it
    publishes), so the response acknowledges the command. What the broker delivers to it
    keeps the mount point on Mosquitto 2.0.0-2.0.11 (eclipse-mosquitto/mosquitto#2244,
    fixed in 2.0.12): the RPC arrives on tb/<key>/v1/devices/me/rpc/request/<id>, a topic a
    ThingsBoard client ignores. docs/mqtt.md says which brokers to use instead.
    """
    device_id, key = env.keyed
    dev = env.connect(TB_KEYED, port=env.broker.mounts[f"tb/{key}/"], username=key)
    dev.subscribe("v1/devices/me/rpc/request/+")
    # The device API's telemetry (https://thingsboard.io/docs/reference/mqtt-api/).
    dev.publish("v1/devices/me/telemetry", {"temperature": 42})  # the bridge learns the route
    eventually(
        lambda: env.api.ok("GET", f"/api/v1/devices/{device_id}")["last_seen_ms"],
        15.0,
        "the keyed device seen",
    )
    command_id = env.command(device_id, "on")
    plain = f"v1/devices/me/rpc/request/{command_id}"
    mounted = f"tb/{key}/{plain}"
    got = eventually(
        lambda: [(t, p) for t in (plain, mounted) for p in dev.messages(t)] or None,
        15.0,
        "the RPC request at the device",
    )
    [(topic, payload)] = got
    assert json.loads(payload) == {"method": "setValue", "params": True}
    fixed = _mosquitto_version() >= (2, 0, 12)
    assert topic == (plain if fixed else mounted), (
        f"mosquitto {_mosquitto_version()} delivered the RPC on {topic}"
    )
    dev.publish(f"v1/devices/me/rpc/response/{command_id}", {"success": True})
    assert env.final(command_id)["state"] == "acknowledged"


def test_thingsboard_device_on_its_own_bridged_broker_gets_its_rpc_on_mosquitto_2_0_11(
    env: Env, tmp_path: Path
) -> None:
    """The recipe without mount points (docs/mqtt.md): the device's own small Mosquitto,
    bridged into the bridge's broker with the topic prefixes "" <-> tb/<key>/, gives it a
    namespace of its own both ways, so a plain paho client connected like a ThingsBoard
    device gets its RPC on v1/devices/me/rpc/request/<id> even on Debian's 2.0.11, and
    its telemetry and RPC response reach the bridge under tb/<key>/."""
    body = {"name": "tb-edge-valve", "kind": "actuator", "sensors": []}
    created = env.api.ok("POST", f"/api/v1/farms/{env.farm_id}/devices", json=body)
    device_id, key = int(created["device"]["id"]), str(created["key"])
    edge = Mosquitto(tmp_path / "edge", extra=edge_bridge(env.broker.port, key))
    edge.start()
    try:
        dev = env.connect("tb-edge-valve", port=edge.port, username=key)
        dev.subscribe("v1/devices/me/rpc/request/+")
        dev.publish("v1/devices/me/telemetry", {"temperature": 42})
        eventually(
            lambda: env.api.ok("GET", f"/api/v1/devices/{device_id}")["last_seen_ms"],
            15.0,
            "the bridged device seen",
        )
        command_id = env.command(device_id, "off")
        [request] = received(dev, f"v1/devices/me/rpc/request/{command_id}")
        assert json.loads(request) == {"method": "setValue", "params": False}
        dev.publish(f"v1/devices/me/rpc/response/{command_id}", {"success": True})
        assert env.final(command_id)["state"] == "acknowledged"
    finally:
        edge.stop()


def edge_bridge(main_port: int, key: str) -> list[str]:
    """The bridge section of a device's own Mosquitto, as docs/mqtt.md gives it."""
    prefix = f"tb/{key}/"
    return [
        f"connection tb-{key[:8]}",
        f"address 127.0.0.1:{main_port}",
        f"remote_clientid tb-edge-{key[:8]}",
        "cleansession false",
        f'topic v1/devices/me/telemetry out 1 "" {prefix}',
        f'topic v1/devices/me/attributes out 1 "" {prefix}',
        f'topic v1/devices/me/rpc/response/+ out 1 "" {prefix}',
        f'topic v1/devices/me/rpc/request/+ in 1 "" {prefix}',
    ]
