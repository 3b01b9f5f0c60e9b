"""Retention benchmark: what the sweeper costs ingest, and how long its batches hold the writer.

Not a test: it prints figures. In one process, on a throw-away SQLite file
(synchronous=FULL, the default), it ingests `--batches` batches of `--batch-size`
readings from `--concurrency` concurrent writers over `--sensors` sensors, twice: alone,
then with a retention sweep running back to back beside it (rolling up what was just
written and deleting, in batches of `--purge-rows`, a backlog of old readings written
first). It prints readings/s and ack latency p50/p99/max for both, and the time of each
roll-up and delete batch.

Usage (from the project root)::

    .venv/bin/python bench/retention.py
    .venv/bin/python bench/retention.py --batches 2000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from farmbridge.domain import DeviceKind, IngestBatch, ReadingIn
from farmbridge.domain.clock import SYSTEM_CLOCK
from farmbridge.domain.retention import DAY_MS, History
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.store.sql import SqlStore


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _setup(store: SqlStore, sensors: int) -> tuple[int, int, list[int]]:
    farm = await store.create_farm("bench", "Bench")
    specs = [SensorSpec(f"s{i}", "C") for i in range(sensors)]
    dev = await store.create_device(farm.id, "n", DeviceKind.SENSOR_NODE, "N", "h", specs)
    return farm.id, dev.id, [s.id for s in await store.list_sensors(device_id=dev.id)]


async def _ingest(
    store: SqlStore, ids: tuple[int, int, list[int]], args: argparse.Namespace, start_ms: int
) -> tuple[float, list[float]]:
    farm_id, dev_id, sensor_ids = ids
    latencies: list[float] = []
    per_worker = args.batches // args.concurrency

    async def worker(w: int) -> None:
        for i in range(per_worker):
            ts = start_ms + (w * per_worker + i) * 10
            readings = tuple(
                ReadingIn(sensor_ids[k % len(sensor_ids)], float(k), ts)
                for k in range(args.batch_size)
            )
            t = time.perf_counter()
            await store.ingest(IngestBatch(dev_id, farm_id, ts, readings=readings))
            latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(args.concurrency)))
    return time.perf_counter() - t0, latencies


async def _sweep_loop(
    store: SqlStore, farm_id: int, cutoff_ms: int, args: argparse.Namespace, stop: asyncio.Event
) -> tuple[list[float], list[float]]:
    rolls: list[float] = []
    purges: list[float] = []
    while not stop.is_set():
        t = time.perf_counter()
        added = await store.roll_up(farm_id)
        if added:
            rolls.append(time.perf_counter() - t)
        t = time.perf_counter()
        gone = await store.purge(History.READINGS, farm_id, cutoff_ms, args.purge_rows)
        if gone:
            purges.append(time.perf_counter() - t)
        if not added and not gone:
            await asyncio.sleep(0.01)
    return rolls, purges


def _line(name: str, elapsed: float, lat: list[float], n: int) -> str:
    return (
        f"{name:>16}: {n / elapsed:9.0f} readings/s, ack p50 {_pct(lat, 0.5) * 1000:6.2f} ms,"
        f" p99 {_pct(lat, 0.99) * 1000:6.2f} ms, max {max(lat) * 1000:6.2f} ms"
    )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlStore(f"sqlite:///{Path(tmp) / 'bench.db'}", clock=SYSTEM_CLOCK)
        await store.start()
        try:
            ids = await _setup(store, args.sensors)
            now = SYSTEM_CLOCK.wall_ms()
            old = now - 40 * DAY_MS
            # A backlog: old readings, rolled up, waiting to be deleted.
            await _ingest(store, ids, args, old)
            while await store.roll_up(ids[0]):
                pass
            n = args.batches // args.concurrency * args.concurrency * args.batch_size
            alone, lat_alone = await _ingest(store, ids, args, now - DAY_MS)
            stop = asyncio.Event()
            sweeper = asyncio.create_task(_sweep_loop(store, ids[0], now - 30 * DAY_MS, args, stop))
            beside, lat_beside = await _ingest(store, ids, args, now)
            stop.set()
            rolls, purges = await sweeper
        finally:
            await store.close()
    print(_line("ingest alone", alone, lat_alone, n))
    print(_line("with sweeper", beside, lat_beside, n))
    for name, times in (("roll-up batch", rolls), ("delete batch", purges)):
        if times:
            print(
                f"{name:>16}: {len(times)} batches, median {statistics.median(times) * 1000:.1f}"
                f" ms, max {max(times) * 1000:.1f} ms"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=1_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sensors", type=int, default=50)
    parser.add_argument("--purge-rows", type=int, default=5_000)
    asyncio.run(main(parser.parse_args()))
