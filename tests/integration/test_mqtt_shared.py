"""Several bridge instances on one broker in one MQTT shared subscription group: each
device message is handled by exactly one instance, and none is lost when one dies."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN, Bridge, started_bridge
from tests.integration.api_client import Api
from tests.integration.mqtt_support import Device, eventually
from tests.integration.test_mqtt import _metric, _publish_stream, readings_of
from tests.mosquitto import Mosquitto

GROUP = "farmbridge"


def instance_env(broker: Mosquitto, client_id: str) -> dict[str, str]:
    return {
        "FARMBRIDGE_MQTT_URL": broker.url,
        "FARMBRIDGE_MQTT_CLIENT_ID": client_id,
        "FARMBRIDGE_MQTT_SHARE_GROUP": GROUP,
    }


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    b = Mosquitto(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def instances(tmp_path: Path, broker: Mosquitto) -> Iterator[tuple[Bridge, Bridge]]:
    """Two bridge processes on one database (one data dir), each its own MQTT session."""
    data = tmp_path / "bridge"
    first = started_bridge(data, **instance_env(broker, "bridge-a"))
    second = Bridge(data, env=instance_env(broker, "bridge-b"))
    second.start()
    yield first, second
    second.stop()
    first.stop()


def handled(bridge: Bridge) -> float:
    text = httpx.get(f"{bridge.url}/metrics", timeout=5).text
    return _metric(text, 'farmbridge_mqtt_messages_total{binding="native:farmbridge/",result="ok"}')


def test_each_message_is_stored_once_by_one_of_two_instances_even_when_one_is_killed(
    broker: Mosquitto, instances: tuple[Bridge, Bridge]
) -> None:
    first, second = instances
    api = Api(first.url, *ADMIN)
    try:
        farm = api.farm("shared")
        api.device(farm["id"], "node-1", sensors=[{"name": "temp", "unit": "C"}])
        dev = Device(broker.port, "node-1")
        count = 600
        try:
            _publish_stream(dev, farm["name"], count // 3, stop_at=None, hook=None)
            eventually(
                lambda: len(readings_of(api, farm["id"], "temp")) >= count // 3 or None,
                what="the first third stored",
            )
            split = (handled(first), handled(second))
            killed = threading.Event()

            def kill() -> None:
                assert second.proc is not None
                second.proc.send_signal(signal.SIGKILL)
                second.proc.wait()
                second.proc = None
                killed.set()

            _publish_stream(dev, farm["name"], count, stop_at=count // 2, hook=kill)
            assert killed.is_set()
            eventually(lambda: len(dev.acked) >= count + count // 3, what="every publish acked")
            # What the broker had handed the dead instance waits in its session.
            second.start()
            eventually(
                lambda: len(readings_of(api, farm["id"], "temp")) >= count or None,
                timeout=60,
                what="every reading stored",
            )
            values = [r["value"] for r in readings_of(api, farm["id"], "temp")]
        finally:
            dev.close()
    finally:
        api.close()
    # The broker split the first third between the instances (no instance saw them all)...
    assert split[0] > 0
    assert split[1] > 0
    assert split[0] + split[1] == count // 3
    # ...and the native message ids kept the second round (m0..m599, of which m0..m199
    # were sent already) to exactly one reading per value.
    assert sorted(values) == [float(i) for i in range(count)]
