"""`farmbridge demo --mqtt`: the demo greenhouse's devices publish to a real Mosquitto."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from farmbridge.demo import DEMO_FARM, DEMO_PASSWORD, DEMO_USER
from farmbridge.sim.devices import DEMO_DEVICES
from farmbridge.sim.mqtt import make_dialect
from tests.conftest import free_port
from tests.integration.api_client import Api
from tests.integration.mqtt_support import Device, eventually
from tests.mosquitto import Mosquitto

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    b = Mosquitto(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@contextlib.contextmanager
def mqtt_demo(tmp_path: Path, broker: Mosquitto, *extra: str) -> Iterator[Api]:
    """`farmbridge demo --mqtt` as a subprocess, and the demo user's API client of it."""
    port = free_port()
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "farmbridge",
                "demo",
                "--mqtt",
                broker.url,
                *extra,
                "--port",
                str(port),
                "--data-dir",
                str(tmp_path / "data"),
                "--interval-s",
                "0.2",
                "--time-scale",
                "600",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "FARMBRIDGE_LOG_LEVEL": "warning"},
        )
    api: Api | None = None
    try:
        deadline = time.monotonic() + 60  # a busy machine starts it slowly
        while "demo is running" not in log_path.read_text():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "demo did not start"
            time.sleep(0.1)
        api = Api(f"http://127.0.0.1:{port}", DEMO_USER, DEMO_PASSWORD)
        yield api
    finally:
        if api is not None:
            api.close()
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    assert proc.returncode == 0, log_path.read_text()


def _farm_id(api: Api) -> int:
    (farm,) = [f for f in api.ok("GET", "/api/v1/farms") if f["name"] == DEMO_FARM]
    return int(farm["id"])


def _devices(api: Api, farm_id: int) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in api.ok("GET", f"/api/v1/farms/{farm_id}/devices")}


def _command_state(api: Api, command_id: int) -> str | None:
    state = api.ok("GET", f"/api/v1/commands/{command_id}")["state"]
    return state if state in ("acknowledged", "failed", "timed_out") else None


def test_mqtt_demo_streams_readings_and_acknowledges_commands_over_mqtt(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """With --mqtt, every demo sensor fills from native MQTT telemetry, and a pump command
    made through the REST API is acknowledged by the simulated device on commands/ack."""
    watcher = Device(broker.port, "test-watcher")
    watcher.subscribe(f"farmbridge/{DEMO_FARM}/#")
    try:
        with mqtt_demo(tmp_path, broker) as api:
            farm_id = _farm_id(api)

            def all_sensors_live() -> bool:
                sensors = api.ok("GET", f"/api/v1/farms/{farm_id}/sensors")
                return len(sensors) >= 6 and all(s["last_value"] is not None for s in sensors)

            eventually(all_sensors_live, 40, "every sensor has a value")
            telemetry = watcher.messages(f"farmbridge/{DEMO_FARM}/climate-1/telemetry")
            assert telemetry, "no telemetry went through the broker"
            assert orjson.loads(telemetry[0])["message_id"].startswith("sim-")
            devices = _devices(api, farm_id)
            assert devices["climate-1"]["status"]["state"] == "online"

            pump = devices["pump-1"]["id"]
            cmd = api.ok("POST", f"/api/v1/devices/{pump}/commands", json={"action": "on"})
            state = eventually(lambda: _command_state(api, cmd["id"]), 30, "command final")
            assert state == "acknowledged"
            acks = [
                orjson.loads(p)
                for p in watcher.messages(f"farmbridge/{DEMO_FARM}/pump-1/commands/ack")
            ]
            assert {"id": cmd["id"], "ok": True, "detail": "pump on"} in acks
            eventually(
                lambda: (
                    api.ok("GET", f"/api/v1/devices/{pump}")["status"]["actuator"].get("power")
                    == "on"
                ),
                30,
                "pump reported on",
            )
    finally:
        watcher.close()


CONVENTION_COMMANDS: list[tuple[str, str, dict[str, Any]]] = [
    ("thingsboard", "on", {}),
    ("tasmota", "POWER", {"value": "ON"}),
    ("esphome", "pump", {"value": "ON"}),
    ("hass", "power", {"value": "ON"}),
    ("homie", "pump.power", {"value": True}),
    ("zigbee2mqtt", "state", {"value": "ON"}),
]


@pytest.mark.parametrize(
    ("convention", "action", "params"), CONVENTION_COMMANDS, ids=[c[0] for c in CONVENTION_COMMANDS]
)
def test_mqtt_demo_in_another_convention_reads_devices_and_completes_commands(
    tmp_path: Path, broker: Mosquitto, convention: str, action: str, params: dict[str, Any]
) -> None:
    """With --mqtt-convention, the bridge reads the devices through the demo's binding,
    and a command in that convention's terms completes on the device's answer."""
    dialect = make_dialect(convention, farm=DEMO_FARM)
    climate = next(d for d in DEMO_DEVICES if d.name == "climate-1")
    names = {dialect.sensor_name(climate, s) for s in climate.sensors}
    with mqtt_demo(tmp_path, broker, "--mqtt-convention", convention) as api:
        farm_id = _farm_id(api)

        def climate_live() -> bool:
            sensors = api.ok("GET", f"/api/v1/farms/{farm_id}/sensors")
            values = {s["name"]: s["last_value"] for s in sensors}
            return all(values.get(n) is not None for n in names)

        eventually(climate_live, 40, f"climate readings {sorted(names)}")
        eventually(
            lambda: _devices(api, farm_id)["pump-1"]["status"]["state"] == "online",
            30,
            "pump online",
        )
        pump = _devices(api, farm_id)["pump-1"]["id"]
        body = {"action": action, "params": params}
        cmd = api.ok("POST", f"/api/v1/devices/{pump}/commands", json=body)
        state = eventually(lambda: _command_state(api, cmd["id"]), 30, "command final")
        assert state == "acknowledged"
