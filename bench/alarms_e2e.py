"""Alarm rules end to end: what 0, 100 and 1,000 rules on a farm cost HTTP ingest and the stream.

Not a test: it prints figures. Each configuration starts its own bridge pinned to CPU 0
(durable commits, auth and sequencing all on), one farm of ``--devices`` devices with
``--sensors`` sensors each, and ``N`` alarm rules spread evenly over the sensors (rule i
watches sensor i mod S, `above` a threshold no reading reaches, so every reading is
evaluated against its sensor's rules and none raises: the cost of evaluation alone),
plus ``--raising`` rules whose threshold the readings cross back and forth, so alarms
are raised and cleared all along (the cost of the alarm writes, stream and outbox).

Two figures per configuration, both with the load on CPU 1:

- ``throughput``: closed-loop single-reading HTTP ingest, ``--concurrency`` requests in
  flight, for ``--seconds``: acknowledged requests/s (each a durable commit);
- ``latency``: ``--clients`` WebSocket clients on the farm while devices post
  ``--rate`` single readings/s: ingest-to-client p50/p99 (from the bridge's `stored`
  time of each reading to the frame's arrival) and lost changes. The clients take the
  readings topic only, and "lost" counts gaps in its seqs: with ``--raising`` rules the
  alarm changes' seqs show there as gaps too, so judge loss with ``--raising 0``.

Configurations run interleaved, ``--repeat`` times; the summary quotes medians and the
throughput ratio to the 0-rule run (the goal: at 1,000 rules at most 10 % lower).

    .venv/bin/python -m bench.alarms_e2e                      # 0, 100, 1000 rules, 3 rounds
    .venv/bin/python -m bench.alarms_e2e --quick              # does it run?
    .venv/bin/python -m bench.alarms_e2e --rules 0,1000 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

from bench.fanout import LOAD_CPU, SERVER_CPU, Load, _run_clients
from bench.harness import Admin, Bridge, pin, process_meter

Target = tuple[str, str]
"""A device key and one of its sensors' names."""


def _post_loop(
    url: str, targets: list[Target], seconds: float, concurrency: int, rate: float | None
) -> dict[str, Any]:
    """Posts single readings: closed-loop at `concurrency`, or open-loop at `rate`/s."""

    async def main() -> dict[str, Any]:
        counts: dict[str, Any] = {"ok": 0, "failed": 0}
        rnd = random.Random(7)
        flip = [0]

        async def one(session: aiohttp.ClientSession) -> None:
            key, sensor = targets[rnd.randrange(len(targets))]
            flip[0] += 1
            # Sensor "s0" of each device crosses the raising rules' threshold (50) and back.
            value = (60.0 if flip[0] % 40 < 20 else 40.0) if sensor == "s0" else 20.0
            body = {"readings": [{"sensor": sensor, "value": value, "ts": int(time.time() * 1000)}]}
            try:
                async with session.post(
                    f"{url}/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {key}"}
                ) as r:
                    await r.read()
                    counts["ok" if r.status == 200 else "failed"] += 1
            except aiohttp.ClientError:
                counts["failed"] += 1

        connector = aiohttp.TCPConnector(limit=max(concurrency, 64))
        async with aiohttp.ClientSession(connector=connector) as session:
            t0 = time.monotonic()
            if rate is None:

                async def worker() -> None:
                    while time.monotonic() - t0 < seconds:
                        await one(session)

                await asyncio.gather(*(worker() for _ in range(concurrency)))
            else:
                pending: set[asyncio.Task[None]] = set()
                sent = 0
                while (now := time.monotonic()) - t0 < seconds:
                    for _ in range(int((now - t0) * rate) - sent):
                        t = asyncio.create_task(one(session))
                        pending.add(t)
                        t.add_done_callback(pending.discard)
                        sent += 1
                    await asyncio.sleep(0.002)
                await asyncio.gather(*pending, return_exceptions=True)
            counts["seconds"] = time.monotonic() - t0
        return counts

    return asyncio.run(main())


def _post_process(conn: Connection, *args: Any) -> None:
    pin(LOAD_CPU)
    conn.send(_post_loop(*args))


def _in_process(*args: Any) -> Any:
    """Runs `_post_loop(*args)` in a process of its own; returns a function that waits."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_post_process, args=(child, *args), daemon=True)
    p.start()

    def finish() -> Any:
        counts = parent.recv()
        p.join(10)
        return counts

    return finish


def _set_up(admin: Admin, args: argparse.Namespace, rules: int) -> tuple[int, list[Target]]:
    farm = admin.post("/api/v1/farms", {"name": "alarm-bench"})
    sensors: list[int] = []
    targets: list[Target] = []
    for d in range(args.devices):
        dev = admin.post(
            f"/api/v1/farms/{farm['id']}/devices",
            {
                "name": f"dev-{d}",
                "kind": "sensor_node",
                "sensors": [{"name": f"s{i}", "unit": "C"} for i in range(args.sensors)],
            },
        )
        targets += [(dev["key"], f"s{i}") for i in range(args.sensors)]
    listed = admin.http.get(f"/api/v1/farms/{farm['id']}/sensors")
    listed.raise_for_status()
    sensors = [s["id"] for s in listed.json()]
    path = f"/api/v1/farms/{farm['id']}/alarm-rules"
    for i in range(rules):
        admin.post(
            path,
            {
                "name": f"never {i}",
                "kind": "above",
                "severity": "warning",
                "sensor_id": sensors[i % len(sensors)],
                "threshold": 1_000.0 + i,
                "for_s": 0,
            },
        )
    if rules:
        for i in range(args.raising):
            admin.post(
                path,
                {
                    "name": f"crossed {i}",
                    "kind": "above",
                    "severity": "critical",
                    "sensor_name": "s0",
                    "threshold": 50.0,
                    "clear_threshold": 45.0,
                    "for_s": 0,
                },
            )
    return farm["id"], targets


def run(args: argparse.Namespace, rules: int) -> dict[str, Any]:
    env = {
        "FARMBRIDGE_WS_MAX_CONNECTIONS_PER_USER": str(args.clients + 10),
        "FARMBRIDGE_DEVICE_RATE_PER_S": "100000",
        "FARMBRIDGE_DEVICE_BURST": "100000",
        "FARMBRIDGE_WS_HEARTBEAT_S": "30",
    }
    with Bridge(env=env, cpu=SERVER_CPU) as bridge:
        assert bridge.proc is not None
        admin = Admin(bridge.url)
        farm_id, targets = _set_up(admin, args, rules)
        token = admin.token
        admin.close()
        with process_meter(bridge.proc.pid) as cpu:
            counts = _in_process(bridge.url, targets, args.seconds, args.concurrency, None)()
        throughput = counts["ok"] / counts["seconds"]
        load = Load(args.clients, 1, args.rate, args.seconds, args.warmup, 2, 1)
        ws_url = bridge.url.replace("http", "ws") + "/ws"

        def start_load() -> Any:
            return _in_process(bridge.url, targets, args.warmup + args.seconds + 0.5, 0, args.rate)

        latency = _run_clients(load, ws_url, token, [farm_id], start_load, bridge.proc.pid)
    return {
        "rules": rules,
        "throughput_rps": throughput,
        "throughput_failed": counts["failed"],
        "throughput_cpu_pct": cpu["cpu_pct"],
        "p50_ms": latency["p50"],
        "p99_ms": latency["p99"],
        "lost": latency["lost"],
        "latency_cpu_pct": latency["server_cpu_pct"],
        "ingest_failed": latency["ingest"]["failed"],
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rules", default="0,100,1000")
    p.add_argument("--raising", type=int, default=5, help="rules the readings cross")
    p.add_argument("--devices", type=int, default=20)
    p.add_argument("--sensors", type=int, default=5, help="sensors per device")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--rate", type=float, default=500.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="2 s, one round")
    p.add_argument("--json", type=Path, help="also write every run here")
    args = p.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.repeat = 2.0, 1.0, 1
    configs = [int(r) for r in args.rules.split(",")]
    runs: list[dict[str, Any]] = []
    for round_ in range(args.repeat):
        for rules in configs:
            r = run(args, rules)
            runs.append(r)
            print(f"round {round_ + 1} rules {rules}: {json.dumps(r)}")
            sys.stdout.flush()
    print(
        f"\n== {args.devices} devices x {args.sensors} sensors, single-reading HTTP ingest; "
        f"medians of {args.repeat} =="
    )
    print(
        f"{'rules':>6}{'req/s':>9}{'vs 0':>7}{'cpu %':>7}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'lost':>6}{'failed':>8}"
    )
    base = None
    for rules in configs:
        mine = [r for r in runs if r["rules"] == rules]

        def med(k: str, rows: list[dict[str, Any]] = mine) -> float:
            return float(statistics.median(r[k] for r in rows))

        rps = med("throughput_rps")
        base = base or rps
        failed = sum(r["throughput_failed"] + r["ingest_failed"] for r in mine)
        print(
            f"{rules:>6}{rps:>9.0f}{rps / base:>7.2f}{med('throughput_cpu_pct'):>7.0f}"
            f"{med('p50_ms'):>8.1f}{med('p99_ms'):>8.1f}{sum(r['lost'] for r in mine):>6}"
            f"{failed:>8}"
        )
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
