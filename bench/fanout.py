"""Fan-out benchmark: N WebSocket clients, F farms, R readings/s through the real ingest path.

Not a test: it prints figures. For each scenario it runs the bridge (auth, authorization,
durable storage and sequencing all on) and then, with the same clients and rate, a bare
`websockets` broadcast server (bench/raw_broadcast.py, the raw floor) and a `picows` one
(bench/picows_broadcast.py, a faster floor), and prints them side by side. Servers are
pinned to CPU 0; the clients (``--procs`` processes) and the ingest generator run on CPU 1.

Ingest is driven the way devices do it: `POST /api/v1/ingest`, each device of each farm
on its own keep-alive connection (``--connection close``: a new connection per request),
one reading per request or ``--per-request`` readings in a batch. Each reading carries an
id (in its value, with the send time's microseconds) and its send time (`ts`).

Latency is per delivered reading, by the client, from the device's send (one clock: the
generator stamps the reading just before the POST) to the frame's arrival; the second
figure, "from stored", starts at the bridge's `stored` time instead. Lost counts readings
the bridge acknowledged (200) that a client of the farm never got, counted after the
ingest stopped and a drain period passed, so readings still in flight are not lost.

    .venv/bin/python -m bench.fanout                     # S1, S2, S3, 15 s each
    .venv/bin/python -m bench.fanout --scenario S3 --seconds 5
    .venv/bin/python -m bench.fanout --clients 200 --farms 1 --rate 400   # a custom load
    .venv/bin/python -m bench.fanout --per-request 10 --connection close  # batches, no keep-alive
    .venv/bin/python -m bench.fanout --find-max          # highest deliveries/s with p99 < 100 ms
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
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
DRAIN_S = 2.0
"""After the last ingest answer: readings still in flight arrive; later ones count lost."""
REQUEST_TIMEOUT_S = 10.0
"""A device gives up on a request after this (counted failed): an overload ends in bounded
time instead of a backlog of minutes draining after the window."""
SERVER_CPU = 0
LOAD_CPU = 1
ID_SCALE = 1000
"""A reading's value is id * ID_SCALE + the microseconds of its send time's millisecond."""
FLOORS = ("raw websockets", "picows")


@dataclass
class Load:
    clients: int
    farms: int
    rate: float
    seconds: float
    warmup: float
    procs: int
    per_request: int
    connection: str = "keepalive"  # or "close": a new TCP connection per request


# Client side (runs in load-generator processes).


class _Seen:
    """One client's received reading ids of its farm (a byte per id)."""

    __slots__ = ("farm", "ids")

    def __init__(self, farm: int) -> None:
        self.farm = farm
        self.ids = bytearray()

    def mark(self, i: int) -> bool:
        """True when the id is new."""
        if i >= len(self.ids):
            self.ids.extend(bytes(i - len(self.ids) + 1024))
        if self.ids[i]:
            return False
        self.ids[i] = 1
        return True


async def _client(
    session: aiohttp.ClientSession,
    url: str,
    token: str | None,
    seen: _Seen,
    stats: dict[str, Any],
    ready: asyncio.Event,
    window: list[float],
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
            orjson.dumps({"type": "subscribe", "farm": seen.farm, "topics": ["readings"]}).decode()
        )
        lat, lat_stored, when = stats["lat"], stats["lat_stored"], stats["when"]
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
            frames = data if isinstance(data, list) else (data,)
            for m in frames:
                kind = m.get("type")
                if kind == "batch":
                    t0 = m["t0"]
                    rows = m.get("r", ())
                    counted = 0
                    for r in rows:
                        v = int(r[2])
                        if not seen.mark(v // ID_SCALE):
                            stats["dups"] += 1
                        sent = t0 + r[3] + (v % ID_SCALE) / 1000
                        if window[0] <= sent < window[1]:
                            lat.append(now - sent)
                            lat_stored.append(now - (t0 + r[4]))
                            when.append(sent - window[0])
                            counted += 1
                    if counted:
                        stats["bytes"] += len(msg.data) // len(frames)
                        stats["readings_in_batches"] += len(rows)
                        stats["delivered"] += counted
                elif kind == "subscribed":
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
    stats["lat_stored"] = array("f")
    stats["when"] = array("f")
    window = [float("inf"), float("inf")]
    stop = asyncio.Event()
    seens = [_Seen(farm) for farm in farms]
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        readies = []
        tasks = []
        for i, seen in enumerate(seens):
            ready = asyncio.Event()
            readies.append(ready)
            tasks.append(
                asyncio.create_task(_client(session, url, token, seen, stats, ready, window, stop))
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
        window[0], window[1] = await loop.run_in_executor(None, conn.recv)
        # The acknowledged ids per farm arrive after the ingest ended and the drain passed.
        expected: dict[int, bytes] = await loop.run_in_executor(None, conn.recv)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    for seen in seens:
        want = expected.get(seen.farm, b"")
        got = seen.ids
        stats["lost"] += sum(1 for i, w in enumerate(want) if w and (i >= len(got) or not got[i]))
    payload = {k: stats.pop(k).tobytes() for k in ("lat", "lat_stored", "when")}
    conn.send((stats, payload))


# Ingest side.


def ingest_process(
    url: str,
    devices: list[tuple[str, int]],
    load: Load,
    seconds: float,
    cpu: int,
    conn: Connection,
) -> None:
    pin(cpu)
    conn.send(asyncio.run(_ingest_main(url, devices, load, seconds, conn)))


async def _ingest_main(
    url: str, devices: list[tuple[str, int]], load: Load, seconds: float, conn: Connection
) -> dict[str, Any]:
    """Devices (key, farm) post in turn at the load's rate; returns acks and acked ids."""
    per_request = load.per_request
    req_rate = load.rate / per_request
    sem = asyncio.Semaphore(512)
    counts = {"ok": 0, "failed": 0}
    acked: dict[int, bytearray] = {}
    next_id: dict[int, int] = {}
    ack_ms = array("f")
    close = load.connection == "close"
    # A device keeps its own connection (limit 1: it waits for one answer before the next
    # request goes out on it), as firmware with HTTP keep-alive does.
    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1, force_close=close),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        )
        for _ in devices
    ]

    async def one(d: int) -> None:
        key, farm = devices[d]
        first = next_id.get(farm, 0)
        next_id[farm] = first + per_request
        t = time.time_ns()
        ms, us = divmod(t // 1000, 1000)
        body = {
            "readings": [
                {"sensor": "temp", "value": (first + k) * ID_SCALE + us, "ts": ms}
                for k in range(per_request)
            ]
        }
        try:
            async with (
                sem,
                sessions[d].post(
                    f"{url}/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {key}"}
                ) as r,
            ):
                await r.read()
                ok = r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        ack_ms.append((time.time_ns() - t) / 1e6)
        counts["ok" if ok else "failed"] += 1
        if ok:
            ids = acked.setdefault(farm, bytearray())
            end = first + per_request
            if end > len(ids):
                ids.extend(bytes(end - len(ids) + 1024))
            ids[first:end] = b"\x01" * per_request

    try:
        conn.send(time.time() * 1000)
        start = time.monotonic()
        sent = 0
        pending: set[asyncio.Task[None]] = set()
        while (now := time.monotonic()) - start < seconds:
            due = int((now - start) * req_rate) - sent
            for _ in range(due):
                t = asyncio.create_task(one(sent % len(devices)))
                pending.add(t)
                t.add_done_callback(pending.discard)
                sent += 1
            await asyncio.sleep(0.002)
        await asyncio.gather(*pending, return_exceptions=True)
    finally:
        for s in sessions:
            await s.close()
    return {"counts": counts, "acked": {f: bytes(b) for f, b in acked.items()}, "ack": ack_ms}


# Orchestration.


def _farm_list(load: Load, farm_ids: list[int]) -> list[list[int]]:
    per_proc: list[list[int]] = [[] for _ in range(load.procs)]
    for i in range(load.clients):
        per_proc[i % load.procs].append(farm_ids[i % len(farm_ids)])
    return per_proc


def _dist(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 0.5),
        "p90": percentile(values, 0.9),
        "p99": percentile(values, 0.99),
        "max": values[-1] if values else float("nan"),
    }


def _over_time(when: array[float], lat: array[float], bucket_ms: float) -> dict[str, list[float]]:
    """Latency p50/p99/max per time bucket of the measured window (for plots)."""
    buckets: dict[int, list[float]] = {}
    for w, v in zip(when, lat, strict=True):
        buckets.setdefault(int(w // bucket_ms), []).append(v)
    out: dict[str, list[float]] = {"t_s": [], "p50": [], "p99": [], "max": []}
    for b in sorted(buckets):
        vs = sorted(buckets[b])
        out["t_s"].append(round((b + 0.5) * bucket_ms / 1000, 3))
        out["p50"].append(round(percentile(vs, 0.5), 2))
        out["p99"].append(round(percentile(vs, 0.99), 2))
        out["max"].append(round(vs[-1], 2))
    return out


def _sample(values: list[float], n: int = 1000) -> list[float]:
    step = max(1, len(values) // n)
    return [round(v, 2) for v in values[::step]]


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
    # The window starts from the load's own first send, however late its process started.
    ingest, t_start, ingest_pid = start_load()
    measure_from = t_start + load.warmup * 1000
    measure_to = measure_from + load.seconds * 1000
    for pipe in pipes:
        pipe.send((measure_from, measure_to))
    time.sleep(max(0.0, measure_from / 1000 - time.time()))
    with contextlib.ExitStack() as meters:
        server = meters.enter_context(process_meter(server_pid))
        clients = [meters.enter_context(process_meter(p.pid)) for p in procs if p.pid]
        # The device side's own core use: near 100 % it, not the server, sets the latency.
        generator = meters.enter_context(process_meter(ingest_pid)) if ingest_pid else None
        time.sleep(load.seconds)
    done = ingest()
    time.sleep(DRAIN_S)
    for pipe in pipes:
        pipe.send(done["acked"])
    totals: dict[str, Any] = {}
    arrays = {k: array("f") for k in ("lat", "lat_stored", "when")}
    for pipe in pipes:
        stats, raw = pipe.recv()
        for k, v in stats.items():
            totals[k] = totals.get(k, 0) + v
        for k, b in raw.items():
            part = array("f")
            part.frombytes(b)
            arrays[k].extend(part)
    for p in procs:
        p.join(10)
    values = sorted(arrays["lat"])
    ack = sorted(done.get("ack", ()))
    watchers: dict[int, int] = {}
    for farms in _farm_list(load, farm_ids):
        for f in farms:
            watchers[f] = watchers.get(f, 0) + 1
    expected = sum(sum(ids) * watchers.get(f, 0) for f, ids in done["acked"].items())
    return {
        "connected": connected,
        "clients": load.clients,
        "deliveries_s": totals["delivered"] / load.seconds,
        **_dist(values),
        "stored": _dist(sorted(arrays["lat_stored"])),
        "ack": _dist(ack) if ack else None,
        "lost": totals["lost"],
        "dups": totals["dups"],
        "expected_deliveries": expected,
        "errors": totals["errors"],
        "bytes_per_reading": totals["bytes"] / max(1, totals["readings_in_batches"]),
        "server_cpu_pct": server["cpu_pct"],
        "server_rss_mb": server["rss_mb"],
        "clients_cpu_pct": sum(c["cpu_pct"] for c in clients),
        "ingest_cpu_pct": generator["cpu_pct"] if generator else None,
        "ingest": done["counts"],
        "over_time": _over_time(arrays["when"], arrays["lat"], 500.0),
        "hist": _sample(values),
    }


def run_bridge(load: Load, env: dict[str, str] | None = None) -> dict[str, Any]:
    env = {
        "FARMBRIDGE_WS_MAX_CONNECTIONS_PER_USER": str(load.clients + 10),
        "FARMBRIDGE_WS_MAX_CONNECTIONS": str(load.clients + 100),
        "FARMBRIDGE_DEVICE_RATE_PER_S": "100000",
        "FARMBRIDGE_DEVICE_BURST": "100000",
        "FARMBRIDGE_WS_HEARTBEAT_S": "30",
        **(env or {}),
    }
    with Bridge(env=env, cpu=SERVER_CPU) as bridge:
        admin = Admin(bridge.url)
        devices_per_farm = max(1, min(10, int(load.rate / load.farms / load.per_request)))
        farm_ids = [
            admin.post("/api/v1/farms", {"name": f"farm-{f}"})["id"] for f in range(load.farms)
        ]

        def device(farm_and_index: tuple[int, int]) -> tuple[str, int]:
            farm_id, d = farm_and_index
            dev = admin.post(
                f"/api/v1/farms/{farm_id}/devices",
                {"name": f"dev-{d}", "kind": "sensor_node", "sensors": [{"name": "temp"}]},
            )
            return dev["key"], farm_id

        # Devices of all farms take turns, so consecutive requests come from different
        # farms; a few set-up requests in flight at once keep the set-up of 1,000 short.
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            devices = list(
                pool.map(device, [(f, d) for d in range(devices_per_farm) for f in farm_ids])
            )
        token = admin.token
        admin.close()
        assert bridge.proc is not None

        def start_load() -> Any:
            parent, child = mp.get_context("fork").Pipe()
            p = mp.get_context("fork").Process(
                target=ingest_process,
                args=(
                    bridge.url,
                    devices,
                    load,
                    load.warmup + load.seconds,
                    LOAD_CPU,
                    child,
                ),
                daemon=True,
            )
            p.start()
            started = parent.recv()

            def finish() -> Any:
                done = parent.recv()
                p.join(10)
                return done

            return finish, started, p.pid

        ws_url = bridge.url.replace("http", "ws") + "/ws"
        return _run_clients(load, ws_url, token, farm_ids, start_load, bridge.proc.pid)


def run_ingest(url: str, devices: list[tuple[str, int]], load: Load, pid: int) -> dict[str, Any]:
    """The ingest load alone (no clients) against `url`: ack latency and the server's CPU."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    p = ctx.Process(
        target=ingest_process,
        args=(url, devices, load, load.warmup + load.seconds, LOAD_CPU, child),
        daemon=True,
    )
    p.start()
    parent.recv()
    time.sleep(load.warmup)
    with process_meter(pid) as server:
        time.sleep(load.seconds)
    done = parent.recv()
    p.join(10)
    ack = sorted(done["ack"])
    return {
        "ack": _dist(ack),
        "ingest": done["counts"],
        "requests_s": done["counts"]["ok"] / (load.warmup + load.seconds),
        "server_cpu_pct": server["cpu_pct"],
        "server_rss_mb": server["rss_mb"],
    }


def run_raw(load: Load, floor: str = "raw websockets") -> dict[str, Any]:
    """The same clients against a bare broadcast server: `raw websockets` or `picows`."""
    port = free_port()
    tmp = Path(tempfile.mkdtemp())
    start_file, started_file, done_file = tmp / "go", tmp / "started", tmp / "done.json"
    script = "raw_broadcast.py" if floor == "raw websockets" else "picows_broadcast.py"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name(script)),
            "--port",
            str(port),
            "--farms",
            str(load.farms),
            "--rate",
            str(load.rate),
            "--seconds",
            str(load.warmup + load.seconds),
            "--start-file",
            str(start_file),
            "--done-file",
            str(done_file),
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
            while not started_file.exists():
                time.sleep(0.01)
            started = float(started_file.read_text())

            def finish() -> dict[str, Any]:
                while not done_file.exists():
                    time.sleep(0.05)
                made = json.loads(done_file.read_text())
                acked = {int(f): b"\x01" * n for f, n in made.items()}
                total = sum(made.values())
                return {"counts": {"ok": total, "failed": 0}, "acked": acked}

            return finish, started, None

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


def show(name: str, load: Load, rows: list[tuple[str, dict[str, Any]]]) -> None:
    print(
        f"\n== {name}: {load.clients} clients, {load.farms} farms, {load.rate:g} readings/s "
        f"({load.per_request}/request, {load.connection}), {load.seconds:g} s measured =="
    )
    print(
        f"{'server':<16}{'conn ok':>11}{'deliv/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'lost':>6}{'dups':>6}{'B/rdg':>7}{'cpu %':>7}{'rss MB':>8}{'clients cpu %':>15}"
    )
    for label, r in rows:
        print(
            f"{label:<16}{r['connected']:>5}/{r['clients']:<5}{r['deliveries_s']:>10.0f}"
            f"{r['p50']:>8.1f}{r['p99']:>8.1f}{r['max']:>8.1f}{r['lost']:>6}{r['dups']:>6}"
            f"{r['bytes_per_reading']:>7.1f}{r['server_cpu_pct']:>7.0f}{r['server_rss_mb']:>8.0f}"
            f"{r['clients_cpu_pct']:>15.0f}"
        )
    bridge = rows[0][1]
    print(
        f"ingest generator CPU {bridge['ingest_cpu_pct']:.0f} % of a core; "
        f"bridge from stored: p50 {bridge['stored']['p50']:.1f} ms, p99 "
        f"{bridge['stored']['p99']:.1f} ms; ingest acks: {bridge['ingest']}"
        + (
            f", ack p50 {bridge['ack']['p50']:.1f} ms, p99 {bridge['ack']['p99']:.1f} ms"
            if bridge["ack"]
            else ""
        )
    )
    for label, r in rows[1:]:
        share = bridge["deliveries_s"] / max(1, r["deliveries_s"])
        print(
            f"bridge/{label} deliveries/s: {share:.2f}; "
            f"server CPU per delivery: bridge {us_per_delivery(bridge):.1f} us, "
            f"{label} {us_per_delivery(r):.1f} us"
        )


def us_per_delivery(r: dict[str, Any]) -> float:
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
    p.add_argument(
        "--connection",
        choices=("keepalive", "close"),
        default="keepalive",
        help="a device's connection: kept alive, or a new one per request",
    )
    p.add_argument("--no-raw", action="store_true", help="skip the raw floors")
    p.add_argument("--floors", default=",".join(FLOORS), help="which raw floors to run")
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
    floors = [] if args.no_raw else [f for f in args.floors.split(",") if f]
    for name, clients, farms, rate in plans:
        load = Load(
            clients,
            farms,
            rate,
            args.seconds,
            args.warmup,
            args.procs,
            args.per_request,
            args.connection,
        )
        rows = [("bridge", run_bridge(load))]
        rows += [(floor, run_raw(load, floor)) for floor in floors]
        show(name, load, rows)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
