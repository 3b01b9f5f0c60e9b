"""Instances benchmark: one bridge against two and three on one PostgreSQL and one Redis.

Not a test: it prints figures. In one run, side by side, with the same offered load:
one bridge on SQLite (the baseline), then one, two and three bridges sharing one
PostgreSQL database and one Redis backplane (`FARMBRIDGE_DATABASE_URL`,
`FARMBRIDGE_BACKPLANE_URL`, one `FARMBRIDGE_SECRET_KEY`). Devices post through
`POST /api/v1/ingest`, each device to one instance (device k to instance k mod N), once
with single readings and once with small batches; WebSocket clients of many farms are
spread over the instances so that every farm has clients on every instance.

Latency is per delivered reading, from the device's send time (the reading's own `ts`,
set just before the POST, in whole milliseconds) to the client's receipt, one clock. Each
delivery is marked local (the client's instance ingested the reading) or remote (it came
over the backplane: a Redis notice, then a store read); the backplane hop is the remote
minus the local latency of the same reading, paired per reading.

PostgreSQL (Debian's, via tests/postgres.py, fsync on), Redis and every bridge are pinned
to CPU 0, the load generators (client processes and the ingest process) to CPU 1: on a
two-core machine the instances share one core, so the figures are CPU costs per reading
and per delivery at a fixed load, not a scaling curve.

    PYTHONPATH=src:. .venv/bin/python bench/instances.py            # 10 s per scenario
    PYTHONPATH=src:. .venv/bin/python bench/instances.py --quick    # under a minute
    PYTHONPATH=src:. .venv/bin/python bench/instances.py --configs pg1,pg3 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import multiprocessing as mp
import os
import secrets
import shutil
import sys
import tempfile
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil
import psycopg
import redis
from tests.postgres import Postgres
from tests.redis_server import RedisServer

from bench.harness import Admin, Bridge, percentile, pin

SERVER_CPU = 0
LOAD_CPU = 1
CONNECT_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 30.0
CONFIGS = {"sqlite1": ("sqlite", 1), "pg1": ("pg", 1), "pg2": ("pg", 2), "pg3": ("pg", 3)}


@dataclass
class Load:
    farms: int
    devices_per_farm: int
    clients_per_farm: int
    seconds: float
    warmup: float
    procs: int
    placement: str  # "spread": device k on instance k mod N; "farm": a farm's devices on one


@dataclass
class Scenario:
    name: str
    rate: float  # readings/s offered, open loop
    per_request: int


# Servers.


class DurablePostgres(Postgres):
    """tests/postgres.py's server with fsync on (the tests turn it off), pinned to CPU 0."""

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.workdir} "
            "-c max_connections=300 -c shared_buffers=256MB "
            # Logs each lock wait over 50 ms (the bench counts them; deadlock_timeout sets
            # when a waiter checks for a deadlock and logs, it does not time anything out).
            "-c log_lock_waits=on -c deadlock_timeout=50ms"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.workdir / "log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        with contextlib.suppress(OSError, psutil.Error):
            for p in self.processes():
                os.sched_setaffinity(p.pid, {SERVER_CPU})  # backends forked later inherit it

    def lock_waits(self) -> int:
        """How many lock waits over 50 ms the server has logged so far."""
        log = self.workdir / "log"
        return log.read_text(errors="replace").count("still waiting for") if log.exists() else 0

    def counters(self) -> tuple[int, int]:
        """Transactions (committed or rolled back) the server has counted in all databases,
        and the WAL written so far in bytes."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                "SELECT (SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database),"
                " pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')"
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def connections(self) -> int:
        """Client connections open now (the bridges' pools), all databases."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
            ).fetchone()
        return int(row[0]) - 1 if row else 0  # not this one

    def readings_size(self, url: str) -> tuple[int, int]:
        """Rows in `readings` and the bytes the table takes with its indexes."""
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*), pg_total_relation_size('readings') FROM readings"
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def processes(self) -> list[psutil.Process]:
        """The postmaster and all its children (backends, WAL writer, checkpointer...)."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        main = psutil.Process(pid)
        return [main, *main.children(recursive=True)]


class Redis(RedisServer):
    """The tests' throw-away redis-server, on the servers' CPU, with its counters."""

    def __init__(self) -> None:
        super().__init__(Path(tempfile.mkdtemp(prefix="fb-redis-")))

    def start(self) -> None:
        super().start()
        if self.proc is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.proc.pid, {SERVER_CPU})

    def publishes(self) -> int:
        """PUBLISH commands served so far (the backplane's notices and signals)."""
        client = redis.Redis(port=self.port)
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        return int(stats.get("cmdstat_publish", {}).get("calls", 0))

    def clients(self) -> int:
        """Client connections open now, and the network bytes out so far."""
        client = redis.Redis(port=self.port)
        try:
            return int(client.info("clients")["connected_clients"]) - 1  # not this one
        finally:
            client.close()

    def bytes_out(self) -> int:
        client = redis.Redis(port=self.port)
        try:
            return int(client.info("stats")["total_net_output_bytes"])
        finally:
            client.close()

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.work, ignore_errors=True)


def _cpu_s(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
    return out


@contextlib.contextmanager
def cpu_meter(groups: dict[str, Any]) -> Iterator[dict[str, float]]:
    """CPU % of one core per named group over the block; a group is a callable returning
    its processes (read again at the end, so backends started meanwhile count from 0)."""
    figures: dict[str, float] = {}
    t0 = time.monotonic()
    before = {name: _cpu_s(get()) for name, get in groups.items()}
    yield figures
    wall = time.monotonic() - t0
    for name, get in groups.items():
        after = _cpu_s(get())
        used = sum(v - before[name].get(pid, 0.0) for pid, v in after.items())
        figures[name] = 100 * used / wall


# Client side (load-generator processes on CPU 1).


async def _client(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    farm: int,
    instance: int,
    home: dict[int, int],
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
        await ws.receive()  # welcome
        await ws.send_str(orjson.dumps({"type": "auth", "token": token}).decode())
        # Statuses too, so the farm's seqs arrive without holes and any hole is a loss.
        sub = {"type": "subscribe", "farm": farm, "topics": ["readings", "device_status"]}
        await ws.send_str(orjson.dumps(sub).decode())
        last = -1
        keys, lats, local = stats["keys"], stats["lat"], stats["local"]
        while not stop.is_set():
            try:
                msg = await ws.receive(timeout=1.0)
            except TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                stats["closed"] += 1
                return
            now = time.time() * 1000
            data = orjson.loads(msg.data)
            for m in data if isinstance(data, list) else (data,):
                kind = m.get("type")
                if kind == "batch":
                    t0 = m["t0"]
                    seqs = [r[0] for r in m.get("r", ())] + [s[0] for s in m.get("s", ())]
                    if measure[0] and now >= measure[0]:
                        for r in m.get("r", ()):
                            keys.append((farm << 32) | r[0])
                            lats.append(now - (t0 + r[3]))
                            local.append(1 if home.get(r[1]) == instance else 0)
                    for seq in sorted(seqs):
                        if last >= 0 and seq > last + 1:
                            stats["lost"] += seq - last - 1
                        elif seq <= last:
                            stats["dups"] += 1
                        last = max(last, seq)
                elif kind == "subscribed":
                    last = m.get("seq", 0)
                    if not ready.is_set():
                        stats["ok"] += 1
                        ready.set()
                elif kind == "ping":
                    await ws.send_str('{"type":"pong"}')
                elif kind == "error":
                    stats["errors"] += 1


def load_process(
    conn: Connection, clients: list[tuple[str, int, int]], token: str, home: dict[int, int]
) -> None:
    pin(LOAD_CPU)
    asyncio.run(_load_main(conn, clients, token, home))


async def _load_main(
    conn: Connection, clients: list[tuple[str, int, int]], token: str, home: dict[int, int]
) -> None:
    stats: dict[str, Any] = dict.fromkeys(("ok", "failed", "closed", "lost", "dups", "errors"), 0)
    stats["keys"], stats["lat"], stats["local"] = array("q"), array("f"), array("b")
    measure = [0.0]
    stop = asyncio.Event()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        tasks = []
        for i, (url, farm, instance) in enumerate(clients):
            ready = asyncio.Event()
            tasks.append(
                asyncio.create_task(
                    _client(session, url, token, farm, instance, home, stats, ready, measure, stop)
                )
            )
            if i % 50 == 49:
                await asyncio.sleep(0.01)  # a steady connect ramp
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while (
            stats["ok"] + stats["failed"] + stats["closed"] < len(clients)
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.05)
        conn.send(("ready", stats["ok"]))
        measure_from, measure_to = conn.recv()
        measure[0] = measure_from
        while time.time() * 1000 < measure_to:
            await asyncio.sleep(0.05)
        measure[0] = float("inf")
        await asyncio.sleep(0.5)  # readings sent in the window, still in flight
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    raw = tuple(stats.pop(k).tobytes() for k in ("keys", "lat", "local"))
    conn.send((stats, raw))


# Ingest side (one process on CPU 1).


def ingest_process(
    conn: Connection, devices: list[tuple[str, str]], sc: Scenario, seconds: float, warmup: float
) -> None:
    pin(LOAD_CPU)
    conn.send(asyncio.run(_ingest_main(devices, sc, seconds, warmup)))


async def _ingest_main(
    devices: list[tuple[str, str]], sc: Scenario, seconds: float, warmup: float
) -> dict[str, Any]:
    req_rate = sc.rate / sc.per_request
    sem = asyncio.Semaphore(512)
    counts: dict[str, Any] = {"ok": 0, "failed": 0, "readings": 0}
    acks = array("f")
    measure_from = time.monotonic() + warmup
    measure_to = measure_from + seconds - warmup - 0.5  # the window of run_scenario
    value = 20.0

    async def one(session: aiohttp.ClientSession, url: str, key: str) -> None:
        nonlocal value
        value = 20.0 if value > 30 else value + 0.01
        async with sem:
            now = time.time_ns() // 1_000_000  # the device's send time, in the reading
            sent_at = time.monotonic()
            body = orjson.dumps(
                {
                    "readings": [
                        {"sensor": "temp", "value": round(value, 2), "ts": now}
                        for _ in range(sc.per_request)
                    ]
                }
            )
            try:
                async with session.post(
                    f"{url}/api/v1/ingest",
                    data=body,
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                ) as r:
                    await r.read()
                    t = time.monotonic()
                    if measure_from <= t < measure_to and r.status == 200:
                        acks.append(1000 * (t - sent_at))
                    if r.status == 200:
                        counts["ok"] += 1
                        counts["readings"] += sc.per_request
                    else:
                        counts["failed"] += 1
            except aiohttp.ClientError:
                counts["failed"] += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as session:
        start = time.monotonic()
        sent = 0
        pending: set[asyncio.Task[None]] = set()
        while (now := time.monotonic()) - start < seconds:
            for _ in range(int((now - start) * req_rate) - sent):
                url, key = devices[sent % len(devices)]
                t = asyncio.create_task(one(session, url, key))
                pending.add(t)
                t.add_done_callback(pending.discard)
                sent += 1
            await asyncio.sleep(0.002)
        await asyncio.gather(*pending, return_exceptions=True)
    counts["acks"] = acks.tobytes()
    return counts


# Orchestration.


@dataclass
class Deployment:
    name: str
    bridges: list[Bridge]
    pg: DurablePostgres | None
    redis: Redis | None
    database_url: str | None
    token: str
    farm_ids: list[int]
    devices: list[tuple[str, str]]  # (instance url, key), device k on instance k mod N
    home: dict[int, int]  # sensor id -> the instance its device posts to


def start_deployment(
    name: str, load: Load, pg: DurablePostgres | None, rds: Redis | None, n: int
) -> Deployment:
    env = {
        "FARMBRIDGE_SECRET_KEY": secrets.token_hex(32),
        "FARMBRIDGE_WS_MAX_CONNECTIONS_PER_USER": "100000",
        "FARMBRIDGE_WS_MAX_CONNECTIONS": "100000",
        "FARMBRIDGE_DEVICE_RATE_PER_S": "100000",
        "FARMBRIDGE_DEVICE_BURST": "100000",
        "FARMBRIDGE_WS_HEARTBEAT_S": "30",
        "FARMBRIDGE_LOGIN_RATE_PER_MIN": "6000",
    }
    if pg is not None and rds is not None:
        env["FARMBRIDGE_DATABASE_URL"] = pg.new_database()
        env["FARMBRIDGE_BACKPLANE_URL"] = rds.url
    bridges: list[Bridge] = []
    try:
        bridges = [Bridge(env=env, cpu=SERVER_CPU, create_admin=i == 0) for i in range(n)]
        bridges[0].start()  # it creates the admin; the others only serve, started together
        with concurrent.futures.ThreadPoolExecutor(max(1, n - 1)) as pool:
            for started in [pool.submit(b.start) for b in bridges[1:]]:
                started.result()
        admin = Admin(bridges[0].url)
        farm_ids, devices, home = [], [], {}
        k = 0
        for f in range(load.farms):
            farm = admin.post("/api/v1/farms", {"name": f"farm-{f}"})
            farm_ids.append(farm["id"])
            for d in range(load.devices_per_farm):
                dev = admin.post(
                    f"/api/v1/farms/{farm['id']}/devices",
                    {"name": f"dev-{d}", "kind": "sensor_node", "sensors": [{"name": "temp"}]},
                )
                at = k % n if load.placement == "spread" else f % n
                devices.append((bridges[at].url, dev["key"]))
                home[dev["sensors"][0]["id"]] = at
                k += 1
        token = admin.token
        admin.close()
    except BaseException:
        for b in bridges:
            b.stop()
        raise
    url = env.get("FARMBRIDGE_DATABASE_URL")
    return Deployment(name, bridges, pg, rds, url, token, farm_ids, devices, home)


def run_scenario(dep: Deployment, load: Load, sc: Scenario) -> dict[str, Any]:
    n = len(dep.bridges)
    ws_urls = [b.url.replace("http", "ws") + "/ws" for b in dep.bridges]
    per_proc: list[list[tuple[str, int, int]]] = [[] for _ in range(load.procs)]
    i = 0
    for fi, farm in enumerate(dep.farm_ids):
        for j in range(load.clients_per_farm):
            instance = (fi + j) % n
            per_proc[i % load.procs].append((ws_urls[instance], farm, instance))
            i += 1
    ctx = mp.get_context("fork")
    pipes, procs = [], []
    for clients in per_proc:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=load_process, args=(child, clients, dep.token, dep.home))
        p.daemon = True
        p.start()
        pipes.append(parent)
        procs.append(p)
    connected = sum(pipe.recv()[1] for pipe in pipes)
    measure_from = time.time() * 1000 + load.warmup * 1000
    measure_to = measure_from + load.seconds * 1000
    for pipe in pipes:
        pipe.send((measure_from, measure_to))
    iparent, ichild = ctx.Pipe()
    ingest = ctx.Process(
        target=ingest_process,
        args=(ichild, dep.devices, sc, load.warmup + load.seconds + 0.5, load.warmup),
    )
    ingest.daemon = True
    ingest.start()
    time.sleep(load.warmup)
    groups: dict[str, Any] = {}
    for bi, b in enumerate(dep.bridges):
        assert b.proc is not None
        bp = psutil.Process(b.proc.pid)
        groups[f"bridge{bi}"] = lambda bp=bp: [bp]
    if dep.pg is not None and dep.redis is not None and dep.redis.proc is not None:
        groups["postgres"] = dep.pg.processes
        rp = psutil.Process(dep.redis.proc.pid)
        groups["redis"] = lambda: [rp]
    load_ps = [psutil.Process(p.pid) for p in [*procs, ingest] if p.pid]
    groups["load"] = lambda: load_ps
    waits0 = dep.pg.lock_waits() if dep.pg is not None else 0
    xacts0, wal0 = dep.pg.counters() if dep.pg is not None else (0, 0)
    pubs0 = dep.redis.publishes() if dep.redis is not None else 0
    out0 = dep.redis.bytes_out() if dep.redis is not None else 0
    machine0 = psutil.cpu_times()
    server_core0 = psutil.cpu_times(percpu=True)[SERVER_CPU]
    with cpu_meter(groups) as cpu:
        time.sleep(load.seconds)
    machine1 = psutil.cpu_times()
    server_core1 = psutil.cpu_times(percpu=True)[SERVER_CPU]
    idle = (server_core1.idle + server_core1.iowait) - (server_core0.idle + server_core0.iowait)
    busy = sum(
        getattr(machine1, f) - getattr(machine0, f)
        for f in ("user", "nice", "system", "irq", "softirq", "steal")
    )
    cpu["other"] = max(0.0, 100 * busy / load.seconds - sum(cpu.values()))
    cpu["core_busy"] = max(0.0, 100 - 100 * idle / load.seconds)  # the servers' core, all
    cpu["pg_lock_waits"] = (dep.pg.lock_waits() - waits0) if dep.pg is not None else 0
    # Per second of the window (the counters are read just after it; the few queries of
    # these reads themselves are negligible).
    xacts1, wal1 = dep.pg.counters() if dep.pg is not None else (0, 0)
    cpu["pg_xacts_s"] = (xacts1 - xacts0) / load.seconds
    cpu["wal_bytes"] = wal1 - wal0
    cpu["publishes_s"] = (dep.redis.publishes() - pubs0) / load.seconds if dep.redis else 0
    if dep.redis is not None and dep.pg is not None:
        cpu["redis_out_s"] = (dep.redis.bytes_out() - out0) / load.seconds
        cpu["redis_clients"] = dep.redis.clients()
        cpu["pg_connections"] = dep.pg.connections()
    totals: dict[str, int] = {}
    keys, lat, local = array("q"), array("f"), array("b")
    parts: tuple[array[Any], ...] = (keys, lat, local)
    for pipe in pipes:
        stats, raw = pipe.recv()
        for k, v in stats.items():
            totals[k] = totals.get(k, 0) + v
        for arr, part in zip(parts, raw, strict=True):
            arr.frombytes(part)
    for p in procs:
        p.join(10)
    counts = iparent.recv()
    ingest.join(10)
    return summarize(n, load, sc, connected, totals, keys, lat, local, counts, cpu)


def _dist(values: list[float]) -> dict[str, float]:
    values.sort()
    return {
        "n": len(values),
        "p50": percentile(values, 0.5),
        "p90": percentile(values, 0.9),
        "p99": percentile(values, 0.99),
        "max": values[-1] if values else float("nan"),
    }


def summarize(
    n: int,
    load: Load,
    sc: Scenario,
    connected: int,
    totals: dict[str, int],
    keys: array[int],
    lat: array[float],
    local: array[int],
    counts: dict[str, Any],
    cpu: dict[str, float],
) -> dict[str, Any]:
    acks = array("f")
    acks.frombytes(counts.pop("acks"))
    loc = [v for v, m in zip(lat, local, strict=True) if m]
    rem = [v for v, m in zip(lat, local, strict=True) if not m]
    # The hop: per reading, mean remote minus mean local latency.
    acc: dict[int, list[float]] = {}
    for key, v, m in zip(keys, lat, local, strict=True):
        a = acc.setdefault(key, [0.0, 0.0, 0.0, 0.0])
        a[0 if m else 2] += v
        a[1 if m else 3] += 1
    hop = [a[2] / a[3] - a[0] / a[1] for a in acc.values() if a[1] and a[3]]
    lock_waits = int(cpu.pop("pg_lock_waits"))
    core_busy = cpu.pop("core_busy")
    pg_xacts_s = cpu.pop("pg_xacts_s")
    wal_bytes = cpu.pop("wal_bytes")
    conns = {k: cpu.pop(k, 0) for k in ("redis_out_s", "redis_clients", "pg_connections")}
    publishes_s = cpu.pop("publishes_s")
    bridges_cpu = sum(v for k, v in cpu.items() if k.startswith("bridge"))
    servers_cpu = bridges_cpu + cpu.get("postgres", 0.0) + cpu.get("redis", 0.0)
    # Readings acknowledged in the window (each ack a request of `per_request` readings).
    readings_s = len(acks) * sc.per_request / load.seconds
    return {
        "instances": n,
        "clients": load.farms * load.clients_per_farm,
        "connected": connected,
        "readings_s": readings_s,
        "deliveries_s": len(lat) / load.seconds,
        "all": _dist(list(lat)),
        "ack": _dist(list(acks)),
        "local": _dist(loc),
        "remote": _dist(rem),
        "hop": _dist(hop),
        "lock_waits": lock_waits,
        "core_busy": core_busy,
        "pg_xacts_s": pg_xacts_s,
        "wal_per_reading": wal_bytes / max(1.0, readings_s * load.seconds),
        "publishes_s": publishes_s,
        **conns,
        "lost": totals.get("lost", 0),
        "dups": totals.get("dups", 0),
        "errors": totals.get("errors", 0),
        "ingest": counts,
        "cpu": cpu,
        "bridges_cpu": bridges_cpu,
        "servers_cpu": servers_cpu,
        "us_per_reading": 1e4 * servers_cpu / max(1.0, readings_s),
    }


def show(name: str, sc: Scenario, r: dict[str, Any]) -> None:
    a, cpu = r["all"], r["cpu"]
    parts = " ".join(f"{k} {v:.0f}%" for k, v in cpu.items() if k not in ("load", "other"))
    print(
        f"{name:<8}{sc.name:<8}{r['connected']:>5}/{r['clients']:<5}{r['readings_s']:>9.0f}"
        f"{r['deliveries_s']:>9.0f}{a['p50']:>7.1f}{a['p90']:>7.1f}{a['p99']:>7.1f}{a['max']:>7.0f}"
        f"{r['lost']:>6}{r['dups']:>5}{r['servers_cpu']:>7.0f}{r['us_per_reading']:>8.0f}"
        f"{cpu['load']:>7.0f}{cpu['other']:>7.0f}   {parts}"
    )
    if r["instances"] > 1:
        lo, re_, hop = r["local"], r["remote"], r["hop"]
        print(
            f"{'':<16}local p50/p99 {lo['p50']:.1f}/{lo['p99']:.1f} ms ({lo['n']}), "
            f"remote {re_['p50']:.1f}/{re_['p99']:.1f} ms ({re_['n']}); "
            f"hop per reading p50/p90/p99 {hop['p50']:.1f}/{hop['p90']:.1f}/{hop['p99']:.1f} ms"
        )
    ack = r["ack"]
    print(
        f"{'':<16}CPU {SERVER_CPU} busy {r['core_busy']:.0f}% (servers and anything else on it); "
        f"ingest acks p50/p99/max {ack['p50']:.1f}/{ack['p99']:.1f}/{ack['max']:.0f} ms; "
        f"PostgreSQL lock waits over 50 ms: {r['lock_waits']}, transactions/s "
        f"{r['pg_xacts_s']:.0f}, WAL bytes per reading {r['wal_per_reading']:.0f}; "
        f"Redis publishes/s {r['publishes_s']:.0f}, bytes out/s {r['redis_out_s']:.0f}; "
        f"connections: PostgreSQL {r['pg_connections']}, Redis {r['redis_clients']}"
    )
    ing = r["ingest"]
    if ing["failed"]:
        print(f"{'':<16}ingest failures: {ing}")
    sys.stdout.flush()


def header() -> None:
    print(
        f"{'config':<8}{'load':<8}{'conn ok':>11}{'rdg/s':>9}{'deliv/s':>9}{'p50':>7}{'p90':>7}"
        f"{'p99':>7}{'max':>7}{'lost':>6}{'dups':>5}{'srv%':>7}{'us/rdg':>8}{'load%':>7}{'other%':>7}"
        "   CPU % of one core per process"
    )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--configs", default="sqlite1,pg1,pg2,pg3")
    p.add_argument("--farms", type=int, default=100)
    p.add_argument("--devices-per-farm", type=int, default=2)
    p.add_argument("--clients-per-farm", type=int, default=6, help="spread over the instances")
    p.add_argument("--single-rate", type=float, default=400.0, help="readings/s, 1 per request")
    p.add_argument("--batch-rate", type=float, default=2000.0, help="readings/s in batches")
    p.add_argument("--batch", type=int, default=10, help="readings per batched request")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--procs", type=int, default=3, help="client processes")
    p.add_argument(
        "--placement",
        default="spread",
        help="spread: a farm's devices on different instances (device k on k mod N); farm: "
        "all of a farm's devices on one instance (farm f on f mod N); or both, comma-separated",
    )
    p.add_argument("--quick", action="store_true", help="small load, 1.5 s each: under a minute")
    p.add_argument("--keep-logs", action="store_true", help="keep server logs, print where")
    args = p.parse_args()
    if args.quick:
        args.farms, args.seconds, args.warmup = 20, 1.5, 0.5
        args.single_rate, args.batch_rate = 200.0, 1000.0
    load = Load(
        args.farms,
        args.devices_per_farm,
        args.clients_per_farm,
        args.seconds,
        args.warmup,
        args.procs,
        "spread",
    )
    scenarios = [
        Scenario("single", args.single_rate, 1),
        Scenario(f"batch{args.batch}", args.batch_rate, args.batch),
    ]
    configs = [c for c in args.configs.split(",") if c]
    print(
        f"machine: {os.cpu_count()} CPUs ({_cpu_model()}); servers (bridges, PostgreSQL, Redis) "
        f"on CPU {SERVER_CPU}, load on CPU {LOAD_CPU}"
    )
    print(
        f"{load.farms} farms x {load.devices_per_farm} devices, {load.clients_per_farm} clients "
        f"per farm ({load.farms * load.clients_per_farm}), {load.seconds:g} s measured after "
        f"{load.warmup:g} s; latency ms from the reading's ts to the client"
    )
    pg: DurablePostgres | None = None
    rds: Redis | None = None
    try:
        if any(CONFIGS[c][0] == "pg" for c in configs):
            pg = DurablePostgres()
            pg.init()
            pg.start()
            pg.make_template()
            rds = Redis()
            rds.start()
        header()
        runs = [(c, pl) for pl in args.placement.split(",") for c in configs]
        for name, placement in runs:
            backend, n = CONFIGS[name]
            if n == 1 and placement != runs[0][1]:
                continue  # one instance: placement means nothing, run it once
            load.placement = placement
            label = name if n == 1 else f"{name}{placement[0]}"
            dep = start_deployment(label, load, pg if backend == "pg" else None, rds, n)
            try:
                for sc in scenarios:
                    show(label, sc, run_scenario(dep, load, sc))
                if pg is not None and dep.database_url is not None:
                    rows, size = pg.readings_size(dep.database_url)
                    print(
                        f"{'':<16}readings table: {rows} rows, {size / max(1, rows):.0f} bytes "
                        "per row with its indexes"
                    )
            finally:
                for b in dep.bridges:
                    b.stop()
                    if args.keep_logs:
                        print(f"  log: {b.data_dir / 'server.log'}")
                    else:
                        shutil.rmtree(b.data_dir, ignore_errors=True)
    finally:
        if rds is not None:
            rds.stop()
        if pg is not None:
            if args.keep_logs:
                pg.stop("immediate")
                print(f"  postgres log: {pg.workdir / 'log'}")
            else:
                pg.destroy()


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()
