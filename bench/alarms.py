"""Alarm rules benchmark: ingest throughput and ingest-to-subscriber p99 with 0, 100 and
1,000 rules on a farm, side by side in one run.

Not a test: it prints figures and judges them against the issue's goal (rules cost at most
10 % of throughput at 1,000 rules); it never fails a build.

It runs the bridge's own services in this process (the SQL store on a throw-away SQLite
file, synchronous=FULL as the bridge's default, the group-commit writer, the hub) with no
HTTP in front: what it measures is the part alarm rules can slow down, the write path
where they are evaluated and the fan-out that carries their changes. One farm has
``--devices`` devices of four sensors each; the rules are what a farm would have: most
watch one sensor (above/below, with a duration), some every sensor of a name, some every
device (no_data, offline, command_failed). ``--producers`` tasks each send batches of
``--batch`` readings, in a steady range that raises nothing (steady state: the rules are
looked at, no transition is written), for ``--seconds`` per configuration; the
configurations run interleaved ``--repeat`` times and the summary quotes medians.
Latency is from the `ingest` call to the moment the hub hands the batch holding that
reading to a subscriber's sink (one subscription to every topic), per reading.

Usage (from the project root)::

    .venv/bin/python -m bench.alarms                 # 0, 100, 1000 rules, 5 s each, twice
    .venv/bin/python -m bench.alarms --quick         # 1 s each, once: does it run?
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from farmbridge.app import build_services
from farmbridge.config import Settings
from farmbridge.domain import DeviceKind, RuleKind, RuleSpec, Severity
from farmbridge.domain.reports import DeviceReport, ReportedReading
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.hub.channel import Part, Subscription
from farmbridge.protocol.const import ALL_TOPICS, Mode
from farmbridge.service.access import Principal

GOAL_MAX_COST = 0.10
SENSORS = ("temp", "hum", "soil", "light")
SECRET = "bench-secret-" + "k" * 40


class Sink:
    """A subscriber's queue that only notes when each change reached it."""

    def __init__(self, delivered_at: dict[int, float]) -> None:
        self._at = delivered_at

    def deliver(self, sub: Subscription, parts: Sequence[Part]) -> None:
        now = time.perf_counter()
        for _, changes in parts:
            for ch in changes:
                self._at[ch.seq] = now


def rules_for(n: int, sensors: list[Any], devices: list[Any]) -> list[RuleSpec]:
    rng = random.Random(n)
    out: list[RuleSpec] = []
    for i in range(n):
        pick = i % 20
        if pick < 17:  # one sensor, above or below with a duration
            s = rng.choice(sensors)
            kind = RuleKind.ABOVE if i % 2 else RuleKind.BELOW
            out.append(
                RuleSpec(
                    f"r{i}", kind, Severity.WARNING, for_ms=60_000, sensor_id=s.id,
                    threshold=1e6 if kind is RuleKind.ABOVE else -1e6,
                )
            )  # fmt: skip
        elif pick < 18:  # every sensor of a name
            out.append(
                RuleSpec(f"r{i}", RuleKind.ABOVE, Severity.CRITICAL,
                         sensor_name=rng.choice(SENSORS), threshold=1e6)
            )  # fmt: skip
        else:  # a device rule
            kind = (RuleKind.NO_DATA, RuleKind.OFFLINE, RuleKind.COMMAND_FAILED)[i % 3]
            dev = rng.choice(devices).id if i % 2 else None
            for_ms = 0 if kind is RuleKind.COMMAND_FAILED else 3_600_000
            out.append(RuleSpec(f"r{i}", kind, Severity.WARNING, for_ms=for_ms, device_id=dev))
    return out


async def run_one(n_rules: int, args: argparse.Namespace, root: Path) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(dir=root))
    svc = build_services(Settings(data_dir=data, secret_key=SECRET))
    await svc.store.start()
    try:
        admin = Principal(await svc.store.create_user("admin", "x", is_admin=True))
        farm = await svc.store.create_farm("bench", "")
        keys: list[str] = []
        for d in range(args.devices):
            _, key = await svc.farms.register_device(
                farm.id, f"d{d}", DeviceKind.SENSOR_NODE, "", [SensorSpec(s) for s in SENSORS]
            )
            keys.append(key)
        devices = await svc.store.list_devices(farm.id)
        sensors = await svc.store.list_sensors(farm_id=farm.id)
        for spec in rules_for(n_rules, sensors, devices):
            await svc.alarms.create_rule(admin, farm.id, spec)
        delivered_at: dict[int, float] = {}
        sent: list[tuple[int, float]] = []
        await svc.stream.subscribe(
            admin, Sink(delivered_at), farm.id, topics=ALL_TOPICS, mode=Mode.ALL,
            since=None, epoch=None,
        )  # fmt: skip
        entries = [await svc.ingest.authenticate(k) for k in keys]
        count = 0
        # A warm-up, not counted: the first reports load the writer's rule cache and
        # look up each sensor once.
        measure = time.perf_counter() + args.warmup
        stop = measure + args.seconds

        async def producer(p: int) -> None:
            nonlocal count
            rng = random.Random(p)
            entry = entries[p % len(entries)]
            while time.perf_counter() < stop:
                now = int(time.time() * 1000)
                report = DeviceReport(
                    readings=[
                        ReportedReading(SENSORS[i % 4], rng.uniform(10, 30), now)
                        for i in range(args.batch)
                    ]
                )
                t = time.perf_counter()
                res = await svc.ingest.ingest(entry, report)
                if t < measure:
                    continue
                if res.last_seq is not None:
                    sent.append((res.last_seq, t))
                count += res.accepted

        await asyncio.gather(*(producer(p) for p in range(args.producers)))
        elapsed = time.perf_counter() - measure
        await asyncio.sleep(0.05)  # the last flush
        lat = sorted((delivered_at[q] - t) * 1000 for q, t in sent if q in delivered_at)
        return {
            "readings_s": count / elapsed,
            "p50_ms": lat[len(lat) // 2] if lat else float("nan"),
            "p99_ms": lat[int(len(lat) * 0.99)] if lat else float("nan"),
        }
    finally:
        await svc.store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default="0,100,1000")
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--producers", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.repeat, args.warmup = 1.0, 1, 1.0
    counts = [int(x) for x in args.rules.split(",")]
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            for n in counts:
                res = await run_one(n, args, Path(tmp))
                runs[n].append(res)
                print(f"run {r + 1}: {n:>5} rules  {res['readings_s']:>9,.0f} readings/s  "
                      f"p50 {res['p50_ms']:.2f} ms  p99 {res['p99_ms']:.2f} ms", flush=True)  # fmt: skip
    print(
        f"\nmedians ({args.devices} devices x 4 sensors, {args.producers} producers, "
        f"batches of {args.batch}, {args.seconds:g} s x {args.repeat}):"
    )
    base = statistics.median(x["readings_s"] for x in runs[counts[0]])
    for n in counts:
        rate = statistics.median(x["readings_s"] for x in runs[n])
        p99 = statistics.median(x["p99_ms"] for x in runs[n])
        cost = 1 - rate / base if base else 0.0
        verdict = "" if n == counts[0] else (
            "  ok" if cost <= GOAL_MAX_COST else f"  OVER the {GOAL_MAX_COST:.0%} goal"
        )  # fmt: skip
        print(f"  {n:>5} rules: {rate:>9,.0f} readings/s ({-cost:+.1%})  p99 {p99:.2f} ms{verdict}")


if __name__ == "__main__":
    asyncio.run(main())
