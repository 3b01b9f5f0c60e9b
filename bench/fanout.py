"""Fan-out benchmark: N WebSocket clients, F farms, R readings/s through the real ingest path.

Not a test: it prints figures. For each scenario it runs the bridge (auth, authorization,
durable storage and sequencing all on) and then, with the same clients and rate, a bare
`websockets` broadcast server (bench/raw_broadcast.py, the raw floor), and prints both
side by side. Servers are pinned to CPU 0; the clients (``--procs`` processes) and the
ingest generator run on CPU 1.

Latency is measured per delivered reading, by the client, from the moment the bridge
received the ingest request (the `stored` time in the batch; the commit follows within
a few ms) to the moment the frame arrived: an upper bound on "accepted -> received".
Lost counts sequence numbers a client never got (every client subscribes to readings
only, and each farm's readings are numbered without gaps, so any hole is a loss).

    .venv/bin/python -m bench.fanout                     # S1, S2, S3, 15 s each
    .venv/bin/python -m bench.fanout --scenario S3 --seconds 5
    .venv/bin/python -m bench.fanout --clients 200 --farms 1 --rate 400   # a custom load
    .venv/bin/python -m bench.fanout --find-max          # highest deliveries/s with p99 < 100 ms
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.harness import Admin, Bridge, free_port, percentile, pin, process_meter

SCENARIOS = {
    "S1": (1_000, 100, 1_000.0),
    "S2": (5_000, 100, 500.0),
    "S3": (200, 1, 200.0),
}
CONNECT_TIMEOUT_S = 120.0
SERVER_CPU = 0
LOAD_CPU = 1


@dataclass
class Load:
    clients: int
    farms: int
    rate: float
    seconds: float
    warmup: float
    procs: int
    per_request: int


# Client side (runs in load-generator processes).


async def _client(
    session: aiohttp.ClientSession,
    url: str,
    token: str | None,
    farm: int,
    stats: dict[str, Any],
    ready: asyncio.Event,
    measure: list[float],
    stop: asyncio.Event,
) -> None:
    try:
        ws = await session.ws_connect(
            url, max_msg_size=0, autoping=True, timeout=aiohttp.ClientWSTimeout(ws_close=2)
        )
    except (aiohttp.ClientError, OSError):
        stats["failed"] += 1
        return
    async with ws:
        if token is not None:
            await ws.receive()  # welcome
            await ws.send_str(orjson.dumps({"type": "auth", "token": token}).decode())
        await ws.send_str(
            orjson.dumps({"type": "subscribe", "farm": farm, "topics": ["readings"]}).decode()
        )
        last = -1
        while not stop.is_set():
            try:
                # receive(timeout=) rather than wait_for: wait_for makes a task per frame,
                # which made the load generator's core, not the server, the bottleneck.
                msg = await ws.receive(timeout=1.0)
            except TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                stats["closed"] += 1
                return
            data = orjson.loads(msg.data)
            now = time.time() * 1000
            for m in data if isinstance(data, list) else (data,):
                kind = m.get("type")
                if kind == "batch":
                    t0 = m["t0"]
                    rows = m.get("r", ())
                    if measure[0] and now >= measure[0]:
                        stats["bytes"] += len(msg.data) // (2 if isinstance(data, list) else 1)
                        stats["readings_in_batches"] += len(rows)
                        lat = stats["lat"]
                        for r in rows:
                            lat.append(now - (t0 + r[4]))
                        stats["delivered"] += len(rows)
                    for r in rows:
                        seq = r[0]
                        if last >= 0 and seq > last + 1:
                            stats["lost"] += seq - last - 1
                        elif seq <= last:
                            stats["dups"] += 1
                        last = max(last, seq)
                elif kind == "subscribed":
                    last = m.get("seq", 0) if token is not None else 0
                    if not ready.is_set():
                        stats["ok"] += 1
                        ready.set()
                elif kind == "ping":
                    await ws.send_str('{"type":"pong"}')
                elif kind == "error":
                    stats["errors"] += 1


def load_process(conn: Connection, url: str, token: str | None, farms: list[int], cpu: int) -> None:
    pin(cpu)
    asyncio.run(_load_main(conn, url, token, farms))


async def _load_main(conn: Connection, url: str, token: str | None, farms: list[int]) -> None:
    stats: dict[str, Any] = dict.fromkeys(
        (
            "ok",
            "failed",
            "closed",
            "lost",
            "dups",
            "errors",
            "delivered",
            "bytes",
            "readings_in_batches",
        ),
        0,
    )
    stats["lat"] = array("f")
    measure = [0.0]
    stop = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        readies = []
        tasks = []
        for i, farm in enumerate(farms):
            ready = asyncio.Event()
            readies.append(ready)
            tasks.append(
                asyncio.create_task(_client(session, url, token, farm, stats, ready, measure, stop))
            )
            if i % 50 == 49:
                await asyncio.sleep(0.01)  # a steady connect ramp, not a SYN flood
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while (
            stats["ok"] + stats["failed"] + stats["closed"] < len(farms)
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.05)
        conn.send(("ready", stats["ok"]))
        measure_from, measure_to = conn.recv()
        measure[0] = measure_from
        while time.time() * 1000 < measure_to:
            await asyncio.sleep(0.05)
        measure[0] = float("inf")
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    lat = stats.pop("lat")
    conn.send((stats, lat.tobytes()))


# Ingest side.


def ingest_process(
    url: str,
    keys: list[str],
    rate: float,
    seconds: float,
    per_request: int,
    cpu: int,
    conn: Connection,
) -> None:
    pin(cpu)
    conn.send(asyncio.run(_ingest_main(url, keys, rate, seconds, per_request)))


async def _ingest_main(
    url: str, keys: list[str], rate: float, seconds: float, per_request: int
) -> dict[str, int]:
    req_rate = rate / per_request
    sem = asyncio.Semaphore(512)
    counts = {"ok": 0, "failed": 0}
    value = 20.0

    async def one(session: aiohttp.ClientSession, key: str) -> None:
        nonlocal value
        now = time.time_ns() // 1_000_000
        value = 20.0 if value > 30 else value + 0.01
        body = {
            "readings": [
                {"sensor": "temp", "value": round(value, 2), "ts": now} for _ in range(per_request)
            ]
        }
        try:
            async with (
                sem,
                session.post(
                    f"{url}/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {key}"}
                ) as r,
            ):
                await r.read()
                counts["ok" if r.status == 200 else "failed"] += 1
        except aiohttp.ClientError:
            counts["failed"] += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as session:
        start = time.monotonic()
        sent = 0
        pending: set[asyncio.Task[None]] = set()
        while (now := time.monotonic()) - start < seconds:
            due = int((now - start) * req_rate) - sent
            for _ in range(due):
                t = asyncio.create_task(one(session, keys[sent % len(keys)]))
                pending.add(t)
                t.add_done_callback(pending.discard)
                sent += 1
            await asyncio.sleep(0.002)
        await asyncio.gather(*pending, return_exceptions=True)
    return counts


# Orchestration.


def _farm_list(load: Load, farm_ids: list[int]) -> list[list[int]]:
    per_proc: list[list[int]] = [[] for _ in range(load.procs)]
    for i in range(load.clients):
        per_proc[i % load.procs].append(farm_ids[i % len(farm_ids)])
    return per_proc


def _run_clients(
    load: Load,
    ws_url: str,
    token: str | None,
    farm_ids: list[int],
    start_load: Any,
    server_pid: int,
) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    pipes = []
    procs = []
    for farms in _farm_list(load, farm_ids):
        parent, child = ctx.Pipe()
        p = ctx.Process(
            target=load_process, args=(child, ws_url, token, farms, LOAD_CPU), daemon=True
        )
        p.start()
        pipes.append(parent)
        procs.append(p)
    connected = sum(pipe.recv()[1] for pipe in pipes)
    t_start = time.time() * 1000
    measure_from = t_start + load.warmup * 1000
    measure_to = measure_from + load.seconds * 1000
    for pipe in pipes:
        pipe.send((measure_from, measure_to))
    ingest = start_load()
    time.sleep(load.warmup)
    with contextlib.ExitStack() as meters:
        server = meters.enter_context(process_meter(server_pid))
        clients = [meters.enter_context(process_meter(p.pid)) for p in procs if p.pid]
        time.sleep(load.seconds)
    totals: dict[str, Any] = {}
    lat = array("f")
    for pipe in pipes:
        stats, raw = pipe.recv()
        for k, v in stats.items():
            totals[k] = totals.get(k, 0) + v
        part = array("f")
        part.frombytes(raw)
        lat.extend(part)
    for p in procs:
        p.join(10)
    ingest_counts = ingest()
    values = sorted(lat)
    return {
        "connected": connected,
        "clients": load.clients,
        "deliveries_s": totals["delivered"] / load.seconds,
        "p50": percentile(values, 0.5),
        "p99": percentile(values, 0.99),
        "max": values[-1] if values else float("nan"),
        "lost": totals["lost"],
        "dups": totals["dups"],
        "errors": totals["errors"],
        "bytes_per_reading": totals["bytes"] / max(1, totals["readings_in_batches"]),
        "server_cpu_pct": server["cpu_pct"],
        "server_rss_mb": server["rss_mb"],
        "clients_cpu_pct": sum(c["cpu_pct"] for c in clients),
        "ingest": ingest_counts,
    }


def run_bridge(load: Load) -> dict[str, Any]:
    env = {
        "FARMBRIDGE_WS_MAX_CONNECTIONS_PER_USER": str(load.clients + 10),
        "FARMBRIDGE_WS_MAX_CONNECTIONS": str(load.clients + 100),
        "FARMBRIDGE_DEVICE_RATE_PER_S": "100000",
        "FARMBRIDGE_DEVICE_BURST": "100000",
        "FARMBRIDGE_WS_HEARTBEAT_S": "30",
    }
    with Bridge(env=env, cpu=SERVER_CPU) as bridge:
        admin = Admin(bridge.url)
        farm_ids = []
        keys = []
        devices_per_farm = max(1, min(10, int(load.rate / load.farms / load.per_request)))
        for f in range(load.farms):
            farm = admin.post("/api/v1/farms", {"name": f"farm-{f}"})
            farm_ids.append(farm["id"])
            for d in range(devices_per_farm):
                dev = admin.post(
                    f"/api/v1/farms/{farm['id']}/devices",
                    {
                        "name": f"dev-{d}",
                        "kind": "sensor_node",
                        "sensors": [{"name": "temp", "unit": "C"}],
                    },
                )
                keys.append(dev["key"])
        token = admin.token
        admin.close()
        assert bridge.proc is not None

        def start_load() -> Any:
            parent, child = mp.get_context("fork").Pipe()
            p = mp.get_context("fork").Process(
                target=ingest_process,
                args=(
                    bridge.url,
                    keys,
                    load.rate,
                    load.warmup + load.seconds + 0.5,
                    load.per_request,
                    LOAD_CPU,
                    child,
                ),
                daemon=True,
            )
            p.start()

            def finish() -> Any:
                counts = parent.recv()
                p.join(10)
                return counts

            return finish

        ws_url = bridge.url.replace("http", "ws") + "/ws"
        return _run_clients(load, ws_url, token, farm_ids, start_load, bridge.proc.pid)


def run_raw(load: Load) -> dict[str, Any]:
    port = free_port()
    start_file = Path(tempfile.mkdtemp()) / "go"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("raw_broadcast.py")),
            "--port",
            str(port),
            "--farms",
            str(load.farms),
            "--rate",
            str(load.rate),
            "--seconds",
            str(load.warmup + load.seconds + 0.5),
            "--start-file",
            str(start_file),
        ],
    )
    with contextlib.suppress(OSError):
        os.sched_setaffinity(proc.pid, {SERVER_CPU})
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            time.sleep(0.05)

        def start_load() -> Any:
            start_file.touch()
            return lambda: {"ok": int(load.rate * (load.warmup + load.seconds)), "failed": 0}

        return _run_clients(
            load,
            f"ws://127.0.0.1:{port}/",
            None,
            list(range(1, load.farms + 1)),
            start_load,
            proc.pid,
        )
    finally:
        proc.terminate()
        proc.wait(10)


def show(name: str, load: Load, bridge: dict[str, Any], raw: dict[str, Any] | None) -> None:
    print(
        f"\n== {name}: {load.clients} clients, {load.farms} farms, {load.rate:g} readings/s "
        f"({load.per_request}/request), {load.seconds:g} s measured =="
    )
    rows = [("bridge", bridge)] + ([("raw websockets", raw)] if raw else [])
    print(
        f"{'server':<16}{'conn ok':>9}{'deliv/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'lost':>6}{'dups':>6}{'B/rdg':>7}{'cpu %':>7}{'rss MB':>8}{'clients cpu %':>15}"
    )
    for label, r in rows:
        print(
            f"{label:<16}{r['connected']:>5}/{r['clients']:<3}{r['deliveries_s']:>10.0f}{r['p50']:>8.1f}"
            f"{r['p99']:>8.1f}{r['max']:>8.1f}{r['lost']:>6}{r['dups']:>6}{r['bytes_per_reading']:>7.1f}"
            f"{r['server_cpu_pct']:>7.0f}{r['server_rss_mb']:>8.0f}{r['clients_cpu_pct']:>15.0f}"
        )
    print(f"ingest acks: {bridge['ingest']}")
    if raw:
        print(
            f"bridge/raw deliveries/s: {bridge['deliveries_s'] / max(1, raw['deliveries_s']):.2f}; "
            f"server CPU per delivery: bridge {_us(bridge):.1f} us, raw {_us(raw):.1f} us"
        )


def _us(r: dict[str, Any]) -> float:
    return 1e4 * r["server_cpu_pct"] / max(1.0, r["deliveries_s"])


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scenario", default="S1,S2,S3")
    p.add_argument("--clients", type=int)
    p.add_argument("--farms", type=int)
    p.add_argument("--rate", type=float)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--procs", type=int, default=4)
    p.add_argument("--per-request", type=int, default=1, help="readings per ingest request")
    p.add_argument("--no-raw", action="store_true", help="skip the raw websockets floor")
    p.add_argument(
        "--find-max", action="store_true", help="200 clients on one farm at rising rates"
    )
    p.add_argument("--max-rates", default="200,400,600,800", help="readings/s for --find-max")
    args = p.parse_args()
    if args.clients:
        plans = [("custom", args.clients, args.farms or 1, args.rate or 100.0)]
    elif args.find_max:
        plans = [(f"max@{r}", 200, 1, float(r)) for r in args.max_rates.split(",")]
    else:
        plans = [(s, *SCENARIOS[s]) for s in args.scenario.split(",")]
    for name, clients, farms, rate in plans:
        load = Load(clients, farms, rate, args.seconds, args.warmup, args.procs, args.per_request)
        bridge = run_bridge(load)
        raw = None if args.no_raw else run_raw(load)
        show(name, load, bridge, raw)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
