"""`farmbridge demo`: a seeded greenhouse whose simulated devices report over real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from farmbridge.demo import DEMO_FARM, DEMO_PASSWORD, DEMO_USER
from tests.conftest import free_port
from tests.integration.api_client import Api


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    with (tmp_path / "demo.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "farmbridge",
                "demo",
                "--port",
                str(port),
                "--data-dir",
                str(tmp_path),
                "--interval-s",
                "0.2",
                "--time-scale",
                "600",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "FARMBRIDGE_LOG_LEVEL": "warning"},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a busy machine starts it slowly
        while "demo is running" not in (tmp_path / "demo.log").read_text():
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, "demo did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    assert proc.returncode == 0, (tmp_path / "demo.log").read_text()


def _wait_for(check: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_demo_fills_every_sensor_and_answers_commands(demo: str) -> None:
    """Every demo sensor gets live values, and a pump command is acknowledged by the simulator."""
    api = Api(demo, DEMO_USER, DEMO_PASSWORD)
    try:
        (farm,) = [f for f in api.ok("GET", "/api/v1/farms") if f["name"] == DEMO_FARM]

        def all_sensors_live() -> bool:
            sensors = api.ok("GET", f"/api/v1/farms/{farm['id']}/sensors")
            return len(sensors) >= 6 and all(s["last_value"] is not None for s in sensors)

        _wait_for(all_sensors_live)
        devices = {d["name"]: d for d in api.ok("GET", f"/api/v1/farms/{farm['id']}/devices")}
        assert devices["climate-1"]["status"]["state"] == "online"
        cmd = api.ok(
            "POST", f"/api/v1/devices/{devices['pump-1']['id']}/commands", json={"action": "on"}
        )
        _wait_for(lambda: api.ok("GET", f"/api/v1/commands/{cmd['id']}")["state"] == "acknowledged")
        _wait_for(
            lambda: (
                api.ok("GET", f"/api/v1/devices/{devices['pump-1']['id']}")["status"][
                    "actuator"
                ].get("power")
                == "on"
            )
        )
    finally:
        api.close()
    with httpx.Client() as client:
        assert client.get(f"{demo}/healthz").json() == {"status": "ok"}
