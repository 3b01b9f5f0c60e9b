"""Every MQTT convention end to end: a device publishes, the bridge stores, a WebSocket streams.

One bridge serves six bindings on one real Mosquitto (see BINDINGS). Each test owns its
devices (created over REST first: unknown devices are only held as pending), watches the
farm's live stream with a WebSocket client, and checks REST for sensors, status and commands.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import pytest

from tests.conftest import ADMIN, Bridge, make_admin
from tests.integration.api_client import Api
from tests.integration.mqtt_support import Device, eventually
from tests.integration.ws_probe import Probe
from tests.mosquitto import Mosquitto
from tests.unit.test_convention_hass import KITCHEN_DEVICE

FARM: Final = "conventions"
# ThingsBoard devices known by key: each gets its own Mosquitto listener with the mount
# point tb/<key>/. Listeners are set before the broker starts, and only the bridge makes
# keys, so the env fixture creates these devices in a first bridge run without MQTT.
TB_KEYED: Final = ("tb-meter", "tb-meter-bad")
BINDINGS: Final = [
    {"convention": "native", "prefix": "farmbridge/"},
    {"convention": "thingsboard", "prefix": "tb/", "farm": FARM},
    {"convention": "homie", "prefix": "homie/", "farm": FARM},
    {"convention": "tasmota", "prefix": "", "farm": FARM},
    {"convention": "esphome", "prefix": "esphome/", "farm": FARM},
    {"convention": "hass", "prefix": "", "farm": FARM},
]
STREAM_TIMEOUT_S: Final = 10.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Env:
    """The bridge, its broker, an admin's REST client and the farm every binding feeds."""

    broker: Mosquitto
    bridge: Bridge
    api: Api
    farm_id: int
    keyed: dict[str, tuple[int, str]]  # ThingsBoard device name -> (device id, key)

    def device(self, name: str, kind: str = "sensor_node") -> int:
        """Creates a device with no sensors (the convention registers them); its id."""
        body = {"name": name, "kind": kind, "sensors": []}
        created = self.api.ok("POST", f"/api/v1/farms/{self.farm_id}/devices", json=body)
        return int(created["device"]["id"])

    def sensors(self, device_id: int) -> dict[str, dict[str, Any]]:
        rows = self.api.ok("GET", f"/api/v1/farms/{self.farm_id}/sensors")
        return {s["name"]: s for s in rows if s["device_id"] == device_id}

    def units(self, device_id: int) -> dict[str, str]:
        return {name: s["unit"] for name, s in self.sensors(device_id).items()}

    def status(self, device_id: int) -> dict[str, Any]:
        status: dict[str, Any] = self.api.ok("GET", f"/api/v1/devices/{device_id}")["status"]
        return status

    def state_in_list(self, device_id: int) -> str:
        """status.state as GET /api/v1/farms/{id}/devices shows it."""
        devices = self.api.ok("GET", f"/api/v1/farms/{self.farm_id}/devices")
        return str(next(d for d in devices if d["id"] == device_id)["status"]["state"])

    def command(self, device_id: int, action: str, params: dict[str, Any]) -> int:
        r = self.api.http.post(
            f"/api/v1/devices/{device_id}/commands", json={"action": action, "params": params}
        )
        assert r.status_code == 201, (
            f"POST /api/v1/devices/{device_id}/commands refused action {action!r}:"
            f" {r.status_code} {r.text}"
        )
        return int(r.json()["id"])

    def command_of(self, command_id: int) -> dict[str, Any]:
        cmd: dict[str, Any] = self.api.ok("GET", f"/api/v1/commands/{command_id}")
        return cmd

    def wait_command(self, command_id: int, state: str) -> dict[str, Any]:
        return eventually(
            lambda: (c := self.command_of(command_id))["state"] == state and c,
            what=f"command {command_id} {state}",
        )

    def wait_state(self, device_id: int, state: str) -> None:
        eventually(
            lambda: self.state_in_list(device_id) == state,
            what=f"device {device_id} {state} over REST",
        )

    def metric(self, sample: str) -> float:
        """One sample of /metrics, 0 when absent."""
        text = httpx.get(f"{self.bridge.url}/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith(sample + " "):
                return float(line[len(sample) + 1 :])
        return 0.0

    def bad_payloads(self, binding: str) -> float:
        """farmbridge_mqtt_bad_payloads_total of one binding (by its key)."""
        return self.metric(f'farmbridge_mqtt_bad_payloads_total{{binding="{binding}"}}')

    def messages(self, binding: str) -> float:
        """Messages a binding read fine (farmbridge_mqtt_messages_total, result ok)."""
        return self.metric(f'farmbridge_mqtt_messages_total{{binding="{binding}",result="ok"}}')


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("conventions")
    data = root / "bridge"
    data.mkdir()
    make_admin(data)
    # First without MQTT: the farm, and the ThingsBoard devices whose keys the broker
    # mounts. Keys are made by the bridge and shown once, at creation.
    setup = Bridge(data)
    setup.start()
    try:
        api = Api(setup.url, *ADMIN)
        farm_id = int(api.farm(FARM)["id"])
        keyed: dict[str, tuple[int, str]] = {}
        for name in TB_KEYED:
            body: dict[str, Any] = {"name": name, "kind": "sensor_node", "sensors": []}
            created = api.ok("POST", f"/api/v1/farms/{farm_id}/devices", json=body)
            keyed[name] = (int(created["device"]["id"]), str(created["key"]))
        api.close()
    finally:
        setup.stop()
    broker = Mosquitto(root / "broker")
    for _device_id, key in keyed.values():
        broker.mount(f"tb/{key}/")
    broker.start()
    bridge = Bridge(
        data,
        env={
            "FARMBRIDGE_MQTT_URL": broker.url,
            "FARMBRIDGE_MQTT_CLIENT_ID": "bridge-conventions",
            "FARMBRIDGE_MQTT_BINDINGS": json.dumps(BINDINGS),
        },
    )
    try:
        bridge.start()
        api = Api(bridge.url, *ADMIN)
        yield Env(broker, bridge, api, farm_id, keyed)
        api.close()
    finally:
        bridge.stop()
        broker.stop()


@dataclass
class Clients:
    """Device clients of one test, closed at its end."""

    broker: Mosquitto
    opened: list[Device] = field(default_factory=list)

    def connect(
        self,
        name: str,
        *,
        port: int | None = None,
        will: tuple[str, bytes] | None = None,
        username: str | None = None,
    ) -> Device:
        client_id = f"{name}-{uuid.uuid4().hex[:8]}"
        dev = Device(port or self.broker.port, client_id, will=will, keepalive=5, username=username)
        self.opened.append(dev)
        return dev

    def keyed(self, env: Env, name: str) -> Device:
        """A ThingsBoard device on the listener that mounts its topics under tb/<key>/."""
        _device_id, key = env.keyed[name]
        return self.connect(name, port=env.broker.mounts[f"tb/{key}/"], username=key)


@pytest.fixture
def clients(env: Env) -> Iterator[Clients]:
    c = Clients(env.broker)
    yield c
    for dev in c.opened:
        with contextlib.suppress(Exception):
            dev.close()


class Watcher:
    """A WebSocket client subscribed to the farm, keeping every change it is streamed."""

    def __init__(self, probe: Probe, env: Env) -> None:
        self.probe = probe
        self.env = env
        self.readings: list[tuple[int, float, int]] = []  # sensor id, value, device ts
        self.statuses: list[tuple[int, str, dict[str, Any]]] = []  # device id, state, actuator
        self.commands: list[tuple[int, str]] = []  # command id, state
        self._sensors: dict[int, tuple[int, str]] = {}  # sensor id -> device id, name

    async def until(
        self, done: Callable[[], bool], what: str, timeout: float = STREAM_TIMEOUT_S
    ) -> None:
        """Reads batches until `done()` holds; fails naming `what` after `timeout`."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"the WebSocket never showed {what}; it showed readings {self.readings},"
                    f" statuses {self.statuses}, commands {self.commands}"
                )
            try:
                batch = await self.probe.expect("batch", min(left, 1.0))
            except TimeoutError:
                continue
            t0 = int(batch["t0"])
            for _seq, sensor_id, value, ts, _stored in batch.get("r", []):
                self.readings.append((sensor_id, value, t0 + ts))
            for _seq, device_id, state, actuator, _ts, _stored in batch.get("s", []):
                self.statuses.append((device_id, state, actuator))
            for _seq, command_id, _device_id, state, *_rest in batch.get("c", []):
                self.commands.append((command_id, state))

    def series(self, device_id: int) -> dict[str, list[tuple[float, int]]]:
        """(value, device ts) streamed per sensor name of one device, in stream order."""
        if any(sid not in self._sensors for sid, _v, _t in self.readings):
            for s in self.env.api.ok("GET", f"/api/v1/farms/{self.env.farm_id}/sensors"):
                self._sensors[s["id"]] = (s["device_id"], s["name"])
        out: dict[str, list[tuple[float, int]]] = {}
        for sensor_id, value, ts in self.readings:
            owner, name = self._sensors.get(sensor_id, (None, ""))
            if owner == device_id:
                out.setdefault(name, []).append((value, ts))
        return out

    def values(self, device_id: int) -> dict[str, list[float]]:
        return {k: [v for v, _ts in vs] for k, vs in self.series(device_id).items()}

    async def expect_values(
        self, device_id: int, expected: dict[str, list[float]]
    ) -> dict[str, list[tuple[float, int]]]:
        """Waits until each sensor in `expected` streamed as many values, then checks them."""

        def arrived() -> bool:
            got = self.values(device_id)
            return all(len(got.get(k, [])) >= len(v) for k, v in expected.items())

        await self.until(arrived, f"readings {expected} of device {device_id}")
        got = self.values(device_id)
        assert {k: got[k] for k in expected} == expected
        return self.series(device_id)

    async def expect_state(
        self, device_id: int, state: str, actuator: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Waits for a status change of the device to `state` (with `actuator`, when
        given); its actuator."""

        def seen() -> bool:
            return any(
                d == device_id and s == state and (actuator is None or a == actuator)
                for d, s, a in self.statuses
            )

        await self.until(seen, f"device {device_id} {state}")
        return [a for d, s, a in self.statuses if d == device_id and s == state][-1]

    async def expect_command(self, command_id: int, state: str) -> None:
        await self.until(
            lambda: (command_id, state) in self.commands, f"command {command_id} {state}"
        )


@pytest.fixture
async def watcher(env: Env) -> AsyncIterator[Watcher]:
    probe = await Probe.open(env.bridge.url)
    await probe.auth(env.api.token)
    await probe.send({"type": "subscribe", "id": "s", "farm": env.farm_id})
    await probe.expect("subscribed")
    yield Watcher(probe, env)
    await probe.close()


def received(dev: Device, topic: str) -> list[bytes]:
    """Waits for messages on `topic` at the device client."""
    return eventually(lambda: dev.messages(topic) or None, what=f"a message on {topic}")


def received_mounted(dev: Device, key: str, topic: str) -> list[bytes]:
    """Waits for messages on `topic` at a client of the tb/<key>/ mount point listener.

    Mosquitto strips the mount point from what it delivers to such a client, except
    2.0.0-2.0.11 (eclipse-mosquitto/mosquitto#2244, fixed in 2.0.12), which leave it on.
    """
    both = (topic, f"tb/{key}/{topic}")
    return eventually(
        lambda: [p for t in both for p in dev.messages(t)] or None, what=f"a message on {topic}"
    )


# native


async def test_native_telemetry_is_stored_streamed_and_registers_its_keys(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """Native telemetry, envelope and short form, streams with its values and device
    timestamps, and each key becomes a sensor of the device."""
    device_id = env.device("native-node")
    dev = clients.connect("native-node")
    ts = now_ms() - 5_000
    envelope = {"message_id": "n-1", "ts": ts, "readings": {"temperature": 21.5, "humidity": 60}}
    dev.publish(f"farmbridge/{FARM}/native-node/telemetry", envelope)
    dev.publish(f"farmbridge/{FARM}/native-node/telemetry", {"temperature": 22})
    series = await watcher.expect_values(
        device_id, {"temperature": [21.5, 22.0], "humidity": [60.0]}
    )
    assert series["temperature"][0][1] == ts
    assert series["humidity"][0][1] == ts
    assert env.units(device_id) == {"temperature": "", "humidity": ""}


async def test_native_status_and_command_ack_round_trip(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """Native status sets the device online and offline; a command goes out on
    {farm}/{device}/commands and the device's ack acknowledges it."""
    device_id = env.device("native-pump", kind="actuator")
    dev = clients.connect("native-pump")
    base = f"farmbridge/{FARM}/native-pump"
    dev.subscribe(f"{base}/commands")
    dev.publish(f"{base}/status", {"state": "online", "actuator": {"valve": "closed"}})
    assert await watcher.expect_state(device_id, "online") == {"valve": "closed"}
    env.wait_state(device_id, "online")

    command_id = env.command(device_id, "irrigate", {"minutes": 5})
    body = json.loads(received(dev, f"{base}/commands")[0])
    assert {k: body[k] for k in ("id", "action", "params")} == {
        "id": command_id,
        "action": "irrigate",
        "params": {"minutes": 5},
    }
    assert body["expires"] > now_ms()
    dev.publish(f"{base}/commands/ack", {"id": command_id, "ok": True, "detail": "started"})
    assert env.wait_command(command_id, "acknowledged")["detail"] == "started"
    await watcher.expect_command(command_id, "acknowledged")

    dev.publish(f"{base}/status", {"state": "offline"})
    await watcher.expect_state(device_id, "offline")
    env.wait_state(device_id, "offline")


# thingsboard


async def test_thingsboard_device_api_through_a_mount_point_is_stored_and_streamed(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """A ThingsBoard device publishing v1/devices/me/telemetry on a listener with mount
    point tb/<key>/ is found by its key: buffered readings keep their timestamps, numeric
    text and booleans are read, other text is skipped; attributes set it online."""
    device_id, _key = env.keyed["tb-meter"]
    dev = clients.keyed(env, "tb-meter")
    t1, t2 = now_ms() - 60_000, now_ms() - 30_000
    dev.publish(
        "v1/devices/me/telemetry",
        [
            {"ts": t1, "values": {"temperature": 21.5, "firmware": "1.2.3"}},
            {"ts": t2, "values": {"temperature": 21.7}},
        ],
    )
    dev.publish("v1/devices/me/telemetry", {"humidity": "55.5", "pump_on": True, "note": None})
    series = await watcher.expect_values(
        device_id, {"temperature": [21.5, 21.7], "humidity": [55.5], "pump_on": [1.0]}
    )
    assert [ts for _v, ts in series["temperature"]] == [t1, t2]
    assert set(env.sensors(device_id)) == {"temperature", "humidity", "pump_on"}

    dev.publish("v1/devices/me/attributes", {"valve": "open", "setpoint": 21, "cfg": {"a": 1}})
    attributes = {"valve": "open", "setpoint": 21}
    assert await watcher.expect_state(device_id, "online", attributes) == attributes
    env.wait_state(device_id, "online")


async def test_thingsboard_device_rpc_round_trip(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """A command to a device known by key goes out as an RPC request under its mount
    point; its RPC response acknowledges it, an error in the response fails it."""
    device_id, key = env.keyed["tb-meter"]
    dev = clients.keyed(env, "tb-meter")
    dev.subscribe("v1/devices/me/rpc/request/+")
    dev.publish("v1/devices/me/telemetry", {"temperature": 20.0})  # the bridge learns the route
    await watcher.expect_values(device_id, {"temperature": [20.0]})

    ok_id = env.command(device_id, "setValve", {"open": True})
    request = received_mounted(dev, key, f"v1/devices/me/rpc/request/{ok_id}")
    assert json.loads(request[0]) == {"method": "setValve", "params": {"open": True}}
    dev.publish(f"v1/devices/me/rpc/response/{ok_id}", {"open": True})
    env.wait_command(ok_id, "acknowledged")
    await watcher.expect_command(ok_id, "acknowledged")

    failed_id = env.command(device_id, "setValve", {"open": False})
    received_mounted(dev, key, f"v1/devices/me/rpc/request/{failed_id}")
    dev.publish(f"v1/devices/me/rpc/response/{failed_id}", {"error": "valve jammed"})
    assert env.wait_command(failed_id, "failed")["detail"] == "valve jammed"


async def test_thingsboard_gateway_reports_connects_disconnects_and_takes_rpc(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """A gateway's telemetry is one report per device it names (names cleaned), connect and
    disconnect set them online and offline, and RPC goes out on v1/gateway/rpc with the
    name the gateway used; its reply acknowledges the command."""
    pump_id = env.device("Gw_Pump", kind="actuator")
    probe_id = env.device("Gw_Probe")
    gw = clients.connect("gateway")
    gw.subscribe("tb/v1/gateway/rpc")
    gw.publish("tb/v1/gateway/connect", {"device": "Gw Pump"})
    await watcher.expect_state(pump_id, "online")
    env.wait_state(pump_id, "online")
    ts = now_ms() - 10_000
    gw.publish(
        "tb/v1/gateway/telemetry",
        {
            "Gw Pump": [{"ts": ts, "values": {"pressure": 1.2}}],
            "Gw Probe": [{"ts": ts, "values": {"moisture": 31}}],
        },
    )
    pump = await watcher.expect_values(pump_id, {"pressure": [1.2]})
    probe = await watcher.expect_values(probe_id, {"moisture": [31.0]})
    assert pump["pressure"][0][1] == probe["moisture"][0][1] == ts
    assert set(env.sensors(pump_id)) == {"pressure"}
    assert set(env.sensors(probe_id)) == {"moisture"}

    command_id = env.command(pump_id, "setPump", {"on": True})

    def request() -> dict[str, Any] | None:
        for raw in gw.messages("tb/v1/gateway/rpc"):
            body = json.loads(raw)
            if isinstance(body.get("data"), dict) and "method" in body["data"]:
                return dict(body)
        return None

    assert eventually(request, what="the gateway RPC request") == {
        "device": "Gw Pump",
        "data": {"id": command_id, "method": "setPump", "params": {"on": True}},
    }
    gw.publish("tb/v1/gateway/rpc", {"device": "Gw Pump", "id": command_id, "data": {"on": True}})
    env.wait_command(command_id, "acknowledged")
    await watcher.expect_command(command_id, "acknowledged")

    gw.publish("tb/v1/gateway/disconnect", {"device": "Gw Pump"})
    await watcher.expect_state(pump_id, "offline")
    env.wait_state(pump_id, "offline")


# homie

HOMIE_DESCRIPTION: Final = {
    "homie": "5.0",
    "version": 1,
    "name": "Greenhouse 1",
    "nodes": {
        "climate": {
            "properties": {
                "temperature": {"datatype": "float", "unit": "°C"},
                "humidity": {"datatype": "integer", "unit": "%"},
                "target": {"datatype": "float", "unit": "°C", "settable": True},
                "mode": {"datatype": "enum", "format": "auto,manual", "settable": True},
            }
        }
    },
}


async def test_homie_description_registers_sensors_and_values_stream(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """$description registers one sensor per numeric property, {node}.{property} with its
    unit, before any value; values stream, an enum value is no reading."""
    device_id = env.device("gh-homie")
    dev = clients.connect("gh-homie")
    base = "homie/5/gh-homie"
    dev.publish(f"{base}/$state", b"init", retain=True)
    dev.publish(f"{base}/$description", HOMIE_DESCRIPTION, retain=True)
    eventually(lambda: len(env.sensors(device_id)) == 3, what="described sensors")
    assert env.units(device_id) == {
        "climate.temperature": "°C",
        "climate.humidity": "%",
        "climate.target": "°C",
    }
    assert all(s["last_value"] is None for s in env.sensors(device_id).values())

    dev.publish(f"{base}/$state", b"ready", retain=True)
    dev.publish(f"{base}/climate/temperature", b"21.5", retain=True)
    dev.publish(f"{base}/climate/humidity", b"55", retain=True)
    dev.publish(f"{base}/climate/mode", b"auto", retain=True)
    dev.publish(f"{base}/climate/temperature", b"21.75", retain=True)
    await watcher.expect_values(
        device_id, {"climate.temperature": [21.5, 21.75], "climate.humidity": [55.0]}
    )
    assert set(watcher.values(device_id)) == {"climate.temperature", "climate.humidity"}
    assert len(env.sensors(device_id)) == 3  # mode, an enum, is no sensor
    env.wait_state(device_id, "online")


async def test_homie_state_lost_from_the_will_turns_the_device_offline(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """$state ready sets a Homie device online; the will $state lost sets it offline."""
    device_id = env.device("gh-homie-lwt")
    base = "homie/5/gh-homie-lwt"
    dev = clients.connect("gh-homie-lwt", will=(f"{base}/$state", b"lost"))
    dev.publish(f"{base}/$state", b"ready", retain=True)
    await watcher.expect_state(device_id, "online")
    env.wait_state(device_id, "online")
    dev.vanish()
    await watcher.expect_state(device_id, "offline")
    env.wait_state(device_id, "offline")


async def test_homie_command_sets_the_property_and_its_value_acknowledges_it(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """A command with action {node}.{property} (the sensor's name) goes out on
    5/{device}/{node}/{property}/set; the property reporting the value acknowledges it."""
    device_id = env.device("gh-homie-cmd", kind="actuator")
    dev = clients.connect("gh-homie-cmd")
    base = "homie/5/gh-homie-cmd"
    dev.subscribe(f"{base}/climate/target/set")
    dev.publish(f"{base}/$description", HOMIE_DESCRIPTION, retain=True)
    dev.publish(f"{base}/$state", b"ready", retain=True)
    dev.publish(f"{base}/climate/target", b"21", retain=True)
    await watcher.expect_values(device_id, {"climate.target": [21.0]})

    r = env.api.http.post(
        f"/api/v1/devices/{device_id}/commands",
        json={"action": "climate.target", "params": {"value": 23.0}},
    )
    assert r.status_code == 201, r.text
    command_id = int(r.json()["id"])
    assert received(dev, f"{base}/climate/target/set") == [b"23"]
    dev.publish(f"{base}/climate/target", b"23", retain=True)
    env.wait_command(command_id, "acknowledged")
    await watcher.expect_command(command_id, "acknowledged")


# tasmota


async def test_tasmota_sensor_and_state_are_stored_and_streamed(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """tele/<t>/SENSOR gives one reading per numeric leaf named by its path, with units;
    tele/<t>/STATE sets the device online with its POWER keys and reads Wifi.RSSI."""
    device_id = env.device("tasmota_4F2A")
    dev = clients.connect("tasmota_4F2A")
    dev.publish(
        "tele/tasmota_4F2A/STATE",
        {"Uptime": "0T01:00:00", "POWER1": "ON", "POWER2": "OFF", "Wifi": {"RSSI": 76}},
    )
    dev.publish(
        "tele/tasmota_4F2A/SENSOR",
        {
            "Time": "2024-01-01T10:00:00",
            "AM2301": {"Temperature": 21.3, "Humidity": 55.1},
            "ENERGY": {"Total": 1.5, "Power": 12},
            "Switch1": "ON",
            "TempUnit": "C",
        },
    )
    await watcher.expect_values(
        device_id,
        {
            "Wifi.RSSI": [76.0],
            "AM2301.Temperature": [21.3],
            "AM2301.Humidity": [55.1],
            "ENERGY.Total": [1.5],
            "ENERGY.Power": [12.0],
        },
    )
    assert env.units(device_id) == {
        "Wifi.RSSI": "%",
        "AM2301.Temperature": "°C",
        "AM2301.Humidity": "%",
        "ENERGY.Total": "kWh",
        "ENERGY.Power": "W",
    }
    # Relays in the dashboard's vocabulary: POWER1 is `power`, POWER2 `power2`.
    assert await watcher.expect_state(device_id, "online") == {"power": "on", "power2": "off"}
    env.wait_state(device_id, "online")
    assert env.status(device_id)["actuator"] == {"power": "on", "power2": "off"}


async def test_tasmota_multi_channel_arrays_and_numbered_keys_are_stored_with_units(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """A two-channel meter's array values are one sensor per channel (ENERGY.Power.0 and
    .1) with the key's unit; a numbered key (ANALOG.Temperature1) has TempUnit's unit."""
    meter_id = env.device("tasmota_DUAL")
    panel_id = env.device("NSPanel1")
    dev = clients.connect("tasmota_DUAL")
    # A Sonoff Dual R3's SENSOR (ferrets6/wattson, internal/mqtt/collector_test.go).
    dev.publish(
        "tele/tasmota_DUAL/SENSOR",
        b'{"Time":"2026-09-18T11:19:21","ENERGY":{"TotalStartTime":"2026-09-16T00:00:00",'
        b'"Total":[2.813,0.254],"Yesterday":[1.530,0.125],"Today":[0.772,0.059],'
        b'"Power":[52,5],"ApparentPower":[66,10],"ReactivePower":[40,9],"Factor":[0.79,0.50],'
        b'"Voltage":235,"Current":[0.278,0.044],"BL09XX":{"Temperature":46.5}}}',
    )
    # A Sonoff NSPanel's SENSOR (smarthomeNG/plugins, tasmota/__init__.py).
    dev.publish(
        "tele/NSPanel1/SENSOR",
        b'{"Time":"2022-12-03T13:16:26","ANALOG":{"Temperature1":27.4},'
        b'"ESP32":{"Temperature":37.8},"TempUnit":"C"}',
    )
    await watcher.expect_values(
        meter_id,
        {"ENERGY.Power.0": [52.0], "ENERGY.Power.1": [5.0], "ENERGY.Total.1": [0.254]},
    )
    await watcher.expect_values(panel_id, {"ANALOG.Temperature1": [27.4]})
    units = env.units(meter_id)
    assert (units["ENERGY.Power.0"], units["ENERGY.Power.1"], units["ENERGY.Total.0"]) == (
        "W",
        "W",
        "kWh",
    )
    assert len(units) == 18
    assert env.units(panel_id) == {"ANALOG.Temperature1": "°C", "ESP32.Temperature": "°C"}


async def test_tasmota_lwt_offline_turns_the_device_offline(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """tele/<t>/LWT Online sets the device online; the will Offline sets it offline."""
    device_id = env.device("tasmota_LWT")
    dev = clients.connect("tasmota_LWT", will=("tele/tasmota_LWT/LWT", b"Offline"))
    dev.publish("tele/tasmota_LWT/LWT", b"Online", retain=True)
    await watcher.expect_state(device_id, "online")
    env.wait_state(device_id, "online")
    dev.vanish()
    await watcher.expect_state(device_id, "offline")
    env.wait_state(device_id, "offline")


async def test_tasmota_command_goes_to_cmnd_and_its_result_acknowledges_it(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """A command goes out on cmnd/<t>/<command> as plain text; stat/<t>/RESULT (JSON) and
    plain stat/<t>/POWER (for POWER1) reporting the value acknowledge it."""
    device_id = env.device("tasmota_CMD", kind="actuator")
    dev = clients.connect("tasmota_CMD")
    dev.subscribe("cmnd/tasmota_CMD/+")
    dev.publish("tele/tasmota_CMD/STATE", {"POWER1": "ON", "Wifi": {"RSSI": 60}})
    await watcher.expect_state(device_id, "online")

    off_id = env.command(device_id, "POWER1", {"value": "OFF"})
    assert received(dev, "cmnd/tasmota_CMD/POWER1") == [b"OFF"]
    dev.publish("stat/tasmota_CMD/RESULT", {"POWER1": "OFF"})
    env.wait_command(off_id, "acknowledged")
    await watcher.expect_command(off_id, "acknowledged")

    # One relay answers POWER1 with POWER: the same relay for completion.
    on_id = env.command(device_id, "POWER1", {"value": True})
    eventually(lambda: len(dev.messages("cmnd/tasmota_CMD/POWER1")) == 2, what="second cmnd")
    assert dev.messages("cmnd/tasmota_CMD/POWER1")[1] == b"ON"
    dev.publish("stat/tasmota_CMD/POWER", b"ON")
    env.wait_command(on_id, "acknowledged")


# esphome


async def test_esphome_states_are_stored_and_streamed(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """sensor and binary_sensor states are readings named by object_id; a switch state sets
    the device online with its actuator state; a text_sensor is ignored."""
    device_id = env.device("gh-esp")
    dev = clients.connect("gh-esp")
    base = "esphome/gh-esp"
    dev.publish(f"{base}/sensor/temperature/state", b"21.5")
    dev.publish(f"{base}/sensor/soil_moisture/state", b"40")
    dev.publish(f"{base}/binary_sensor/door/state", b"ON")
    dev.publish(f"{base}/text_sensor/version/state", b"2024.6.1")
    dev.publish(f"{base}/switch/pump/state", b"OFF")
    await watcher.expect_values(
        device_id, {"temperature": [21.5], "soil_moisture": [40.0], "door": [1.0]}
    )
    assert set(env.sensors(device_id)) == {"temperature", "soil_moisture", "door"}
    # The node's only switch, in the dashboard's vocabulary.
    assert await watcher.expect_state(device_id, "online") == {"power": "off"}
    env.wait_state(device_id, "online")


async def test_esphome_status_offline_turns_the_device_offline(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """<node>/status online (birth) sets the device online, offline (the will) offline."""
    device_id = env.device("gh-esp-lwt")
    dev = clients.connect("gh-esp-lwt", will=("esphome/gh-esp-lwt/status", b"offline"))
    dev.publish("esphome/gh-esp-lwt/status", b"online", retain=True)
    await watcher.expect_state(device_id, "online")
    env.wait_state(device_id, "online")
    dev.vanish()
    await watcher.expect_state(device_id, "offline")
    env.wait_state(device_id, "offline")


async def test_esphome_command_goes_to_the_command_topic_and_its_state_acknowledges_it(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """A switch command goes out on <node>/switch/<object_id>/command; the switch's state
    showing the value acknowledges it."""
    device_id = env.device("gh-esp-cmd", kind="actuator")
    dev = clients.connect("gh-esp-cmd")
    base = "esphome/gh-esp-cmd"
    dev.subscribe(f"{base}/switch/pump/command")
    dev.publish(f"{base}/status", b"online")
    dev.publish(f"{base}/switch/pump/state", b"OFF")
    await watcher.expect_state(device_id, "online")

    command_id = env.command(device_id, "pump", {"value": "ON", "component": "switch"})
    assert received(dev, f"{base}/switch/pump/command") == [b"ON"]
    dev.publish(f"{base}/switch/pump/state", b"ON")
    env.wait_command(command_id, "acknowledged")
    await watcher.expect_command(command_id, "acknowledged")
    eventually(lambda: env.status(device_id)["actuator"] == {"power": "on"}, what="power on")


async def test_esphome_units_come_from_its_discovery_config_and_numbers_are_stored(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """The HA discovery config an ESPHome node publishes registers its sensor with the
    config's unit before any state; a number's state is stored, and a number command is
    acknowledged by the state showing the value."""
    device_id = env.device("garagedoor1")
    dev = clients.connect("garagedoor1")
    base = "esphome/garagedoor1"
    # ESPHome 2026.8.0's config, captured from a real device (avanha/pmaas-plugin-esphome,
    # internal/hadiscovery/captured_test.go), for a node whose mqtt: topic_prefix is
    # esphome/garagedoor1 (ESPHome's default is the node name): stat_t starts with it.
    config = {
        "sug_dsp_prc": 1,
        "unit_of_meas": "°C",
        "stat_cla": "measurement",
        "name": "Garage Temperature",
        "dev_cla": "temperature",
        "stat_t": f"{base}/sensor/garage_temperature/state",
        "avty_t": f"{base}/status",
        "uniq_id": "ESPsensorgarage_temperature",
        "dev": {
            "ids": "20500de464ec",
            "name": "GarageDoor1",
            "sw": "2026.8.0 (config hash 0x0dd1e1e6)",
            "mdl": "esp32",
            "mf": "Espressif",
            "cns": [["mac", "20500de464ec"]],
        },
    }
    topic = "homeassistant/sensor/garagedoor1/garage_temperature/config"
    dev.publish(topic, config, retain=True)
    eventually(lambda: env.units(device_id) == {"garage_temperature": "°C"}, what="discovered unit")
    dev.publish(f"{base}/sensor/garage_temperature/state", b"21.5")
    # ESPHome's mqtt_number.cpp publishes a number's state with printf %f.
    dev.publish(f"{base}/number/target_moisture/state", b"40.000000")
    await watcher.expect_values(
        device_id, {"garage_temperature": [21.5], "target_moisture": [40.0]}
    )
    assert env.units(device_id) == {"garage_temperature": "°C", "target_moisture": ""}

    dev.subscribe(f"{base}/number/target_moisture/command")
    command_id = env.command(device_id, "target_moisture", {"value": 45, "component": "number"})
    assert received(dev, f"{base}/number/target_moisture/command") == [b"45"]
    dev.publish(f"{base}/number/target_moisture/state", b"45.000000")
    env.wait_command(command_id, "acknowledged")
    await watcher.expect_values(device_id, {"target_moisture": [40.0, 45.0]})


# hass (Home Assistant MQTT discovery)


def hass_config(device: str, base: str, **keys: Any) -> dict[str, Any]:
    """A Zigbee2MQTT-like discovery config: state on `base`, availability on
    `base`/availability."""
    return {"~": base, "stat_t": "~", "avty_t": "~/availability", "dev": {"name": device}, **keys}


async def test_hass_discovery_registers_sensors_with_units_before_any_state(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """Discovery configs of a registered device register its sensors (object_id, unit)
    before any state; the learned state topic then streams one reading per entity."""
    device_id = env.device("Greenhouse_sensor")  # dev.name "Greenhouse sensor", cleaned
    dev = clients.connect("gh-zigbee")
    base = "z2m/greenhouse_sensor"
    for object_id, unit in (("temperature", "°C"), ("humidity", "%"), ("battery", "%")):
        config = hass_config(
            "Greenhouse sensor",
            base,
            name=object_id,
            unit_of_meas=unit,
            val_tpl=f"{{{{ value_json.{object_id} }}}}",
            uniq_id=f"gh_{object_id}",
        )
        dev.publish(f"homeassistant/sensor/gh_zigbee/{object_id}/config", config, retain=True)
    eventually(lambda: len(env.sensors(device_id)) == 3, what="discovered sensors")
    assert env.units(device_id) == {"temperature": "°C", "humidity": "%", "battery": "%"}
    assert all(s["last_value"] is None for s in env.sensors(device_id).values())
    assert watcher.values(device_id) == {}

    # Retained: the bridge subscribes to the learned topic just after registering the
    # sensors, and a retained state reaches it either way.
    state = {"temperature": 21.5, "humidity": 60, "battery": 97, "linkquality": 90}
    dev.publish(base, state, retain=True)
    await watcher.expect_values(
        device_id, {"temperature": [21.5], "humidity": [60.0], "battery": [97.0]}
    )
    dev.publish(base, {"temperature": 21.25, "humidity": 61, "battery": 97})
    await watcher.expect_values(device_id, {"temperature": [21.5, 21.25], "humidity": [60.0, 61.0]})
    assert set(env.sensors(device_id)) == {"temperature", "humidity", "battery"}


async def test_hass_availability_turns_the_device_offline(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """The availability topic a config names gives liveness: payload_available online,
    payload_not_available offline; a binary_sensor reads payload_on/off as 1/0."""
    device_id = env.device("Greenhouse_door")
    dev = clients.connect("gh-door")
    base = "z2m/greenhouse_door"
    config = hass_config(
        "Greenhouse door",
        base,
        val_tpl="{{ value_json.door }}",
        pl_on="OPEN",
        pl_off="CLOSED",
        pl_avail="up",
        pl_not_avail="down",
    )
    dev.publish("homeassistant/binary_sensor/gh_door/door/config", config, retain=True)
    eventually(lambda: set(env.sensors(device_id)) == {"door"}, what="discovered door")
    dev.publish(f"{base}/availability", b"up", retain=True)
    await watcher.expect_state(device_id, "online")
    env.wait_state(device_id, "online")
    dev.publish(base, {"door": "OPEN"}, retain=True)
    await watcher.expect_values(device_id, {"door": [1.0]})
    dev.publish(base, {"door": "CLOSED"})
    await watcher.expect_values(device_id, {"door": [1.0, 0.0]})
    dev.publish(f"{base}/availability", b"down", retain=True)
    await watcher.expect_state(device_id, "offline")
    env.wait_state(device_id, "offline")


async def test_hass_zigbee2mqtt_binary_sensor_with_boolean_payloads_is_stored(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """A Zigbee2MQTT contact sensor's config gives payload_on/payload_off as JSON booleans;
    its sensor is registered and its state {"contact": true} (closed) is stored as 0."""
    device_id = env.device("gh_door_z2m")
    dev = clients.connect("gh-door-z2m")
    # Zigbee2MQTT's contact config (Koenkk/zigbee2mqtt, lib/extension/homeassistant.js,
    # cfg.binary_sensor_contact) with the state_topic and device it adds.
    config = {
        "payload_on": False,
        "payload_off": True,
        "value_template": "{{ value_json.contact }}",
        "device_class": "door",
        "state_topic": "zigbee2mqtt/gh_door_z2m",
        "unique_id": "0x00158d00029b063c_contact_zigbee2mqtt",
        "device": {"identifiers": ["zigbee2mqtt_0x00158d00029b063c"], "name": "gh_door_z2m"},
    }
    topic = "homeassistant/binary_sensor/0x00158d00029b063c/contact/config"
    dev.publish(topic, config, retain=True)
    eventually(lambda: set(env.sensors(device_id)) == {"contact"}, what="discovered contact")
    # Retained: a first state on a just-learned topic is delivered either way.
    dev.publish("zigbee2mqtt/gh_door_z2m", {"battery": 100, "contact": True}, retain=True)
    await watcher.expect_values(device_id, {"contact": [0.0]})
    dev.publish("zigbee2mqtt/gh_door_z2m", {"battery": 100, "contact": False})
    await watcher.expect_values(device_id, {"contact": [0.0, 1.0]})


async def test_hass_switch_command_goes_to_its_command_topic_and_its_state_acknowledges_it(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """A command to a discovered switch (action: its sensor name) publishes payload_on to
    the command_topic; the state topic reporting ON acknowledges it."""
    device_id = env.device("Greenhouse_relay", kind="actuator")
    dev = clients.connect("gh-relay")
    base = "z2m/greenhouse_relay"
    dev.subscribe(f"{base}/set")
    config = hass_config("Greenhouse relay", base, cmd_t="~/set", val_tpl="{{ value_json.state }}")
    dev.publish("homeassistant/switch/gh_relay/relay/config", config, retain=True)
    eventually(lambda: set(env.sensors(device_id)) == {"relay"}, what="discovered relay")
    dev.publish(base, {"state": "OFF"}, retain=True)
    await watcher.expect_values(device_id, {"relay": [0.0]})

    command_id = env.command(device_id, "relay", {"value": "ON"})
    assert received(dev, f"{base}/set") == [b"ON"]
    dev.publish(base, {"state": "ON"}, retain=True)
    env.wait_command(command_id, "acknowledged")
    await watcher.expect_command(command_id, "acknowledged")
    await watcher.expect_values(device_id, {"relay": [0.0, 1.0]})


# one device per convention, for the checks every convention shares


@dataclass(frozen=True)
class Speaker:
    """How one device of a convention reports a reading, announces itself and errs."""

    binding: str  # the binding's key, the metrics' label
    device: str  # its name on the farm: created over REST, unless a keyed ThingsBoard device
    sensor: str  # what its reading is registered as
    topic: str  # where it publishes a reading
    reading: Callable[[float], Any]  # the payload of one reading
    bad: tuple[tuple[str, bytes], ...]  # malformed messages of the convention
    birth: tuple[str, bytes] | None = None  # the convention's "I am online"
    setup: tuple[tuple[str, Any], ...] = ()  # published retained first (discovery)
    keyed: bool = False


def native(name: str) -> Speaker:
    base = f"farmbridge/{FARM}/{name}"
    return Speaker(
        "native:farmbridge/",
        name,
        "temp",
        f"{base}/telemetry",
        lambda v: {"temp": v},
        bad=((f"{base}/telemetry", b"{not json"), (f"{base}/status", b'{"state": "asleep"}')),
        birth=(f"{base}/status", b'{"state": "online"}'),
    )


def thingsboard_keyed(name: str) -> Speaker:
    return Speaker(
        "thingsboard:tb/",
        name,
        "temp",
        "v1/devices/me/telemetry",
        lambda v: {"temp": v},
        bad=(
            ("v1/devices/me/telemetry", b'{"note": "text only"}'),
            ("v1/devices/me/rpc/response/abc", b"{}"),
        ),
        keyed=True,
    )


def thingsboard_gateway(title: str) -> Speaker:
    return Speaker(
        "thingsboard:tb/",
        title.replace(" ", "_"),
        "temp",
        "tb/v1/gateway/telemetry",
        lambda v: {title: [{"temp": v}]},
        bad=(
            ("tb/v1/gateway/telemetry", json.dumps({title: {"temp": 1}}).encode()),
            ("tb/v1/gateway/connect", b'{"device": 7}'),
        ),
        birth=("tb/v1/gateway/connect", json.dumps({"device": title}).encode()),
    )


def homie(name: str) -> Speaker:
    base = f"homie/5/{name}"
    return Speaker(
        "homie:homie/",
        name,
        "climate.temperature",
        f"{base}/climate/temperature",
        lambda v: str(v).encode(),
        bad=((f"{base}/$state", b"confused"), (f"{base}/$description", b"[1, 2]")),
        birth=(f"{base}/$state", b"ready"),
    )


def tasmota(topic: str) -> Speaker:
    return Speaker(
        "tasmota:",
        topic,
        "DS18B20.Temperature",
        f"tele/{topic}/SENSOR",
        lambda v: {"DS18B20": {"Temperature": v}},
        bad=((f"tele/{topic}/SENSOR", b"{not json"), (f"tele/{topic}/LWT", b"Sleeping")),
        birth=(f"tele/{topic}/LWT", b"Online"),
    )


def esphome(node: str) -> Speaker:
    base = f"esphome/{node}"
    return Speaker(
        "esphome:esphome/",
        node,
        "temperature",
        f"{base}/sensor/temperature/state",
        lambda v: str(v).encode(),
        bad=((f"{base}/sensor/temperature/state", b"warm"), (f"{base}/status", b"maybe")),
        birth=(f"{base}/status", b"online"),
    )


def hass(title: str, base: str) -> Speaker:
    config = hass_config(title, base, val_tpl="{{ value_json.t }}")
    broken = {**config, "val_tpl": "{{ value_json.t * 2 }}"}  # arithmetic: not supported
    node = base.replace("/", "_")
    return Speaker(
        "hass:",
        title.replace(" ", "_"),
        "temperature",
        base,
        lambda v: {"t": v},
        bad=(
            (base, b'{"t": "warm"}'),
            (f"homeassistant/sensor/{node}/broken/config", json.dumps(broken).encode()),
        ),
        birth=(f"{base}/availability", b"online"),
        setup=((f"homeassistant/sensor/{node}/temperature/config", config),),
    )


def connect_speaker(env: Env, clients: Clients, case: Speaker) -> tuple[int, Device]:
    """The device of `case`, created over REST (unless keyed), and its client, after its
    setup (discovery) was published and handled."""
    if case.keyed:
        device_id = env.keyed[case.device][0]
        dev = clients.keyed(env, case.device)
    else:
        device_id = env.device(case.device)
        dev = clients.connect(case.device)
    for topic, payload in case.setup:
        dev.publish(topic, payload, retain=True)
    if case.setup:
        eventually(lambda: case.sensor in env.sensors(device_id), what="discovered sensor")
    return device_id, dev


MALFORMED: Final = {
    "native": native("native-bad"),
    "thingsboard-device": thingsboard_keyed("tb-meter-bad"),
    "thingsboard-gateway": thingsboard_gateway("Gw Bad"),
    "homie": homie("homie-bad"),
    "tasmota": tasmota("tasmota_BAD"),
    "esphome": esphome("esp-bad"),
    "hass": hass("Hass bad", "z2m/hass_bad"),
}


@pytest.mark.parametrize("case", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_payload_is_counted_and_the_next_message_still_lands(
    env: Env, watcher: Watcher, clients: Clients, case: Speaker
) -> None:
    """Each convention's malformed messages are counted in farmbridge_mqtt_bad_payloads_total
    of their binding, and the good message after them is stored and streamed."""
    device_id, dev = connect_speaker(env, clients, case)
    # Retained, so a first reading on a just-learned topic is delivered either way.
    dev.publish(case.topic, case.reading(1.5), retain=True)
    await watcher.expect_values(device_id, {case.sensor: [1.5]})
    before = env.bad_payloads(case.binding)
    for topic, payload in case.bad:
        dev.publish(topic, payload)
    dev.publish(case.topic, case.reading(2.5))
    await watcher.expect_values(device_id, {case.sensor: [1.5, 2.5]})
    assert env.bad_payloads(case.binding) - before == len(case.bad)
    assert set(env.sensors(device_id)) == {case.sensor}


BIRTH: Final = {
    "native": native("native-birth"),
    "thingsboard-gateway": thingsboard_gateway("Gw Birth"),
    "homie": homie("homie-birth"),
    "tasmota": tasmota("tasmota_BIRTH"),
    "esphome": esphome("esp-birth"),
    "hass": hass("Hass birth", "z2m/hass_birth"),
}


@pytest.mark.parametrize("case", BIRTH.values(), ids=BIRTH.keys())
async def test_online_message_after_a_first_reading_sets_the_device_online(
    env: Env, watcher: Watcher, clients: Clients, case: Speaker
) -> None:
    """A new device (state unknown) that sends a reading and then its online message
    (LWT Online, $state ready, status online, availability, gateway connect) is online."""
    assert case.birth is not None
    device_id, dev = connect_speaker(env, clients, case)
    dev.publish(case.topic, case.reading(1.5), retain=True)
    await watcher.expect_values(device_id, {case.sensor: [1.5]})
    dev.publish(*case.birth)
    # Messages are handled and committed in order: once the next reading streams, the
    # status change the online message makes has been stored and streamed before it.
    dev.publish(case.topic, case.reading(2.5))
    await watcher.expect_values(device_id, {case.sensor: [1.5, 2.5]})
    state = env.state_in_list(device_id)
    assert state == "online", (
        f"{case.birth[0]} {case.birth[1]!r} after a first reading left the device {state!r}"
    )
    # The first reading already set it online; a native status message is the device's
    # own report and is stored as such (a second "online"); nothing else came between.
    assert set(s for d, s, _a in watcher.statuses if d == device_id) == {"online"}


# where two bindings share the empty prefix


async def test_hass_state_topic_that_tasmota_also_matches_feeds_tasmota_only(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """A discovery config naming Tasmota's own tele/<t>/SENSOR as state topic (what Tasmota's
    HA discovery does) registers the hass sensor, but the state goes to the tasmota binding,
    listed first with the same (empty) prefix: one reading, on the tasmota device."""
    hass_id = env.device("Kitchen_plug")
    tasmota_id = env.device("kitchen_plug")
    dev = clients.connect("kitchen_plug")
    config = {
        "name": "Temperature",
        "stat_t": "tele/kitchen_plug/SENSOR",
        "unit_of_meas": "°C",
        "val_tpl": "{{ value_json.AM2301.Temperature }}",
        "dev": {"name": "Kitchen plug"},
    }
    dev.publish("homeassistant/sensor/kitchen_plug/temperature/config", config, retain=True)
    eventually(lambda: env.units(hass_id) == {"temperature": "°C"}, what="discovered sensor")
    hass_handled = env.messages("hass:")
    # Not retained: see the next test for what a retained state does here.
    dev.publish("tele/kitchen_plug/SENSOR", {"AM2301": {"Temperature": 20.5}})
    dev.publish("tele/kitchen_plug/SENSOR", {"AM2301": {"Temperature": 20.75}})
    await watcher.expect_values(tasmota_id, {"AM2301.Temperature": [20.5, 20.75]})
    assert watcher.values(hass_id) == {}
    assert env.sensors(hass_id)["temperature"]["last_value"] is None
    assert env.messages("hass:") == hass_handled


async def test_hass_watch_of_a_retained_state_another_binding_reads_stores_it_once(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """An ESPHome node with HA discovery: its retained state, read by the esphome binding,
    is not stored again when a discovery config makes the hass binding subscribe to the
    same topic (the broker sends retained messages again on every new subscription)."""
    esp_id = env.device("esp-dual")
    hass_id = env.device("Esp_dual")
    dev = clients.connect("esp-dual")
    state_topic = "esphome/esp-dual/sensor/temperature/state"
    dev.publish(state_topic, b"19.5", retain=True)
    await watcher.expect_values(esp_id, {"temperature": [19.5]})
    config = {
        "name": "Temperature",
        "stat_t": state_topic,
        "avty_t": "availability/esp-dual",
        "unit_of_meas": "°C",
        "dev": {"name": "Esp dual"},
    }
    dev.publish("homeassistant/sensor/esp-dual/temperature/config", config, retain=True)
    eventually(lambda: env.units(hass_id) == {"temperature": "°C"}, what="discovered sensor")

    # The availability topic is subscribed just after the state topic: once a status on it
    # is handled, whatever the state topic's subscription brought has been handled too.
    def hass_online() -> bool:
        return any(d == hass_id and s == "online" for d, s, _a in watcher.statuses)

    deadline = time.monotonic() + STREAM_TIMEOUT_S
    while not hass_online():
        assert time.monotonic() < deadline, "the hass binding never read availability/esp-dual"
        dev.publish("availability/esp-dual", b"online")  # not retained: until it is read
        with contextlib.suppress(AssertionError):
            await watcher.until(hass_online, "the hass device online", timeout=0.5)
    streamed = watcher.values(esp_id)
    assert streamed == {"temperature": [19.5]}, (
        f"the retained {state_topic} 19.5, resent when the hass binding subscribed to it,"
        f" was stored again: {streamed}"
    )
    assert watcher.values(hass_id) == {}


# pending devices


async def test_hass_discovery_of_an_unregistered_device_holds_it_pending(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """Discovery of an unregistered device holds it as pending under the name the config
    gives (no device.name: its first identifier); once approved, its state is stored with
    the config's unit."""
    dev = clients.connect("gh-unknown")
    config = {
        "stat_t": "z2m/gh_unknown",
        "unit_of_meas": "hPa",
        "val_tpl": "{{ value_json.pressure }}",
        "dev": {"ids": ["0x00124b0022ab", "other"]},
    }
    dev.publish("homeassistant/sensor/gh_unknown/pressure/config", config, retain=True)

    def pending() -> dict[str, Any] | None:
        rows = env.api.ok("GET", f"/api/v1/farms/{env.farm_id}/pending-devices")
        return next((p for p in rows if p["name"] == "0x00124b0022ab"), None)

    held = eventually(pending, what="the discovered device pending")
    assert held["source"] == "mqtt:hass:"
    names = {d["name"] for d in env.api.ok("GET", f"/api/v1/farms/{env.farm_id}/devices")}
    assert "0x00124b0022ab" not in names
    created = env.api.ok("POST", f"/api/v1/pending-devices/{held['id']}/approve", json={})
    device_id = int(created["device"]["id"])
    dev.publish("z2m/gh_unknown", {"pressure": 1013.5}, retain=True)
    await watcher.expect_values(device_id, {"pressure": [1013.5]})
    assert env.units(device_id) == {"pressure": "hPa"}


async def test_hass_config_naming_its_device_by_identifiers_only_joins_it_not_pending(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """HA's two-sensor example: the second config names its device only by identifiers;
    its sensor joins the registered device (no pending device for the identifier) and the
    shared state topic stores both readings there."""
    device_id = env.device("Bedroom")
    dev = clients.connect("bedroom")
    # https://www.home-assistant.io/integrations/mqtt/#sensors (home-assistant/home-assistant.io,
    # source/_integrations/mqtt.markdown), configuration payloads no1 and no2.
    state_topic = "homeassistant/sensor/sensorBedroom/state"
    temperature = {
        "device_class": "temperature",
        "state_topic": state_topic,
        "unit_of_measurement": "°C",
        "value_template": "{{ value_json.temperature}}",
        "unique_id": "temp01ae",
        "device": {
            "identifiers": ["bedroom01ae"],
            "name": "Bedroom",
            "manufacturer": "Example sensors Ltd.",
            "model": "Example Sensor",
            "model_id": "K9",
            "serial_number": "12AE3010545",
            "hw_version": "1.01a",
            "sw_version": "2024.1.0",
            "configuration_url": "https://example.com/sensor_portal/config",
        },
    }
    humidity = {
        "device_class": "humidity",
        "state_topic": state_topic,
        "unit_of_measurement": "%",
        "value_template": "{{ value_json.humidity}}",
        "unique_id": "hum01ae",
        "device": {"identifiers": ["bedroom01ae"]},
    }
    dev.publish("homeassistant/sensor/sensorBedroomT/config", temperature, retain=True)
    dev.publish("homeassistant/sensor/sensorBedroomH/config", humidity, retain=True)
    eventually(lambda: len(env.sensors(device_id)) == 2, what="both discovered sensors")
    assert env.units(device_id) == {"sensorBedroomT": "°C", "sensorBedroomH": "%"}
    # The docs' common state payload.
    dev.publish(state_topic, b'{ "temperature": 23.20, "humidity": 43.70 }', retain=True)
    await watcher.expect_values(device_id, {"sensorBedroomT": [23.2], "sensorBedroomH": [43.7]})
    pending = env.api.ok("GET", f"/api/v1/farms/{env.farm_id}/pending-devices")
    assert [p["name"] for p in pending if p["name"] == "bedroom01ae"] == []


async def test_hass_device_config_sets_up_its_components_on_one_device(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """A device-based discovery config (homeassistant/device/<id>/config): each component
    is a sensor of the one device, with its unit; the shared state topic stores both."""
    device_id = env.device("Kitchen")
    dev = clients.connect("kitchen-device")
    # HA's documented device-discovery payload (cited beside KITCHEN_DEVICE).
    config = KITCHEN_DEVICE
    dev.publish("homeassistant/device/ea334450945afc/config", config, retain=True)
    eventually(lambda: len(env.sensors(device_id)) == 2, what="both components discovered")
    assert env.units(device_id) == {"some_unique_component_id1": "°C", "some_unique_id2": "%"}
    dev.publish("sensorBedroom/state", b'{ "temperature": 23.20, "humidity": 43.70 }', retain=True)
    await watcher.expect_values(
        device_id, {"some_unique_component_id1": [23.2], "some_unique_id2": [43.7]}
    )


async def test_hass_device_config_component_not_read_is_counted_not_silent(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """A device config's component of a platform the bridge does not read (a
    device_automation trigger) is logged and counted as a bad payload; its sensor
    component beside it is registered and its state stored."""
    device_id = env.device("0AFFD2")
    dev = clients.connect("foobar-0affd2")
    before = env.bad_payloads("hass:")
    # The device config of HA's discovery migration example (the docs above, step 3).
    config = {
        "device": {"identifiers": ["0AFFD2"]},
        "o": {"name": "foobar"},
        "cmps": {
            "bla1": {
                "p": "device_automation",
                "automation_type": "trigger",
                "payload": "short_press",
                "topic": "foobar/triggers/button1",
                "type": "button_short_press",
                "subtype": "button_1",
            },
            "bla2": {
                "p": "sensor",
                "state_topic": "foobar/sensor/sensor1",
                "unique_id": "bla_sensor001",
            },
        },
    }
    dev.publish("homeassistant/device/0AFFD2/config", config, retain=True)
    eventually(lambda: set(env.sensors(device_id)) == {"bla2"}, what="the sensor component")
    eventually(lambda: env.bad_payloads("hass:") - before == 1, what="the refused component")
    dev.publish("foobar/sensor/sensor1", b"12", retain=True)
    await watcher.expect_values(device_id, {"bla2": [12.0]})
    assert env.bad_payloads("hass:") - before == 1


# last: it restarts the shared broker


async def test_retained_messages_resent_after_a_reconnect_are_no_new_data(
    env: Env, watcher: Watcher, clients: Clients
) -> None:
    """When the bridge reconnects and subscribes again, the broker resends every retained
    message; a Homie device that died ($state lost, from its will) stays offline and its
    retained last value is not stored again as a fresh reading."""
    device_id = env.device("homie-gone")
    base = "homie/5/homie-gone"
    dev = clients.connect("homie-gone", will=(f"{base}/$state", b"lost"))
    dev.publish(f"{base}/$state", b"ready", retain=True)
    dev.publish(f"{base}/climate/temperature", b"7.5", retain=True)
    await watcher.expect_values(device_id, {"climate.temperature": [7.5]})
    dev.vanish()
    await watcher.expect_state(device_id, "offline")
    env.wait_state(device_id, "offline")

    env.broker.restart()
    eventually(
        lambda: httpx.get(f"{env.bridge.url}/readyz").status_code == 200,
        timeout=40,
        what="the bridge reconnected",
    )
    # A later message of another device: handled after whatever the re-subscription brought.
    barrier_id = env.device("homie-barrier")
    clients.connect("homie-barrier").publish("homie/5/homie-barrier/climate/temperature", b"1")
    await watcher.expect_values(barrier_id, {"climate.temperature": [1.0]})
    streamed = watcher.values(device_id)
    states = [s for d, s, _a in watcher.statuses if d == device_id]
    assert (streamed, states) == ({"climate.temperature": [7.5]}, ["online", "offline"]), (
        f"after the broker restart the retained {base}/climate/temperature was stored again"
        f" ({streamed}) or the dead device's states went {states}"
    )
