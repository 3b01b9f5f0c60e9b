"""Partition benchmark: deleting a day of old readings on PostgreSQL, row by row or whole.

Not a test: it prints figures. It starts a throw-away PostgreSQL server (tests/postgres.py:
Debian's PostgreSQL, fsync off), migrates a database, and stores `--rows` readings of one
farm over `--sensors` sensors on each of two old days (each day its own partition),
marked rolled up. Then it times the retention sweeper's two ways of removing a day: the
batched DELETE (`purge`, `--purge-rows` rows a write job, until the day is gone), and
dropping the day's partition (`drop_partitions`, one write job). It prints both, with
each delete batch's median and longest time (the longest the writer, and ingest behind
it, is held).

Usage (from the project root)::

    .venv/bin/python bench/partitions.py
    .venv/bin/python bench/partitions.py --rows 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from sqlalchemy import Connection, text
from tests.postgres import Postgres

from farmbridge.domain import DeviceKind
from farmbridge.domain.clock import SYSTEM_CLOCK
from farmbridge.domain.retention import History
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.store import partitions
from farmbridge.store.partitions import DAY_MS
from farmbridge.store.sql import SqlStore


async def _fill(store: SqlStore, farm_id: int, sensor_ids: list[int], rows: int) -> int:
    """`rows` readings on each of two days 40 and 39 days back, all rolled up; returns
    the first day's start."""
    day = partitions.day_start(SYSTEM_CLOCK.wall_ms()) - 40 * DAY_MS
    await store.prepare_partitions(day)
    step = DAY_MS // rows
    lo, hi = min(sensor_ids), max(sensor_ids)

    def fill(conn: Connection) -> None:
        # One INSERT ... SELECT a day: the rows as ingest stores them, much faster.
        for d in range(2):
            conn.execute(
                text(
                    "INSERT INTO readings (farm_id, seq, sensor_id, device_id, value, ts_ms, "
                    "received_ms) SELECT :farm, :first + g, :lo + g % (:hi - :lo + 1), 1, "
                    "random(), :start + g * :step, :start + g * :step "
                    "FROM generate_series(0, :n - 1) g"
                ),
                {"farm": farm_id, "first": 1 + d * rows, "lo": lo, "hi": hi}
                | {"start": day + d * DAY_MS, "step": step, "n": rows},
            )
        conn.execute(
            text("UPDATE farms SET last_seq = :s WHERE id = :f"), {"s": 2 * rows, "f": farm_id}
        )
        conn.execute(
            text("INSERT INTO history_marks (farm_id, rolled_seq, purged_seq) VALUES (:f, :s, 0)"),
            {"f": farm_id, "s": 2 * rows},
        )

    await store._db.write(fill)
    await store._db.write(lambda c: c.execute(text("ANALYZE readings")))
    return day


async def main(args: argparse.Namespace) -> None:
    pg = Postgres()
    pg.init()
    pg.start()
    try:
        pg.execute("CREATE DATABASE bench")
        store = SqlStore(pg.url("bench"), clock=SYSTEM_CLOCK)
        await store.start()
        try:
            farm = await store.create_farm("bench", "Bench")
            specs = [SensorSpec(f"s{i}", "C") for i in range(args.sensors)]
            dev = await store.create_device(farm.id, "n", DeviceKind.SENSOR_NODE, "N", "h", specs)
            sensor_ids = [s.id for s in await store.list_sensors(device_id=dev.id)]
            day = await _fill(store, farm.id, sensor_ids, args.rows)
            batches: list[float] = []
            gone = 0
            t0 = time.perf_counter()
            while True:
                t = time.perf_counter()
                n = await store.purge(History.READINGS, farm.id, day + DAY_MS, args.purge_rows)
                if not n:
                    break
                batches.append(time.perf_counter() - t)
                gone += n
            deleted_s = time.perf_counter() - t0
            await store.drop_partitions(day + DAY_MS)  # the first day's, emptied above
            t0 = time.perf_counter()
            dropped = await store.drop_partitions(day + 2 * DAY_MS)
            drop_s = time.perf_counter() - t0
        finally:
            await store.close()
    finally:
        pg.destroy()
    assert gone == args.rows, gone
    assert dropped == [partitions.partition_name(day + DAY_MS)], dropped
    print(
        f"batched DELETE: {gone} rows in {deleted_s:.2f} s ({gone / deleted_s:,.0f} rows/s), "
        f"{len(batches)} batches of {args.purge_rows}, median "
        f"{statistics.median(batches) * 1000:.1f} ms, max {max(batches) * 1000:.1f} ms"
    )
    print(f"DROP partition: {args.rows} rows in {drop_s * 1000:.1f} ms (one write job)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--sensors", type=int, default=50)
    parser.add_argument("--purge-rows", type=int, default=5_000)
    asyncio.run(main(parser.parse_args()))
