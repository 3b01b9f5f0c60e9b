"""The MQTT device bridge against a real Mosquitto: storage, streaming, durability, commands."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    ADMIN,
    SHARED_LOGIN_RATE_PER_MIN,
    Bridge,
    make_admin,
    started_bridge,
    unique,
)
from tests.integration.api_client import Api
from tests.integration.mqtt_support import Device, eventually
from tests.integration.ws_probe import Probe
from tests.mosquitto import Mosquitto

FARM = "farm-a"


WRONG_CA_WATCH_S = 1.0
"""How long a bridge with the wrong CA is watched staying down once it failed a handshake."""
OWN_SERVERS = pytest.mark.own_servers
"""For a test that stops or restarts its broker, kills its bridge or sets it up its own way:
it gets a broker and a bridge of its own. The others share the module's, each on a farm
of its own."""


def mqtt_env(broker: Mosquitto, **extra: str) -> dict[str, str]:
    return {
        "FARMBRIDGE_MQTT_URL": broker.url,
        "FARMBRIDGE_MQTT_CLIENT_ID": "bridge-under-test",
        **extra,
    }


@contextlib.contextmanager
def own_bridge(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[Bridge, Api]]:
    """A bridge with its own settings, started, and an admin client of it."""
    bridge = started_bridge(tmp_path / "own-bridge", **env)
    api = Api(bridge.url, *ADMIN)
    try:
        yield bridge, api
    finally:
        api.close()
        bridge.stop()


def owns_servers(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("own_servers") is not None


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    b = Mosquitto(tmp_path_factory.mktemp("mqtt-broker"))
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def module_bridge(
    tmp_path_factory: pytest.TempPathFactory, module_broker: Mosquitto
) -> Iterator[Bridge]:
    b = started_bridge(
        tmp_path_factory.mktemp("mqtt-bridge"),
        **mqtt_env(module_broker, FARMBRIDGE_LOGIN_RATE_PER_MIN=SHARED_LOGIN_RATE_PER_MIN),
    )
    yield b
    b.stop()


@pytest.fixture
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mosquitto]:
    """The module's broker; with OWN_SERVERS a fresh one of the test's own."""
    if not owns_servers(request):
        yield request.getfixturevalue("module_broker")
        return
    b = Mosquitto(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def mqtt_bridge(
    request: pytest.FixtureRequest, tmp_path: Path, broker: Mosquitto
) -> Iterator[Bridge]:
    """The module's bridge on `broker`; with OWN_SERVERS a fresh one of the test's own."""
    if not owns_servers(request):
        yield request.getfixturevalue("module_bridge")
        return
    b = started_bridge(tmp_path / "bridge", **mqtt_env(broker))
    yield b
    b.stop()


@pytest.fixture
def api(mqtt_bridge: Bridge) -> Iterator[Api]:
    a = Api(mqtt_bridge.url, *ADMIN)
    yield a
    a.close()


@pytest.fixture
def farm(api: Api) -> dict[str, Any]:
    """A farm of the test's own with the device node-1."""
    f = api.farm(unique("farm"))
    api.device(f["id"], "node-1", sensors=[{"name": "temp", "unit": "C"}])
    return f


def readings_of(
    api: Api, farm_id: int, sensor: str, device: str = "node-1"
) -> list[dict[str, Any]]:
    devices = api.ok("GET", f"/api/v1/farms/{farm_id}/devices")
    device_ids = [d["id"] for d in devices if d["name"] == device]
    sensors = api.ok("GET", f"/api/v1/farms/{farm_id}/sensors")
    found = [s for s in sensors if s["name"] == sensor and s["device_id"] in device_ids]
    if not found:
        return []
    now = int(time.time() * 1000)
    rows: list[dict[str, Any]] = api.ok(
        "GET",
        f"/api/v1/sensors/{found[0]['id']}/readings",
        params={"start": now - 3_600_000, "end": now + 60_000, "limit": 10_000},
    )
    return rows


def device_state(api: Api, farm_id: int, name: str) -> str:
    devices = api.ok("GET", f"/api/v1/farms/{farm_id}/devices")
    return str(next(d for d in devices if d["name"] == name)["status"]["state"])


def test_native_telemetry_is_stored_and_streamed_to_websocket(
    mqtt_bridge: Bridge, broker: Mosquitto, api: Api, farm: dict[str, Any]
) -> None:
    async def scenario() -> list[list[Any]]:
        probe = await Probe.open(mqtt_bridge.url)
        await probe.auth(api.token)
        await probe.send({"type": "subscribe", "farm": farm["id"], "topics": ["readings"]})
        await probe.expect("subscribed")
        dev = Device(broker.port, "node-1")
        try:
            dev.publish(f"farmbridge/{farm['name']}/node-1/telemetry", {"temp": 21.5})
            dev.publish(
                f"farmbridge/{farm['name']}/node-1/telemetry", {"temp": 22.0, "humidity": 61}
            )
            return await probe.readings(3, timeout=10)
        finally:
            dev.close()
            await probe.close()

    rows = asyncio.run(scenario())
    assert sorted(r[2] for r in rows) == [21.5, 22.0, 61.0]
    # A key the device reports for the first time becomes a sensor of that device.
    assert [r["value"] for r in readings_of(api, farm["id"], "humidity")] == [61.0]
    assert [r["value"] for r in readings_of(api, farm["id"], "temp")] == [21.5, 22.0]


def test_unknown_device_is_held_pending_until_approved(
    mqtt_bridge: Bridge, broker: Mosquitto, api: Api, farm: dict[str, Any]
) -> None:
    dev = Device(broker.port, "stranger")
    try:
        dev.publish(f"farmbridge/{farm['name']}/stranger/telemetry", {"temp": 5})
        pending = eventually(
            lambda: api.ok("GET", f"/api/v1/farms/{farm['id']}/pending-devices") or None,
            what="a pending device",
        )
        assert pending[0]["name"] == "stranger"
        assert pending[0]["source"].startswith("mqtt:native")
        assert '"temp"' in pending[0]["sample"]
        # Nothing was created or stored for it.
        names = [d["name"] for d in api.ok("GET", f"/api/v1/farms/{farm['id']}/devices")]
        assert "stranger" not in names
        created = api.ok("POST", f"/api/v1/pending-devices/{pending[0]['id']}/approve", json={})
        assert created["device"]["name"] == "stranger"
        assert created["key"]
        assert api.ok("GET", f"/api/v1/farms/{farm['id']}/pending-devices") == []
        dev.publish(f"farmbridge/{farm['name']}/stranger/telemetry", {"temp": 6})
        eventually(
            lambda: readings_of(api, farm["id"], "temp", "stranger") or None,
            what="stored reading",
        )
        values = [r["value"] for r in readings_of(api, farm["id"], "temp", "stranger")]
        assert values == [6.0]
    finally:
        dev.close()


def test_rejected_device_stays_dropped(
    tmp_path: Path, broker: Mosquitto, mqtt_bridge: Bridge, api: Api, farm: dict[str, Any]
) -> None:
    dev = Device(broker.port, "pest")
    try:
        dev.publish(f"farmbridge/{farm['name']}/pest/telemetry", {"temp": 5})
        pending = eventually(
            lambda: api.ok("GET", f"/api/v1/farms/{farm['id']}/pending-devices") or None
        )
        rejected = api.ok("POST", f"/api/v1/pending-devices/{pending[0]['id']}/reject")
        assert rejected["state"] == "rejected"
        dev.publish(f"farmbridge/{farm['name']}/pest/telemetry", {"temp": 6})
        dev.publish(f"farmbridge/{farm['name']}/node-1/telemetry", {"temp": 7})
        eventually(lambda: readings_of(api, farm["id"], "temp") or None)
        assert [r["value"] for r in readings_of(api, farm["id"], "temp")] == [7.0]
    finally:
        dev.close()


def test_malformed_payloads_are_counted_and_lose_no_neighbour(
    mqtt_bridge: Bridge, broker: Mosquitto, api: Api, farm: dict[str, Any]
) -> None:
    dev = Device(broker.port, "node-1")
    bad: list[bytes] = [
        b"{not json",
        b"[]",
        b'{"temp": "warm"}',
        b'{"temp": NaN}',
        b"\xff\xfe",
        b'{"temp": 1e999}',
        b"x" * 70_000,  # over the payload limit
    ]
    before = _metric(
        httpx.get(f"{mqtt_bridge.url}/metrics").text, "farmbridge_mqtt_bad_payloads_total"
    )
    try:
        for i, payload in enumerate(bad):
            dev.publish(f"farmbridge/{farm['name']}/node-1/telemetry", payload)
            dev.publish(f"farmbridge/{farm['name']}/node-1/telemetry", {"temp": float(i)})
        dev.publish(f"farmbridge/{farm['name']}/node-1/events", b'{"level": "shout"}')
        dev.publish(f"farmbridge/{farm['name']}/node-1/status", b'{"state": 3}')
        eventually(lambda: len(readings_of(api, farm["id"], "temp")) == len(bad) or None)
        values = [r["value"] for r in readings_of(api, farm["id"], "temp")]
        assert values == [float(i) for i in range(len(bad))]
        metrics = httpx.get(f"{mqtt_bridge.url}/metrics").text
        # The bridge may be the module's: count this test's own.
        counted = _metric(metrics, "farmbridge_mqtt_bad_payloads_total") - before
        assert counted >= len(bad) + 2
        log = (mqtt_bridge.data_dir / "server.log").read_text()
        assert f"farmbridge/{farm['name']}/node-1/telemetry" in log  # logged with its topic
    finally:
        dev.close()


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _publish_stream(
    dev: Device, farm: str, count: int, stop_at: int | None, hook: Any, pace_s: float = 0.002
) -> None:
    for i in range(count):
        dev.publish(
            f"farmbridge/{farm}/node-1/telemetry",
            {"message_id": f"m{i}", "readings": {"temp": float(i)}},
        )
        if stop_at is not None and i == stop_at:
            hook()
        time.sleep(pace_s)


@OWN_SERVERS
def test_bridge_killed_mid_stream_stores_every_message_exactly_once(
    tmp_path: Path, broker: Mosquitto, mqtt_bridge: Bridge, api: Api, farm: dict[str, Any]
) -> None:
    count = 600
    dev = Device(broker.port, "node-1")
    try:
        killed = threading.Event()

        def kill() -> None:
            assert mqtt_bridge.proc is not None
            mqtt_bridge.proc.send_signal(signal.SIGKILL)
            mqtt_bridge.proc.wait()
            mqtt_bridge.proc = None
            killed.set()

        _publish_stream(dev, farm["name"], count, stop_at=count // 3, hook=kill)
        assert killed.is_set()
        eventually(lambda: len(dev.acked) >= count, what="the broker acknowledged every publish")
        mqtt_bridge.start()
        api2 = Api(mqtt_bridge.url, *ADMIN)
        try:
            eventually(
                lambda: len(readings_of(api2, farm["id"], "temp")) >= count or None,
                timeout=30,
                what=f"every reading stored, {len(readings_of(api2, farm['id'], 'temp'))} so far",
            )
            time.sleep(0.5)  # a duplicate, if any, would land now
            values = [r["value"] for r in readings_of(api2, farm["id"], "temp")]
        finally:
            api2.close()
        assert sorted(values) == [float(i) for i in range(count)]  # each exactly once
    finally:
        dev.close()


@OWN_SERVERS
def test_broker_restart_mid_stream_loses_nothing(
    broker: Mosquitto, mqtt_bridge: Bridge, api: Api, farm: dict[str, Any]
) -> None:
    count = 400
    dev = Device(broker.port, "node-1")
    try:
        _publish_stream(dev, farm["name"], count, stop_at=count // 2, hook=broker.restart)
        eventually(lambda: len(dev.acked) >= count, timeout=30, what="publisher acknowledged")
        eventually(
            lambda: httpx.get(f"{mqtt_bridge.url}/readyz").status_code == 200,
            what="bridge reconnected",
        )
        eventually(
            lambda: len(readings_of(api, farm["id"], "temp")) >= count or None,
            timeout=30,
            what="every reading stored",
        )
        values = [r["value"] for r in readings_of(api, farm["id"], "temp")]
        assert sorted(values) == [float(i) for i in range(count)]
    finally:
        dev.close()


@OWN_SERVERS
def test_readyz_shows_the_broker_link(broker: Mosquitto, mqtt_bridge: Bridge, api: Api) -> None:
    ready = httpx.get(f"{mqtt_bridge.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["mqtt"].startswith("connected")
    broker.stop()

    def not_ready() -> httpx.Response | None:
        r = httpx.get(f"{mqtt_bridge.url}/readyz")
        return r if r.status_code == 503 else None

    down = eventually(not_ready, what="readyz 503")
    assert down.json()["mqtt"].split()[0] in ("connecting", "disconnected")
    broker.start()
    eventually(
        lambda: httpx.get(f"{mqtt_bridge.url}/readyz").status_code == 200,
        timeout=40,
        what="reconnected",
    )
    metrics = httpx.get(f"{mqtt_bridge.url}/metrics").text
    assert _metric(metrics, "farmbridge_mqtt_connected") == 1.0


def test_last_will_marks_the_device_offline_and_data_online_again(
    broker: Mosquitto, mqtt_bridge: Bridge, api: Api, farm: dict[str, Any]
) -> None:
    topic = f"farmbridge/{farm['name']}/node-1/status"
    dev = Device(broker.port, "node-1", will=(topic, b'{"state": "offline"}'), keepalive=5)
    dev.publish(topic, {"state": "online"})
    eventually(lambda: device_state(api, farm["id"], "node-1") == "online", what="online")
    dev.vanish()
    eventually(lambda: device_state(api, farm["id"], "node-1") == "offline", what="offline")
    again = Device(broker.port, "node-1b")
    try:
        again.publish(f"farmbridge/{farm['name']}/node-1/telemetry", {"temp": 3})
        eventually(lambda: device_state(api, farm["id"], "node-1") == "online", what="back")
    finally:
        again.close()


@OWN_SERVERS
def test_silent_device_goes_offline_after_the_liveness_timeout(
    tmp_path: Path, broker: Mosquitto
) -> None:
    env = mqtt_env(broker, FARMBRIDGE_MQTT_LIVENESS_TIMEOUT_S="1")
    with own_bridge(tmp_path, env) as (_, api):
        dev = Device(broker.port, "node-1")
        try:
            f = api.farm(FARM)
            api.device(f["id"], "node-1")
            dev.publish(f"farmbridge/{FARM}/node-1/status", {"state": "online"})
            eventually(lambda: device_state(api, f["id"], "node-1") == "online")
            eventually(lambda: device_state(api, f["id"], "node-1") == "offline", timeout=10)
        finally:
            dev.close()


@OWN_SERVERS
def test_command_round_trip_over_mqtt_and_no_resend_on_reconnect(
    broker: Mosquitto, mqtt_bridge: Bridge, api: Api, farm: dict[str, Any]
) -> None:
    dev = Device(broker.port, "node-1")
    try:
        dev.subscribe(f"farmbridge/{farm['name']}/node-1/commands")
        dev.publish(
            f"farmbridge/{farm['name']}/node-1/telemetry", {"temp": 20}
        )  # the bridge learns its route
        eventually(lambda: readings_of(api, farm["id"], "temp") or None)
        device_id = api.ok("GET", f"/api/v1/farms/{farm['id']}/devices")[0]["id"]
        cmd = api.ok(
            "POST",
            f"/api/v1/devices/{device_id}/commands",
            json={"action": "irrigate", "params": {"seconds": 30}},
        )
        got = eventually(lambda: dev.messages(f"farmbridge/{farm['name']}/node-1/commands") or None)
        body = json.loads(got[0])
        assert body["id"] == cmd["id"]
        assert body["action"] == "irrigate"
        assert body["params"] == {"seconds": 30}
        assert api.ok("GET", f"/api/v1/commands/{cmd['id']}")["state"] == "sent"
        dev.publish(f"farmbridge/{farm['name']}/node-1/commands/ack", {"id": cmd["id"], "ok": True})
        eventually(
            lambda: api.ok("GET", f"/api/v1/commands/{cmd['id']}")["state"] == "acknowledged",
            what="acknowledged",
        )
        broker.restart()
        eventually(lambda: httpx.get(f"{mqtt_bridge.url}/readyz").status_code == 200, 40)
        dev.publish(f"farmbridge/{farm['name']}/node-1/telemetry", {"temp": 21})
        eventually(lambda: len(readings_of(api, farm["id"], "temp")) == 2 or None)
        time.sleep(1.0)
        assert len(dev.messages(f"farmbridge/{farm['name']}/node-1/commands")) == 1
    finally:
        dev.close()


def test_unanswered_command_times_out(
    broker: Mosquitto, mqtt_bridge: Bridge, api: Api, farm: dict[str, Any]
) -> None:
    dev = Device(broker.port, "node-1")
    try:
        dev.subscribe(f"farmbridge/{farm['name']}/node-1/commands")
        dev.publish(f"farmbridge/{farm['name']}/node-1/telemetry", {"temp": 20})
        eventually(lambda: readings_of(api, farm["id"], "temp") or None)
        device_id = api.ok("GET", f"/api/v1/farms/{farm['id']}/devices")[0]["id"]
        cmd = api.ok(
            "POST",
            f"/api/v1/devices/{device_id}/commands",
            json={"action": "vent", "params": {}, "ttl_s": 2},  # time to send it, however busy
        )
        eventually(lambda: dev.messages(f"farmbridge/{farm['name']}/node-1/commands") or None)
        eventually(
            lambda: api.ok("GET", f"/api/v1/commands/{cmd['id']}")["state"] == "timed_out",
            timeout=30,
            what="timed out",
        )
        # A late acknowledgement changes nothing. The bridge handles one client's messages
        # in order: once the reading after it is stored, the acknowledgement was handled.
        dev.publish(f"farmbridge/{farm['name']}/node-1/commands/ack", {"id": cmd["id"], "ok": True})
        dev.publish(f"farmbridge/{farm['name']}/node-1/telemetry", {"temp": 21})
        eventually(lambda: len(readings_of(api, farm["id"], "temp")) == 2, what="the reading after")
        assert api.ok("GET", f"/api/v1/commands/{cmd['id']}")["state"] == "timed_out"
    finally:
        dev.close()


def test_mqtts_with_a_ca_file(tmp_path: Path) -> None:
    """The bridge verifies the broker's certificate against the configured CA."""
    broker = Mosquitto(tmp_path / "tls-broker")
    url, ca = broker.enable_tls()
    broker.start()
    env = {"FARMBRIDGE_MQTT_URL": url, "FARMBRIDGE_MQTT_CA_FILE": str(ca)}
    try:
        with own_bridge(tmp_path, env) as (bridge, api):  # ready means connected
            f = api.farm(FARM)
            api.device(f["id"], "node-1")
            dev = Device(broker.port, "node-1")  # publishes on the plain listener
            try:
                dev.publish(f"farmbridge/{FARM}/node-1/telemetry", {"temp": 12.5})
                eventually(lambda: readings_of(api, f["id"], "temp") or None, what="over TLS")
            finally:
                dev.close()
            ready = httpx.get(f"{bridge.url}/readyz").json()
            assert ready["mqtt"].startswith("connected mqtts://")
    finally:
        broker.stop()


def test_a_wrong_ca_keeps_the_link_down(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "tls-broker")
    url, _ = broker.enable_tls()
    broker.start()
    other = Mosquitto(tmp_path / "other")
    _, wrong_ca = other.enable_tls()
    data = tmp_path / "b"
    make_admin(data)
    bridge = Bridge(
        data, env={"FARMBRIDGE_MQTT_URL": url, "FARMBRIDGE_MQTT_CA_FILE": str(wrong_ca)}
    )
    try:
        # Waits on what happens, not on how fast: the server up and the handshake refused
        # (a slow machine takes longer to get there) ...
        bridge.launch()
        bridge.wait_listening()
        eventually(
            lambda: "certificate" in bridge.log.lower(), timeout=60, what="the handshake refused"
        )
        # ... and after that the link stays down, through the bridge's next tries.
        with pytest.raises(RuntimeError, match="did not become ready"):
            bridge.wait_ready(timeout=WRONG_CA_WATCH_S)
        r = httpx.get(f"{bridge.url}/readyz")
        assert r.status_code == 503
        assert "certificate" in (data / "server.log").read_text().lower()
    finally:
        bridge.stop()
        broker.stop()


@OWN_SERVERS
def test_reject_setting_drops_unknown_devices_without_a_record(
    tmp_path: Path, broker: Mosquitto
) -> None:
    env = mqtt_env(broker, FARMBRIDGE_UNKNOWN_DEVICES="reject")
    with own_bridge(tmp_path, env) as (bridge, api):
        dev = Device(broker.port, "x")
        try:
            f = api.farm(FARM)
            api.device(f["id"], "node-1")
            dev.publish(f"farmbridge/{FARM}/stranger/telemetry", {"temp": 5})
            dev.publish(f"farmbridge/{FARM}/node-1/telemetry", {"temp": 6})
            eventually(lambda: readings_of(api, f["id"], "temp") or None)
            assert api.ok("GET", f"/api/v1/farms/{f['id']}/pending-devices") == []
            metrics = httpx.get(f"{bridge.url}/metrics").text
            assert _metric(metrics, "farmbridge_unknown_device_messages_total") >= 1
        finally:
            dev.close()
