"""A bridge killed between its commit and its PUBACK stores each reading once, per convention.

The bridge reaches a real Mosquitto through a TCP relay (tests/integration/tcp_relay.py)
that can hold back what the bridge sends. Each case: a reading stored normally; then the
relay holds, a second reading is committed and its PUBACK sent (and held, so the broker
never sees it), the bridge process is killed with SIGKILL and the connection cut. The
bridge restarts with the same client id and a persistent session; Mosquitto delivers the
second reading again (DUP set, same packet id), the bridge recognises it
(ingest/mqtt/identity.py), and a third message repeating the second's value, which a
real device may send, is stored as a reading of its own.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import httpx
import pytest

from tests.conftest import ADMIN, Bridge, started_bridge
from tests.integration.api_client import Api
from tests.integration.mqtt_support import Device, eventually
from tests.integration.tcp_relay import TcpRelay
from tests.mosquitto import Mosquitto

FARM: Final = "redelivery"
BINDINGS: Final = [
    {"convention": "thingsboard", "prefix": "tb/", "farm": FARM},
    {"convention": "homie", "prefix": "homie/", "farm": FARM},
    {"convention": "tasmota", "prefix": "", "farm": FARM},
    {"convention": "esphome", "prefix": "esphome/", "farm": FARM},
    {"convention": "hass", "prefix": "", "farm": FARM},
]
PUBACK_HEADER: Final = b"\x40\x02"  # MQTT 3.1.1 PUBACK: type 4, remaining length 2


@dataclass
class Env:
    broker: Mosquitto
    relay: TcpRelay
    bridge: Bridge
    farm_id: int


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("redelivery")
    broker = Mosquitto(root / "broker")
    broker.start()
    relay = TcpRelay(broker.port)
    bridge = started_bridge(
        root / "bridge",
        FARMBRIDGE_MQTT_URL=relay.url,
        FARMBRIDGE_MQTT_CLIENT_ID="bridge-redelivery",
        FARMBRIDGE_MQTT_BINDINGS=json.dumps(BINDINGS),
    )
    try:
        with contextlib.closing(Api(bridge.url, *ADMIN)) as api:
            farm_id = int(api.farm(FARM)["id"])
        yield Env(broker, relay, bridge, farm_id)
    finally:
        bridge.stop()
        relay.close()
        broker.stop()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Case:
    """One device of a convention: where and how it publishes one reading."""

    device: str
    sensor: str
    topic: str
    payload: Callable[[float, int], Any]  # (value, the message's number 1..3) -> payload
    setup: tuple[tuple[str, Any], ...] = ()


def _hass() -> Case:
    base = "z2m/hass_redelivery"
    config = {
        "~": base,
        "stat_t": "~",
        "dev": {"name": "Hass redelivery"},
        "name": "temperature",
        "val_tpl": "{{ value_json.t }}",
    }
    return Case(
        "Hass_redelivery",
        "temperature",
        base,
        lambda v, _n: {"t": v},
        setup=(("homeassistant/sensor/hass_redelivery/temperature/config", config),),
    )


CASES: Final = {
    # The payload carries the device's time: identified by it.
    "thingsboard-ts": Case(
        "Gw_ts",
        "temp",
        "tb/v1/gateway/telemetry",
        lambda v, n: {"Gw ts": [{"ts": now_ms() + n, "values": {"temp": v}}]},
    ),
    "tasmota-time": Case(
        "tasmota_redeliv",
        "DS18B20.Temperature",
        "tele/tasmota_redeliv/SENSOR",
        lambda v, n: {"Time": f"2026-12-03T10:00:0{n}", "DS18B20": {"Temperature": v}},
    ),
    # No device time: identified by the delivery (packet id, DUP).
    "thingsboard-plain": Case(
        "Gw_plain", "temp", "tb/v1/gateway/telemetry", lambda v, _n: {"Gw plain": [{"temp": v}]}
    ),
    "homie": Case(
        "homie-redeliv",
        "climate.temperature",
        "homie/5/homie-redeliv/climate/temperature",
        lambda v, _n: str(v).encode(),
    ),
    "esphome": Case(
        "esp-redeliv",
        "temperature",
        "esphome/esp-redeliv/sensor/temperature/state",
        lambda v, _n: str(v).encode(),
    ),
    "hass": _hass(),
}


def values_of(api: Api, farm_id: int, device_id: int, sensor: str) -> list[float]:
    sensors = api.ok("GET", f"/api/v1/farms/{farm_id}/sensors")
    found = [s for s in sensors if s["device_id"] == device_id and s["name"] == sensor]
    if not found:
        return []
    now = now_ms()
    rows = api.ok(
        "GET",
        f"/api/v1/sensors/{found[0]['id']}/readings",
        params={"start": now - 3_600_000, "end": now + 60_000, "limit": 1000},
    )
    return [float(r["value"]) for r in rows]


def metric(bridge: Bridge, name: str) -> float:
    for line in httpx.get(f"{bridge.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split(" ", 1)[1])
    return 0.0


def kill_after_commit_before_puback(env: Env) -> None:
    """SIGKILL once the held bytes show the bridge's PUBACK; then the connection is cut,
    so the broker never had it."""
    eventually(
        lambda: PUBACK_HEADER in env.relay.held(), what="the bridge's PUBACK, held at the relay"
    )
    proc = env.bridge.proc
    assert proc is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    env.bridge.proc = None
    env.relay.cut()


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_reading_committed_before_a_kill_is_stored_once_after_redelivery(
    env: Env, case: Case
) -> None:
    """A reading committed by a bridge killed before its PUBACK is delivered again by the
    broker and stored once; the same value published again afterwards is stored too."""
    with contextlib.closing(Api(env.bridge.url, *ADMIN)) as api:
        body = {"name": case.device, "kind": "sensor_node", "sensors": []}
        device_id = int(
            api.ok("POST", f"/api/v1/farms/{env.farm_id}/devices", json=body)["device"]["id"]
        )
    dev = Device(env.broker.port, f"{case.device}-{uuid.uuid4().hex[:8]}")
    try:
        with contextlib.closing(Api(env.bridge.url, *ADMIN)) as api:
            for topic, payload in case.setup:
                dev.publish(topic, payload, retain=True)

            def values() -> list[float]:
                return values_of(api, env.farm_id, device_id, case.sensor)

            def has(expected: list[float]) -> bool:
                return values() == expected

            if case.setup:
                eventually(
                    lambda: any(
                        s["device_id"] == device_id and s["name"] == case.sensor
                        for s in api.ok("GET", f"/api/v1/farms/{env.farm_id}/sensors")
                    ),
                    what="the discovered sensor",
                )
            dev.publish(case.topic, case.payload(1.0, 1))
            eventually(lambda: has([1.0]), what=f"the first reading, {values()} so far")
            env.relay.hold()
            dev.publish(case.topic, case.payload(2.0, 2))
            eventually(lambda: has([1.0, 2.0]), what=f"the second reading, {values()} so far")
        kill_after_commit_before_puback(env)

        env.bridge.start()
        with contextlib.closing(Api(env.bridge.url, *ADMIN)) as api:
            eventually(
                lambda: metric(env.bridge, "farmbridge_mqtt_duplicates_total") >= 1,
                what="the broker's redelivery, recognised",
            )
            dev.publish(case.topic, case.payload(2.0, 3))  # the same value, a new message
            eventually(
                lambda: (
                    sorted(values_of(api, env.farm_id, device_id, case.sensor)) == [1.0, 2.0, 2.0]
                ),
                what="the repeated value stored as a reading of its own",
            )
            eventually(
                lambda: metric(env.bridge, "farmbridge_mqtt_inflight") == 0,
                what="nothing left in flight",
            )
            assert values_of(api, env.farm_id, device_id, case.sensor) == [1.0, 2.0, 2.0]
            assert metric(env.bridge, "farmbridge_mqtt_duplicates_total") == 1
    finally:
        dev.close()


def test_same_value_twice_without_a_kill_is_two_readings(env: Env) -> None:
    """A device publishing one value twice in a row (no time in the payload) gets two
    readings: first deliveries are never taken as redeliveries."""
    with contextlib.closing(Api(env.bridge.url, *ADMIN)) as api:
        body = {"name": "esp-twice", "kind": "sensor_node", "sensors": []}
        device_id = int(
            api.ok("POST", f"/api/v1/farms/{env.farm_id}/devices", json=body)["device"]["id"]
        )
        dev = Device(env.broker.port, f"esp-twice-{uuid.uuid4().hex[:8]}")
        try:
            for _ in range(5):
                dev.publish("esphome/esp-twice/sensor/temperature/state", b"20.5")
            eventually(
                lambda: values_of(api, env.farm_id, device_id, "temperature") == [20.5] * 5,
                what="five readings of one value",
            )
        finally:
            dev.close()


STREAM_COUNT: Final = 600
STREAM_PACE_S: Final = 0.002


def test_bridge_killed_mid_stream_stores_each_homie_reading_once(env: Env) -> None:
    """A Homie stream (no message ids) with the bridge killed by SIGKILL at a third: after
    the restart every reading is stored exactly once, those committed but not yet
    acknowledged at the kill included."""
    name = f"homie-stream-{uuid.uuid4().hex[:6]}"
    with contextlib.closing(Api(env.bridge.url, *ADMIN)) as api:
        body = {"name": name, "kind": "sensor_node", "sensors": []}
        device_id = int(
            api.ok("POST", f"/api/v1/farms/{env.farm_id}/devices", json=body)["device"]["id"]
        )
    dev = Device(env.broker.port, f"{name}-client")
    try:
        for i in range(STREAM_COUNT):
            dev.publish(f"homie/5/{name}/climate/temperature", str(float(i)).encode())
            if i == STREAM_COUNT // 3:
                proc = env.bridge.proc
                assert proc is not None
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                env.bridge.proc = None
            time.sleep(STREAM_PACE_S)  # a device's pace, not a wait for the bridge
        eventually(lambda: len(dev.acked) >= STREAM_COUNT, what="the broker took every publish")
        env.bridge.start()
        with contextlib.closing(Api(env.bridge.url, *ADMIN)) as api:
            eventually(
                lambda: (
                    len(values_of(api, env.farm_id, device_id, "climate.temperature"))
                    >= STREAM_COUNT
                ),
                timeout=60,
                what="every reading stored",
            )
            eventually(
                lambda: metric(env.bridge, "farmbridge_mqtt_inflight") == 0,
                what="nothing left in flight",
            )
            got = sorted(values_of(api, env.farm_id, device_id, "climate.temperature"))
        assert got == [float(i) for i in range(STREAM_COUNT)]  # each exactly once
    finally:
        dev.close()
