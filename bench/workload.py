"""Bench workloads shared by the measures: farms of sensor nodes, and nodes reporting on a clock.

`DeviceLoad` runs the devices in a process of its own (pinned to the load core): each
device POSTs one report of all its sensors every `interval_s`, from a random phase, with
a `message_id`, and retries a report that failed with the same id until it is acked, so
a restart of the bridge loses nothing and duplicates nothing. It returns what was acked:
per report the device's index, the readings' `ts`, the first and last seq and when
the ack came.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import random
import resource
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Final

import aiohttp

from bench.harness import Admin, pin

LOAD_CPU: Final = 1
SERVER_CPU: Final = 0
RETRY_S: Final = 0.2
REPORT_TIMEOUT_S: Final = 3.0
BRIDGE_ENV: Final = {
    "FARMBRIDGE_WS_MAX_CONNECTIONS_PER_USER": "20000",
    "FARMBRIDGE_WS_MAX_CONNECTIONS": "20000",
    "FARMBRIDGE_DEVICE_RATE_PER_S": "100000",
    "FARMBRIDGE_DEVICE_BURST": "100000",
    "FARMBRIDGE_LOGIN_RATE_PER_MIN": "100000",
}
"""Limits out of the way: the bench user holds every connection, devices report fast."""


def raise_nofile() -> int:
    """Raises this process's open-file limit to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass(frozen=True)
class Device:
    id: int
    farm: int
    key: str
    sensors: tuple[tuple[str, int], ...]
    """(name, sensor id) of each of its sensors."""


@dataclass(frozen=True)
class Farm:
    id: int
    devices: tuple[Device, ...]

    @property
    def sensor_ids(self) -> list[int]:
        return [sid for d in self.devices for _, sid in d.sensors]


def make_farms(
    admin: Admin, *, farms: int, devices: int, sensors: int, prefix: str = "bench"
) -> list[Farm]:
    """`farms` farms of `devices` sensor nodes with `sensors` sensors each."""
    out = []
    for f in range(farms):
        farm = admin.post("/api/v1/farms", {"name": f"{prefix}-{f}"})
        devs = []
        for d in range(devices):
            created = admin.post(
                f"/api/v1/farms/{farm['id']}/devices",
                {
                    "name": f"node-{d}",
                    "kind": "sensor_node",
                    "sensors": [{"name": f"s{i}", "unit": "C"} for i in range(sensors)],
                },
            )
            devs.append(
                Device(
                    created["device"]["id"],
                    farm["id"],
                    created["key"],
                    tuple((s["name"], s["id"]) for s in created["sensors"]),
                )
            )
        out.append(Farm(farm["id"], tuple(devs)))
    return out


Acked = tuple[int, int, int, int, int]
"""(device index, ts ms, first seq, last seq, acked at ms) of one acked report."""


class DeviceLoad:
    """Devices reporting every `interval_s` from another process, until `stop()`."""

    def __init__(
        self,
        url: str,
        devices: list[Device],
        *,
        interval_s: float,
        seed: int = 1,
        cpu: int = LOAD_CPU,
    ) -> None:
        self._args = (url, [(d.key, [n for n, _ in d.sensors]) for d in devices], interval_s, seed)
        self._cpu = cpu
        ctx = mp.get_context("fork")
        self._stop = ctx.Event()
        self._parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_load_process, args=(child, self._stop, cpu, self._args))

    def start(self) -> DeviceLoad:
        self._proc.start()
        return self

    def stop(self, timeout_s: float = 60.0) -> dict[str, Any]:
        """Stops reporting (a report in flight is finished or retried until acked) and
        returns {"acked": [Acked, ...], "failed_attempts": n}."""
        self._stop.set()
        try:
            if not self._parent.poll(timeout_s):
                raise RuntimeError("the device load did not finish")
            result: dict[str, Any] = self._parent.recv()
        finally:
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()
        return result

    def __enter__(self) -> DeviceLoad:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._proc.is_alive():
            with contextlib.suppress(RuntimeError):
                self.stop()


def _load_process(conn: Connection, stop: Any, cpu: int, args: tuple[Any, ...]) -> None:
    pin(cpu)
    conn.send(asyncio.run(_load_main(stop, *args)))


async def _load_main(
    stop: Any, url: str, devices: list[tuple[str, list[str]]], interval_s: float, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    run_id = uuid.uuid4().hex[:8]  # message ids unique per load: the bridge drops repeats
    acked: list[Acked] = []
    failed = [0]
    value = [20.0]

    async def report(session: aiohttp.ClientSession, idx: int, n: int) -> None:
        key, names = devices[idx]
        ts = time.time_ns() // 1_000_000
        value[0] = 20.0 if value[0] > 30 else value[0] + 0.01
        body = {
            "message_id": f"{run_id}-d{idx}-{n}",
            "readings": [{"sensor": s, "value": round(value[0], 2), "ts": ts} for s in names],
        }
        headers = {"Authorization": f"Bearer {key}"}
        while True:
            try:
                async with session.post(f"{url}/api/v1/ingest", json=body, headers=headers) as r:
                    answer = await r.json(content_type=None)
                    if r.status == 200:
                        acked.append(
                            (
                                idx,
                                ts,
                                answer["first_seq"],
                                answer["last_seq"],
                                time.time_ns() // 1_000_000,
                            )
                        )
                        return
            except (aiohttp.ClientError, TimeoutError, ValueError):
                pass
            failed[0] += 1
            await asyncio.sleep(RETRY_S)

    async def device(session: aiohttp.ClientSession, idx: int, phase_s: float) -> None:
        start = time.monotonic() + phase_s
        n = 0
        while not stop.is_set():
            due = start + n * interval_s
            while (wait := due - time.monotonic()) > 0 and not stop.is_set():
                await asyncio.sleep(min(wait, 0.05))
            if stop.is_set():
                return
            await report(session, idx, n)
            n += 1

    # Short, so a report stuck on a connection to a bridge that just died is retried soon
    # (a retry repeats the message id: the bridge answers it as a duplicate, stores nothing).
    timeout = aiohttp.ClientTimeout(total=REPORT_TIMEOUT_S, connect=1.0)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=256), timeout=timeout
    ) as session:
        await asyncio.gather(
            *(device(session, i, rng.uniform(0, interval_s)) for i in range(len(devices)))
        )
    return {"acked": acked, "failed_attempts": failed[0]}
