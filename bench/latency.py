"""Latency device -> bridge -> client, over HTTP and MQTT ingest, at light, typical, heavy load.

A suite module (bench/suite.py): `run(size)` returns the contract's dict. Per load, in one
run and with the same clients: the bridge fed by devices over HTTP (bench/fanout.py: one
reading per request, each device on its own keep-alive connection, devices of 100 farms),
the raw `websockets` and `picows` broadcast floors, and the ingest load alone against a
minimal FastAPI + SQLite insert endpoint (bench/sqlite_floor.py, the floor of durable
ingest); then MQTT (bench/mqtt.py: device publishes -> Mosquitto -> bridge -> a client,
with the broker's own delivery as its floor). At the typical load also batches of 10 and a
new connection per request. Latency is from the device's send to the client's receipt on
one clock; lost readings are counted after a drain.

    PYTHONPATH=src:. .venv/bin/python -m bench.suite --only latency
    PYTHONPATH=src:. .venv/bin/python -m bench.latency [--ci]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from bench import fanout, mqtt
from bench.harness import free_port, percentile
from bench.report import cell, figures, progress, ratio, table, text_tables

FULL = {
    "loads": [("light", 100.0), ("typical", 1_000.0), ("heavy", 5_000.0)],
    "clients": 1_000,
    "farms": 100,
    "seconds": 8.0,
    "warmup": 2.0,
    "procs": 4,
    "mqtt_devices": 20,
    "variants": True,
}
CI = {
    "loads": [("light", 20.0)],
    "clients": 20,
    "farms": 2,
    "seconds": 1.0,
    "warmup": 0.5,
    "procs": 1,
    "mqtt_devices": 2,
    "variants": False,
}
FLOORS = fanout.FLOORS
P99_GOAL_MS = 100.0


@contextlib.contextmanager
def sqlite_floor() -> Any:
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="fb-floor-"))
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("sqlite_floor.py")),
            "--port",
            str(port),
            "--db",
            str(tmp / "floor.db"),
        ]
    )
    with contextlib.suppress(OSError):
        os.sched_setaffinity(proc.pid, {fanout.SERVER_CPU})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def _floor_devices(load: fanout.Load) -> list[tuple[str, int]]:
    per_farm = max(1, min(10, int(load.rate / load.farms / load.per_request)))
    return [(f"k{f}-{d}", f) for d in range(per_farm) for f in range(load.farms)]


def _over_time(pairs: list[tuple[float, float]], bucket_s: float = 0.5) -> list[list[float]]:
    buckets: dict[int, list[float]] = {}
    for w, v in pairs:
        buckets.setdefault(int(w // bucket_s), []).append(v)
    return [
        [round((b + 0.5) * bucket_s, 3), round(percentile(sorted(vs), 0.99), 2)]
        for b, vs in sorted(buckets.items())
    ]


def _sample(values: list[float], n: int = 1000) -> list[float]:
    step = max(1, len(values) // n)
    return [round(v, 2) for v in values[::step]]


def run(size: str) -> dict[str, Any]:
    cfg = CI if size == "ci" else FULL
    rows_http: list[list[Any]] = []
    rows_ack: list[list[Any]] = []
    rows_mqtt: list[list[Any]] = []
    rows_var: list[list[Any]] = []
    figs: dict[str, float | int | None] = {}
    plots: list[dict[str, Any]] = []
    verdicts: list[str] = []
    by_load: dict[str, dict[str, Any]] = {}

    for name, rate in cfg["loads"]:
        load = fanout.Load(
            cfg["clients"], cfg["farms"], rate, cfg["seconds"], cfg["warmup"], cfg["procs"], 1
        )
        progress(f"latency {name}: the bridge, {rate:g} readings/s over HTTP")
        runs = {"bridge": fanout.run_bridge(load)}
        for floor in FLOORS:
            progress(f"latency {name}: the {floor} floor")
            runs[floor] = fanout.run_raw(load, floor)
        progress(f"latency {name}: the FastAPI + SQLite ingest floor")
        with sqlite_floor() as (url, pid):
            ingest_floor = fanout.run_ingest(url, _floor_devices(load), load, pid)
        by_load[name] = runs
        for label, r in runs.items():
            key = "http" if label == "bridge" else label.replace(" ", "_")
            rows_http.append(
                [
                    name,
                    "bridge (HTTP ingest)" if label == "bridge" else f"{label} (floor)",
                    cell(rate, 0),
                    f"{r['connected']}/{r['clients']}",
                    cell(r["deliveries_s"], 0),
                    cell(r["p50"]),
                    cell(r["p90"]),
                    cell(r["p99"]),
                    cell(r["max"]),
                    r["lost"],
                    r["dups"],
                    cell(r["server_cpu_pct"], 0),
                    cell(r["clients_cpu_pct"], 0),
                    cell(r["ingest_cpu_pct"], 0),
                ]
            )
            for q in ("p50", "p90", "p99", "max"):
                figs[f"{key}.{name}.{q}_ms"] = r[q]
            figs[f"{key}.{name}.deliveries_s"] = r["deliveries_s"]
            figs[f"{key}.{name}.server_cpu_pct"] = r["server_cpu_pct"]
            figs[f"{key}.{name}.lost"] = r["lost"]
            figs[f"{key}.{name}.dups"] = r["dups"]
        b = runs["bridge"]
        figs[f"http.{name}.from_stored.p99_ms"] = b["stored"]["p99"]
        figs[f"http.{name}.ingest_failed"] = b["ingest"]["failed"]
        figs[f"http.{name}.generator_cpu_pct"] = b["ingest_cpu_pct"]
        figs[f"http.{name}.ack.p50_ms"] = b["ack"]["p50"]
        figs[f"http.{name}.ack.p99_ms"] = b["ack"]["p99"]
        for floor in FLOORS:
            k = floor.replace(" ", "_")
            figs[f"http.{name}.p99_vs_{k}"] = ratio(b["p99"], runs[floor]["p99"])
            figs[f"http.{name}.cpu_us_per_delivery_vs_{k}"] = ratio(
                fanout.us_per_delivery(b), fanout.us_per_delivery(runs[floor])
            )
        figs[f"sqlite_floor.{name}.ack.p99_ms"] = ingest_floor["ack"]["p99"]
        figs[f"sqlite_floor.{name}.server_cpu_pct"] = ingest_floor["server_cpu_pct"]
        figs[f"http.{name}.ack_p99_vs_sqlite_floor"] = ratio(
            b["ack"]["p99"], ingest_floor["ack"]["p99"]
        )
        for label, a, ing, cpu in (
            ("bridge (with fan-out)", b["ack"], b["ingest"], b["server_cpu_pct"]),
            (
                "FastAPI + SQLite (floor)",
                ingest_floor["ack"],
                ingest_floor["ingest"],
                ingest_floor["server_cpu_pct"],
            ),
        ):
            rows_ack.append(
                [
                    name,
                    label,
                    cell(rate, 0),
                    ing["ok"],
                    ing["failed"],
                    cell(a["p50"]),
                    cell(a["p99"]),
                    cell(a["max"]),
                    cell(cpu, 0),
                ]
            )
        plots.append(
            {
                "file": f"latency-{name}-time.png",
                "title": f"Latency over time, {name} load ({rate:g} readings/s, "
                f"{cfg['clients']} clients, {cfg['farms']} farms)",
                "kind": "line",
                "xlabel": "s into the measured window (by send time)",
                "ylabel": "ms, send to receipt",
                "series": {
                    "bridge p50": list(
                        zip(b["over_time"]["t_s"], b["over_time"]["p50"], strict=True)
                    ),
                    "bridge p99": list(
                        zip(b["over_time"]["t_s"], b["over_time"]["p99"], strict=True)
                    ),
                    **{
                        f"{floor} p99": list(
                            zip(
                                runs[floor]["over_time"]["t_s"],
                                runs[floor]["over_time"]["p99"],
                                strict=True,
                            )
                        )
                        for floor in FLOORS
                    },
                },
            }
        )
        plots.append(
            {
                "file": f"latency-{name}-hist.png",
                "title": f"Latency histogram, {name} load ({rate:g} readings/s)",
                "kind": "hist",
                "xlabel": "ms, send to receipt",
                "ylabel": "deliveries (sampled)",
                "series": {"bridge (HTTP)": b["hist"], **{f: runs[f]["hist"] for f in FLOORS}},
            }
        )

    # MQTT at the same loads, one farm (the broker's own delivery is the floor).
    progress("latency: MQTT")
    mq = mqtt.measure([rate for _, rate in cfg["loads"]], cfg["seconds"], cfg["mqtt_devices"])
    for (name, rate), r in zip(cfg["loads"], mq, strict=True):
        for path in ("bridge", "broker"):
            x = r[path]
            rows_mqtt.append(
                [
                    name,
                    "bridge (MQTT ingest -> WebSocket)"
                    if path == "bridge"
                    else "broker -> MQTT (floor)",
                    cell(rate, 0),
                    cell(x["delivered_s"], 0),
                    cell(x["p50"]),
                    cell(x["p90"]),
                    cell(x["p99"]),
                    cell(x["max"]),
                    x["lost"],
                    cell(r[f"{path}_cpu_pct"], 0),
                ]
            )
            k = "mqtt" if path == "bridge" else "mqtt_broker"
            for q in ("p50", "p90", "p99", "max"):
                figs[f"{k}.{name}.{q}_ms"] = x[q]
            figs[f"{k}.{name}.lost"] = x["lost"]
        # A message the broker never delivered to its own subscriber either was not lost
        # by the bridge (the publisher's or the broker's).
        figs[f"mqtt.{name}.lost_after_broker"] = max(0, r["bridge"]["lost"] - r["broker"]["lost"])
        figs[f"mqtt.{name}.bridge_cpu_pct"] = r["bridge_cpu_pct"]
        figs[f"mqtt.{name}.p99_vs_broker"] = ratio(r["bridge"]["p99"], r["broker"]["p99"])
        # The MQTT run's latency over time joins the HTTP plot of the same load.
        for p in plots:
            if p["file"] == f"latency-{name}-time.png":
                p["series"]["MQTT bridge p99"] = _over_time(r["bridge"]["when"])
            if p["file"] == f"latency-{name}-hist.png":
                p["series"]["bridge (MQTT)"] = _sample(r["bridge"]["lat"])

    if cfg["variants"]:
        name, rate = cfg["loads"][1]
        base = fanout.Load(
            cfg["clients"], cfg["farms"], rate, cfg["seconds"], cfg["warmup"], cfg["procs"], 1
        )
        for label, key, load in (
            ("batches of 10, keep-alive", "batch10", replace(base, per_request=10)),
            (
                "single readings, a new connection per request",
                "close",
                replace(base, connection="close"),
            ),
        ):
            progress(f"latency {name}: {label}")
            r = fanout.run_bridge(load)
            rows_var.append(
                [
                    label,
                    cell(rate, 0),
                    cell(r["p50"]),
                    cell(r["p99"]),
                    cell(r["ack"]["p99"]),
                    r["lost"],
                    cell(r["bytes_per_reading"]),
                    cell(r["server_cpu_pct"], 0),
                ]
            )
            figs[f"http.{name}.{key}.p99_ms"] = r["p99"]
            figs[f"http.{name}.{key}.ack.p99_ms"] = r["ack"]["p99"]
            figs[f"http.{name}.{key}.server_cpu_pct"] = r["server_cpu_pct"]

    # Verdicts.
    def holds(prefix: str) -> str:
        parts = []
        for name, _ in cfg["loads"]:
            v = figs.get(f"{prefix}.{name}.p99_ms")
            ok = v is not None and v < P99_GOAL_MS
            parts.append(f"{name} {cell(v)} ms ({'holds' if ok else 'does not hold'})")
        return ", ".join(parts)

    verdicts.append(f"Delivery p99 under {P99_GOAL_MS:g} ms over HTTP ingest: {holds('http')}.")
    verdicts.append(f"Delivery p99 under {P99_GOAL_MS:g} ms over MQTT ingest: {holds('mqtt')}.")
    lost = sum(
        int(v or 0)
        for k, v in figs.items()
        if (k.startswith("http.") and k.endswith(".lost")) or k.endswith(".lost_after_broker")
    )
    verdicts.append(
        "No reading lost through the bridge (counted after a drain)."
        if lost == 0
        else f"{lost} readings lost through the bridge over all loads (counted after a drain)."
    )
    tables = [
        table(
            f"Device (HTTP) -> bridge -> {cfg['clients']} clients of {cfg['farms']} farms, "
            f"{cfg['seconds']:g} s measured per load; latency ms from the device's send",
            [
                "load",
                "server",
                "readings/s",
                "connected",
                "deliveries/s",
                "p50",
                "p90",
                "p99",
                "max",
                "lost",
                "dups",
                "server CPU %",
                "clients CPU %",
                "devices CPU %",
            ],
            rows_http,
        ),
        table(
            "Ingest acks (ms, from send to the 200), the bridge beside the FastAPI + SQLite floor",
            [
                "load",
                "server",
                "readings/s",
                "acked",
                "failed",
                "p50",
                "p99",
                "max",
                "server CPU %",
            ],
            rows_ack,
        ),
        table(
            f"Device (MQTT, QoS 1, {cfg['mqtt_devices']} devices, one farm) -> Mosquitto -> "
            "bridge -> one client; latency ms from publish",
            ["load", "path", "msgs/s", "delivered/s", "p50", "p90", "p99", "max", "lost", "CPU %"],
            rows_mqtt,
        ),
    ]
    if rows_var:
        tables.append(
            table(
                "The typical load driven otherwise (HTTP)",
                [
                    "ingest",
                    "readings/s",
                    "p50",
                    "p99",
                    "ack p99",
                    "lost",
                    "bytes/reading",
                    "server CPU %",
                ],
                rows_var,
            )
        )
    return {
        "name": "latency",
        "title": "Delivery latency: device -> bridge -> client",
        "tables": tables,
        "plots": plots,
        "figures": figures(figs),
        "verdicts": verdicts,
        "commands": [
            "PYTHONPATH=src:. .venv/bin/python -m bench.suite --only latency",
            "PYTHONPATH=src:. .venv/bin/python -m bench.fanout --clients 1000 --farms 100"
            " --rate 1000",
            "PYTHONPATH=src:. .venv/bin/python -m bench.mqtt --rates 100,1000,5000",
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
