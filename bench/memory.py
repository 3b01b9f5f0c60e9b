"""Server memory per WebSocket connection: idle (authenticated, nothing subscribed) and with
an active subscription, at several connection counts.

For each count N a fresh bridge (100 farms of one 10-sensor node, 20 in the ci size, each
with a reading) takes N connections; its RSS is read before, with N idle authenticated
connections, and after every connection subscribed to a farm (snapshot received) and
one more report per farm delivered to all. Per connection = RSS growth / N. The
heartbeat is set long so the idle connections stay idle (a ping costs nothing lasting).

    python -m bench.memory          # 1,000, 5,000 and 10,000 connections
    python -m bench.memory --ci     # 100 and 300
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Final

import httpx
import orjson
import psutil
from websockets.asyncio.client import ClientConnection, connect

from bench.harness import Admin, Bridge
from bench.result import cell, main, result, table
from bench.workload import BRIDGE_ENV, SERVER_CPU, Farm, make_farms, raise_nofile

FARMS: Final = {"full": 100, "ci": 20}
CONCURRENCY: Final = 100
SETTLE_S: Final = 2.0
STEP_TIMEOUT_S: Final = 60.0
SIZES: Final = {"full": (1_000, 5_000, 10_000), "ci": (100, 300)}


def rss_bytes(pid: int) -> int:
    """The process's RSS with its children's (a bridge is one process today)."""
    proc = psutil.Process(pid)
    return int(
        proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
    )


async def _expect(ws: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(STEP_TIMEOUT_S):
        while True:
            data = orjson.loads(await ws.recv())
            for m in data if isinstance(data, list) else (data,):
                if m["type"] == kind:
                    return dict(m)
                if m["type"] == "error":
                    raise RuntimeError(f"server error: {m}")


async def _report(url: str, farms: list[Farm], value: float) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for f in farms:
            d = f.devices[0]
            body = {"readings": [{"sensor": n, "value": value} for n, _ in d.sensors]}
            r = await http.post(
                "/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {d.key}"}
            )
            r.raise_for_status()


async def _level(n: int, n_farms: int) -> dict[str, float]:
    env = {**BRIDGE_ENV, "FARMBRIDGE_WS_HEARTBEAT_S": "600"}
    with Bridge(env=env, cpu=SERVER_CPU) as bridge:
        assert bridge.proc is not None
        pid = bridge.proc.pid
        admin = Admin(bridge.url)
        farms = make_farms(admin, farms=n_farms, devices=1, sensors=10, prefix="mem")
        token = admin.token
        admin.close()
        await _report(bridge.url, farms, 20.0)
        ws_url = bridge.url.replace("http", "ws") + "/ws"
        gate = asyncio.Semaphore(CONCURRENCY)
        auth = orjson.dumps({"type": "auth", "token": token}).decode()

        async def open_one() -> ClientConnection:
            async with gate:
                ws = await connect(ws_url, ping_interval=None, open_timeout=STEP_TIMEOUT_S)
                await ws.send(auth)
                await _expect(ws, "authenticated")
                return ws

        # A first connection warms what every connection shares (code paths, caches).
        warm = await open_one()
        await warm.close()
        await asyncio.sleep(SETTLE_S)
        rss0 = rss_bytes(pid)
        t0 = time.monotonic()
        conns = await asyncio.gather(*(open_one() for _ in range(n)))
        connect_s = time.monotonic() - t0
        await asyncio.sleep(SETTLE_S)
        rss_idle = rss_bytes(pid)

        async def subscribe(i: int, ws: ClientConnection) -> None:
            async with gate:
                farm = farms[i % n_farms].id
                await ws.send(orjson.dumps({"type": "subscribe", "farm": farm}).decode())
                await _expect(ws, "subscribed")

        await asyncio.gather(*(subscribe(i, ws) for i, ws in enumerate(conns)))
        await _report(bridge.url, farms, 21.0)
        await asyncio.gather(*(_expect(ws, "batch") for ws in conns))
        await asyncio.sleep(SETTLE_S)
        rss_sub = rss_bytes(pid)
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    return {
        "connections": n,
        "rss0_mb": rss0 / 2**20,
        "rss_idle_mb": rss_idle / 2**20,
        "rss_sub_mb": rss_sub / 2**20,
        "idle_kib": (rss_idle - rss0) / n / 1024,
        "sub_kib": (rss_sub - rss_idle) / n / 1024,
        "connect_per_s": n / connect_s,
    }


def run(size: str) -> dict[str, Any]:
    """Measures ("ci" or "full") and returns the suite's result dict."""
    limit = raise_nofile()
    levels = SIZES[size]
    if max(levels) + 1_000 > limit:
        raise RuntimeError(f"RLIMIT_NOFILE {limit} is too low for {max(levels)} connections")
    rows = []
    figures: dict[str, float] = {}
    idle_series: list[list[float]] = []
    sub_series: list[list[float]] = []
    for n in levels:
        r = asyncio.run(_level(n, FARMS[size]))
        rows.append(
            [
                f"{n:,}",
                cell(r["rss0_mb"]),
                cell(r["rss_idle_mb"]),
                cell(r["rss_sub_mb"]),
                cell(r["idle_kib"]),
                cell(r["sub_kib"]),
                cell(r["idle_kib"] + r["sub_kib"]),
                cell(r["connect_per_s"], 0),
            ]
        )
        figures |= {
            f"c{n}.idle_kib_per_connection": r["idle_kib"],
            f"c{n}.subscription_kib": r["sub_kib"],
            f"c{n}.rss_mb": r["rss_sub_mb"],
        }
        idle_series.append([float(n), r["idle_kib"]])
        sub_series.append([float(n), r["idle_kib"] + r["sub_kib"]])
    top = levels[-1]
    verdicts = [
        f"at {top:,} connections the bridge holds {figures[f'c{top}.idle_kib_per_connection']:.1f} "
        f"KiB per idle connection and {figures[f'c{top}.subscription_kib']:.1f} KiB more per "
        f"active subscription ({figures[f'c{top}.rss_mb']:.0f} MB RSS in all)"
    ]
    return result(
        "memory",
        "Memory per connection",
        tables=[
            table(
                f"Bridge RSS; {FARMS[size]} farms of 10 sensors; "
                "each connection subscribed to one farm",
                [
                    "connections",
                    "RSS before MB",
                    "RSS idle MB",
                    "RSS subscribed MB",
                    "KiB per idle connection",
                    "KiB per subscription",
                    "KiB per subscribed connection",
                    "connects/s",
                ],
                rows,
            )
        ],
        plots=[
            {
                "file": "memory-per-connection.png",
                "title": "Bridge memory per connection",
                "kind": "line",
                "xlabel": "connections",
                "ylabel": "KiB per connection",
                "series": {"idle": idle_series, "subscribed": sub_series},
            }
        ],
        figures=figures,
        verdicts=verdicts,
        commands=["python -m bench.memory", "python -m bench.memory --ci"],
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main(run, __doc__ or "")
