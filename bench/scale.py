"""The scale curve: p99 latency and server CPU as connections grow, as readings/s grow, and
as instances are added.

A suite module (bench/suite.py): `run(size)` returns the contract's dict. Three curves,
each point its own bridge and load (bench/fanout.py: devices posting single readings over
HTTP keep-alive, clients of 100 farms, latency from the device's send):

- connections 100, 1,000, 5,000, 10,000 at a fixed 200 readings/s, each beside the raw
  `websockets` floor with the same clients (the ratio is the bridge's cost of its work);
- readings/s 100, 500, 1,000, 2,000 with 1,000 clients;
- 1, 2 and 3 bridges sharing one PostgreSQL and one Redis (bench/instances.py), the same
  load spread over them, beside one bridge on SQLite. On a two-core machine the instances
  share one core, so this curve shows the CPU cost of the backplane, not added capacity.

    PYTHONPATH=src:. .venv/bin/python -m bench.suite --only scale
    PYTHONPATH=src:. .venv/bin/python -m bench.scale [--ci]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from bench import fanout, instances
from bench.report import cell, figures, progress, ratio, table, text_tables

FULL = {
    "farms": 100,
    "connections": [100, 1_000, 5_000, 10_000],
    "connections_rate": 200.0,
    "rates": [100.0, 500.0, 1_000.0, 2_000.0],
    "rates_clients": 1_000,
    "seconds": 6.0,
    "warmup": 2.0,
    "procs": 4,
    "instances": ["sqlite1", "pg1", "pg2", "pg3"],
    "inst_farms": 100,
    "inst_rate": 400.0,
}
CI = {
    "farms": 2,
    "connections": [10, 30],
    "connections_rate": 10.0,
    "rates": [30.0],
    "rates_clients": 10,
    "seconds": 1.0,
    "warmup": 0.5,
    "procs": 1,
    # Two instances only: PostgreSQL, Redis and the backplane hop, at the least start-up cost.
    "instances": ["pg2"],
    "inst_farms": 4,
    "inst_rate": 20.0,
}


def _point(r: dict[str, Any]) -> dict[str, float]:
    return {
        "p50_ms": r["p50"],
        "p99_ms": r["p99"],
        "server_cpu_pct": r["server_cpu_pct"],
        "cpu_us_per_delivery": fanout.us_per_delivery(r),
        "deliveries_s": r["deliveries_s"],
        "lost": r["lost"],
        "server_rss_mb": r["server_rss_mb"],
    }


def _row(label: str, x: Any, r: dict[str, Any], rate: float) -> list[Any]:
    return [
        label,
        cell(x, 0) if isinstance(x, float) else f"{x:,}",
        cell(rate, 0),
        f"{r['connected']}/{r['clients']}",
        cell(r["deliveries_s"], 0),
        cell(r["p50"]),
        cell(r["p99"]),
        r["lost"],
        cell(r["server_cpu_pct"], 0),
        cell(fanout.us_per_delivery(r)),
        cell(r["server_rss_mb"], 0),
    ]


COLUMNS = [
    "server",
    "x",
    "readings/s",
    "connected",
    "deliveries/s",
    "p50 ms",
    "p99 ms",
    "lost",
    "server CPU %",
    "CPU µs/delivery",
    "RSS MB",
]


def connections_curve(
    cfg: dict[str, Any], figs: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    rows: list[Any] = []
    series: dict[str, list[list[float]]] = {k: [] for k in ("bridge p99", "raw websockets p99")}
    cpu: dict[str, list[list[float]]] = {k: [] for k in ("bridge CPU %", "raw websockets CPU %")}
    rate = cfg["connections_rate"]
    for n in cfg["connections"]:
        load = fanout.Load(
            n, min(cfg["farms"], n), rate, cfg["seconds"], cfg["warmup"], cfg["procs"], 1
        )
        progress(f"scale: {n:,} connections, the bridge and the raw floor")
        b = fanout.run_bridge(load)
        raw = fanout.run_raw(load, "raw websockets")
        for label, r in (("bridge", b), ("raw websockets", raw)):
            rows.append(_row(label, n, r, rate))
            key = "bridge" if label == "bridge" else "raw_websockets"
            for k, v in _point(r).items():
                figs[f"connections.{n}.{key}.{k}"] = v
            series[f"{label} p99"].append([n, round(r["p99"], 2)])
            cpu[f"{label} CPU %"].append([n, round(r["server_cpu_pct"], 1)])
        figs[f"connections.{n}.p99_vs_raw_websockets"] = ratio(b["p99"], raw["p99"])
        figs[f"connections.{n}.cpu_vs_raw_websockets"] = ratio(
            b["server_cpu_pct"], raw["server_cpu_pct"]
        )
    return rows, {"p99": series, "cpu": cpu}


def rates_curve(cfg: dict[str, Any], figs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    rows: list[Any] = []
    p99: list[list[float]] = []
    cpu: list[list[float]] = []
    clients = cfg["rates_clients"]
    for rate in cfg["rates"]:
        load = fanout.Load(
            clients,
            min(cfg["farms"], clients),
            rate,
            cfg["seconds"],
            cfg["warmup"],
            cfg["procs"],
            1,
        )
        progress(f"scale: {rate:g} readings/s")
        r = fanout.run_bridge(load)
        rows.append(_row("bridge", rate, r, rate))
        for k, v in _point(r).items():
            figs[f"rates.{rate:g}.bridge.{k}"] = v
        p99.append([rate, round(r["p99"], 2)])
        cpu.append([rate, round(r["server_cpu_pct"], 1)])
    return rows, {"p99": {"bridge p99": p99}, "cpu": {"bridge CPU %": cpu}}


def instances_curve(cfg: dict[str, Any], figs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    load = instances.Load(
        cfg["inst_farms"], 2, 6, cfg["seconds"], cfg["warmup"], cfg["procs"], "spread"
    )
    sc = instances.Scenario("single", cfg["inst_rate"], 1)
    rows: list[Any] = []
    p99: list[list[Any]] = []
    cpu: list[list[Any]] = []
    pg: instances.DurablePostgres | None = None
    rds: instances.Redis | None = None
    try:
        if any(instances.CONFIGS[c][0] == "pg" for c in cfg["instances"]):
            pg = instances.DurablePostgres()
            pg.init()
            pg.start()
            pg.make_template()
            rds = instances.Redis()
            rds.start()
        for name in cfg["instances"]:
            backend, n = instances.CONFIGS[name]
            progress(f"scale: instances {name}")
            dep = instances.start_deployment(name, load, pg if backend == "pg" else None, rds, n)
            try:
                r = instances.run_scenario(dep, load, sc)
            finally:
                for b in dep.bridges:
                    b.stop()
                    shutil.rmtree(b.data_dir, ignore_errors=True)
            a = r["all"]
            label = f"{n} on {'PostgreSQL + Redis' if backend == 'pg' else 'SQLite'}"
            rows.append(
                [
                    label,
                    f"{r['connected']}/{r['clients']}",
                    cell(r["readings_s"], 0),
                    cell(r["deliveries_s"], 0),
                    cell(a["p50"]),
                    cell(a["p99"]),
                    cell(r["remote"]["p99"]) if n > 1 else "-",
                    r["lost"],
                    cell(r["bridges_cpu"], 0),
                    cell(r["servers_cpu"], 0),
                    cell(r["us_per_reading"], 0),
                ]
            )
            for k, v in (
                ("p50_ms", a["p50"]),
                ("p99_ms", a["p99"]),
                ("bridges_cpu_pct", r["bridges_cpu"]),
                ("servers_cpu_pct", r["servers_cpu"]),
                ("cpu_us_per_reading", r["us_per_reading"]),
                ("lost", r["lost"]),
            ):
                figs[f"instances.{name}.{k}"] = v
            p99.append([name, round(a["p99"], 2)])
            cpu.append([name, round(r["servers_cpu"], 1)])
    finally:
        if rds is not None:
            rds.stop()
        if pg is not None:
            pg.destroy()
    return rows, {"p99": p99, "cpu": cpu}


def run(size: str) -> dict[str, Any]:
    cfg = CI if size == "ci" else FULL
    figs: dict[str, Any] = {}
    conn_rows, conn = connections_curve(cfg, figs)
    rate_rows, rates = rates_curve(cfg, figs)
    inst_rows, inst = instances_curve(cfg, figs)
    plots = [
        {
            "file": "scale-connections-p99.png",
            "title": f"p99 latency vs connections ({cfg['connections_rate']:g} readings/s)",
            "kind": "line",
            "logx": True,
            "xlabel": "WebSocket connections",
            "ylabel": "p99 ms, send to receipt",
            "series": conn["p99"],
        },
        {
            "file": "scale-connections-cpu.png",
            "title": "Server CPU vs connections",
            "kind": "line",
            "logx": True,
            "xlabel": "WebSocket connections",
            "ylabel": "% of one core",
            "series": conn["cpu"],
        },
        {
            "file": "scale-rates.png",
            "title": f"p99 latency and CPU vs readings/s ({cfg['rates_clients']:,} clients)",
            "kind": "line",
            "xlabel": "readings/s (HTTP, one per request)",
            "ylabel": "p99 ms / % of one core",
            "series": {**rates["p99"], **rates["cpu"]},
        },
        {
            "file": "scale-instances.png",
            "title": f"1, 2, 3 instances ({cfg['inst_rate']:g} readings/s)",
            "kind": "bar",
            "xlabel": "configuration",
            "ylabel": "p99 ms / % of one core (all servers)",
            "series": {"p99 ms": inst["p99"], "servers CPU %": inst["cpu"]},
        },
    ]
    c = cfg["connections"]
    first, last = c[0], c[-1]
    b0 = figs.get(f"connections.{first}.bridge.cpu_us_per_delivery", float("nan"))
    b1 = figs.get(f"connections.{last}.bridge.cpu_us_per_delivery", float("nan"))
    verdicts = [
        f"From {first:,} to {last:,} connections the bridge's p99 went from "
        f"{cell(figs.get(f'connections.{first}.bridge.p99_ms'))} to "
        f"{cell(figs.get(f'connections.{last}.bridge.p99_ms'))} ms and its CPU per delivery from "
        f"{cell(b0)} to {cell(b1)} µs (the raw floor: "
        f"{cell(figs.get(f'connections.{first}.raw_websockets.cpu_us_per_delivery'))} to "
        f"{cell(figs.get(f'connections.{last}.raw_websockets.cpu_us_per_delivery'))} µs).",
    ]
    rs = cfg["rates"]
    verdicts.append(
        f"From {rs[0]:g} to {rs[-1]:g} readings/s the p99 went from "
        f"{cell(figs.get(f'rates.{rs[0]:g}.bridge.p99_ms'))} to "
        f"{cell(figs.get(f'rates.{rs[-1]:g}.bridge.p99_ms'))} ms, CPU from "
        f"{cell(figs.get(f'rates.{rs[0]:g}.bridge.server_cpu_pct'), 0)} to "
        f"{cell(figs.get(f'rates.{rs[-1]:g}.bridge.server_cpu_pct'), 0)} % of a core."
    )
    return {
        "name": "scale",
        "title": "Scale curve: connections, readings/s, instances",
        "tables": [
            table(
                f"Connections ({cfg['connections_rate']:g} readings/s over "
                f"{cfg['farms']} farms; x = connections)",
                COLUMNS,
                conn_rows,
            ),
            table(
                f"Readings/s ({cfg['rates_clients']:,} clients; x = readings/s)", COLUMNS, rate_rows
            ),
            table(
                f"Instances ({cfg['inst_rate']:g} readings/s, {cfg['inst_farms']} farms, "
                "clients and devices spread over the instances; servers share CPU 0)",
                [
                    "instances",
                    "connected",
                    "readings/s",
                    "deliveries/s",
                    "p50 ms",
                    "p99 ms",
                    "remote p99 ms",
                    "lost",
                    "bridges CPU %",
                    "all servers CPU %",
                    "CPU µs/reading",
                ],
                inst_rows,
            ),
        ],
        "plots": plots,
        "figures": figures(figs),
        "verdicts": verdicts,
        "commands": [
            "PYTHONPATH=src:. .venv/bin/python -m bench.suite --only scale",
            "PYTHONPATH=src:. .venv/bin/python -m bench.fanout --clients 10000 --farms 100 "
            "--rate 200",
            "PYTHONPATH=src:. .venv/bin/python bench/instances.py --configs sqlite1,pg1,pg2,pg3",
        ],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ci", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    res = run("ci" if args.ci else "full")
    print(text_tables(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
