"""MQTT benchmark: device publishes -> Mosquitto -> the bridge (stored) -> a WebSocket client.

Not a test: it prints figures. A publisher process sends native-convention telemetry at
QoS 1 at a fixed rate, each message numbered; in the same run two receivers get the same
messages: a WebSocket client of the bridge (subscribed to the farm's readings, so every
reading it sees was durably stored and sequenced first) and a plain MQTT subscriber on
the broker itself (the floor: the broker's own delivery of the same messages). Latency
is per message, from just before `publish` to arrival, on one clock. The bridge is pinned
to CPU 0; broker, publisher and receivers share CPU 1.

Debian's Mosquitto 2.0.11 is built without WebSocket listeners ("Unable to start any
listening sockets" for `protocol websockets`), so the floor is the broker's delivery
over MQTT/TCP, which is what a WebSocket listener would add framing to.

    .venv/bin/python -m bench.mqtt                         # 500, 1000, 2000 msgs/s, 10 s each
    .venv/bin/python -m bench.mqtt --rates 4000 --seconds 5 --devices 50
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import tempfile
import threading
import time
from array import array
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from tests.mosquitto import Mosquitto
from websockets.asyncio.client import connect

from bench.harness import Admin, Bridge, percentile, pin, process_meter

FARM = "bench-farm"
SERVER_CPU = 0
LOAD_CPU = 1
PUBLISH_DRAIN_S = 30.0
QUIET_S = 3.0
"""After the stop, a receiver keeps receiving until nothing arrived for this long (capped by
DRAIN_MAX_S): a message still in flight behind a backlog is late, not lost."""
DRAIN_MAX_S = 90.0


def _until_quiet(last: list[float]) -> None:
    deadline = time.monotonic() + DRAIN_MAX_S
    while time.monotonic() < deadline and time.monotonic() - last[0] < QUIET_S:
        time.sleep(0.1)


def _client(client_id: str, *, clean: bool = False) -> paho.Client:
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean,
        protocol=paho.MQTTv311,
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    return client


def publisher(conn: Connection, port: int, devices: int, rate: float, seconds: float) -> None:
    """Publishes rate*seconds messages; sends back the publish time of each (seconds)."""
    pin(LOAD_CPU)
    client = _client("bench-publisher")
    client.connect("127.0.0.1", port)
    client.loop_start()
    conn.recv()  # go
    total = int(rate * seconds)
    sent = array("d", bytes(8 * total))
    infos: list[paho.MQTTMessageInfo] = []
    start = time.perf_counter()
    wall0 = time.time() - start
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        now = time.perf_counter()
        payload = orjson.dumps(
            {"message_id": f"r{rate:g}-{i}", "ts": int((wall0 + now) * 1000), "readings": {"n": i}}
        )
        sent[i] = wall0 + now
        infos.append(client.publish(f"farmbridge/{FARM}/d{i % devices}/telemetry", payload, qos=1))
    # Messages still queued in the client when it disconnects would never reach the
    # broker and count as lost; wait (bounded) until the broker acknowledged each.
    deadline = time.monotonic() + PUBLISH_DRAIN_S
    for info in infos:
        info.wait_for_publish(max(0.0, deadline - time.monotonic()))
    time.sleep(1.0)
    client.disconnect()
    client.loop_stop()
    conn.send(sent.tobytes())


def mqtt_receiver(conn: Connection, port: int, total: int) -> None:
    """The floor: the broker delivering the same messages to a plain MQTT subscriber."""
    pin(LOAD_CPU)
    got = array("d", bytes(8 * total))
    last = [time.monotonic()]
    lock = threading.Lock()

    def on_message(client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        t = time.time()
        i = orjson.loads(msg.payload)["readings"]["n"]
        with lock:
            last[0] = time.monotonic()
            if 0 <= i < total and not got[i]:
                got[i] = t

    client = _client("bench-floor", clean=True)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe(f"farmbridge/{FARM}/+/telemetry", qos=1)
    client.loop_start()
    conn.send("ready")
    conn.recv()  # stop
    _until_quiet(last)
    client.disconnect()
    client.loop_stop()
    conn.send(got.tobytes())


def ws_receiver(conn: Connection, url: str, token: str, farm_id: int, total: int) -> None:
    pin(LOAD_CPU)
    asyncio.run(_ws_main(conn, url, token, farm_id, total))


async def _ws_main(conn: Connection, url: str, token: str, farm_id: int, total: int) -> None:
    got = array("d", bytes(8 * total))
    last = [time.monotonic()]
    stop = asyncio.Event()
    ws_url = url.replace("http://", "ws://") + "/ws"
    async with connect(ws_url, max_size=None, ping_interval=None) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
        await ws.send(
            orjson.dumps({"type": "subscribe", "farm": farm_id, "topics": ["readings"]}).decode()
        )

        async def read() -> None:
            while True:
                raw = await ws.recv()
                t = time.time()
                data = orjson.loads(raw)
                for m in data if isinstance(data, list) else (data,):
                    if m.get("type") == "subscribed":
                        conn.send("ready")
                    elif m.get("type") == "ping":
                        await ws.send('{"type":"pong"}')
                    for row in m.get("r", ()):
                        i = int(row[2])
                        if 0 <= i < total and not got[i]:
                            got[i] = t
                    last[0] = time.monotonic()

        reader = asyncio.create_task(read())
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # stop
        await asyncio.to_thread(_until_quiet, last)
        stop.set()
        reader.cancel()
    conn.send(got.tobytes())


def summarise(sent: array[float], got: array[float], seconds: float) -> dict[str, Any]:
    pairs = [(s, (g - s) * 1000) for s, g in zip(sent, got, strict=True) if g]
    lat = sorted(v for _, v in pairs)
    delivered = len(lat)
    t0 = sent[0] if sent else 0.0
    return {
        "delivered_s": delivered / seconds,
        "lost": len(sent) - delivered,
        "p50": percentile(lat, 0.5),
        "p90": percentile(lat, 0.9),
        "p99": percentile(lat, 0.99),
        "max": lat[-1] if lat else float("nan"),
        "lat": lat,
        "when": [(s - t0, v) for s, v in pairs],
    }


def measure_rate(
    broker: Mosquitto, bridge: Bridge, admin: Admin, farm_id: int, args: Any, rate: float
) -> dict[str, Any]:
    """One rate: the bridge's and the broker's deliveries of the same messages."""
    total = int(rate * args.seconds)
    ctx = mp.get_context("fork")
    pub_parent, pub_child = ctx.Pipe()
    mq_parent, mq_child = ctx.Pipe()
    ws_parent, ws_child = ctx.Pipe()
    procs = [
        ctx.Process(
            target=publisher, args=(pub_child, broker.port, args.devices, rate, args.seconds)
        ),
        ctx.Process(target=mqtt_receiver, args=(mq_child, broker.port, total)),
        ctx.Process(target=ws_receiver, args=(ws_child, bridge.url, admin.token, farm_id, total)),
    ]
    for p in procs:
        p.start()
    mq_parent.recv()
    ws_parent.recv()
    assert bridge.proc is not None
    assert broker.proc is not None
    with process_meter(bridge.proc.pid) as bridge_cpu, process_meter(broker.proc.pid) as broker_cpu:
        pub_parent.send("go")
        sent = array("d")
        sent.frombytes(pub_parent.recv())
        time.sleep(2.0)  # the last messages drain
    results: dict[str, Any] = {"rate": rate, "devices": args.devices, "seconds": args.seconds}
    for name, pipe in (("bridge", ws_parent), ("broker", mq_parent)):
        pipe.send("stop")
        got = array("d")
        got.frombytes(pipe.recv())
        results[name] = summarise(sent, got, args.seconds)
    for p in procs:
        p.join(10)
    results["bridge_cpu_pct"] = bridge_cpu["cpu_pct"]
    results["broker_cpu_pct"] = broker_cpu["cpu_pct"]
    return results


def show(r: dict[str, Any]) -> None:
    print(
        f"\n== {r['rate']:g} msgs/s, {r['devices']} devices, {r['seconds']:g} s "
        f"(bridge CPU {r['bridge_cpu_pct']:.0f} %, broker CPU {r['broker_cpu_pct']:.0f} %) =="
    )
    print(f"{'path':<24}{'deliv/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'lost':>7}")
    for key, name in (("bridge", "bridge -> WebSocket"), ("broker", "broker -> MQTT (floor)")):
        x = r[key]
        print(
            f"{name:<24}{x['delivered_s']:>9.0f}{x['p50']:>8.1f}{x['p99']:>8.1f}"
            f"{x['max']:>8.1f}{x['lost']:>7.0f}"
        )
    b, f = r["bridge"], r["broker"]
    ratio = b["delivered_s"] / max(1, f["delivered_s"])
    print(f"bridge/floor p50: {b['p50'] / max(0.001, f['p50']):.1f}x, delivered: {ratio:.2f}")


def measure(rates: list[float], seconds: float, devices: int) -> list[dict[str, Any]]:
    """A broker and a bridge on it, then each rate in turn (for bench/latency.py too)."""
    args = argparse.Namespace(seconds=seconds, devices=devices)
    out = []
    with tempfile.TemporaryDirectory(prefix="fb-mqtt-bench-") as tmp:
        broker = Mosquitto(Path(tmp) / "broker")
        broker.start()
        try:
            env = {
                "FARMBRIDGE_MQTT_URL": broker.url,
                "FARMBRIDGE_DEVICE_RATE_PER_S": "100000",
                "FARMBRIDGE_DEVICE_BURST": "100000",
            }
            with Bridge(env=env, cpu=SERVER_CPU) as bridge:
                admin = Admin(bridge.url)
                farm_id = admin.post("/api/v1/farms", {"name": FARM})["id"]
                for d in range(devices):
                    admin.post(
                        f"/api/v1/farms/{farm_id}/devices",
                        {"name": f"d{d}", "kind": "sensor_node", "sensors": [{"name": "n"}]},
                    )
                for rate in rates:
                    out.append(measure_rate(broker, bridge, admin, farm_id, args, rate))
                admin.close()
        finally:
            broker.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="500,1000,2000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--devices", type=int, default=20)
    args = parser.parse_args()
    for r in measure([float(x) for x in args.rates.split(",")], args.seconds, args.devices):
        show(r)


if __name__ == "__main__":
    main()
