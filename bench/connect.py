"""Connection success: WebSocket connection attempts in bursts, under ingest load.

Devices report to F farms all along (bench/workload.py). The attempts come in bursts
(B opened at once); each opens /ws, authenticates, subscribes to a farm and waits for
`subscribed` (the snapshot), then stays open until its whole burst is done, and the burst
is closed before the next one. An attempt succeeds when `subscribed` comes within
ATTEMPT_TIMEOUT_S. Connect-to-subscribed is from the call to open the socket to the
`subscribed` frame, so a burst's queueing (in the bridge and in this one-core Python
load generator) is in it.

    python -m bench.connect          # 10,000 attempts in bursts of 500
    python -m bench.connect --ci     # 300 in bursts of 100
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench.harness import Admin, Bridge, percentile, process_meter
from bench.result import cell, main, result, table
from bench.workload import BRIDGE_ENV, SERVER_CPU, DeviceLoad, make_farms, raise_nofile

ATTEMPT_TIMEOUT_S: Final = 30.0
TARGET: Final = 0.99


@dataclass(frozen=True)
class Size:
    attempts: int
    burst: int
    farms: int
    interval_s: float
    """Each of the farms' 2 nodes of 5 sensors reports this often."""


SIZES: Final = {"full": Size(10_000, 500, 20, 0.5), "ci": Size(300, 100, 5, 0.5)}


async def _expect(ws: ClientConnection, kind: str) -> None:
    while True:
        data = orjson.loads(await ws.recv())
        for m in data if isinstance(data, list) else (data,):
            if m["type"] == kind:
                return
            if m["type"] == "error":
                raise RuntimeError(str(m.get("code")))


async def attempt(url: str, token: str, farm: int) -> tuple[float, float, ClientConnection | str]:
    """(ms to the open socket, ms to `subscribed`, the socket) or the failure's name."""
    t0 = time.monotonic()
    opened = float("nan")
    ws: ClientConnection | None = None
    try:
        async with asyncio.timeout(ATTEMPT_TIMEOUT_S):
            ws = await connect(url, ping_interval=None, open_timeout=None)
            opened = 1000 * (time.monotonic() - t0)
            await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
            await _expect(ws, "authenticated")
            await ws.send(orjson.dumps({"type": "subscribe", "farm": farm}).decode())
            await _expect(ws, "subscribed")
    except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, RuntimeError) as exc:
        if ws is not None:
            ws.transport.abort()
        code = f" {exc}" if isinstance(exc, RuntimeError) else ""
        return opened, float("nan"), type(exc).__name__ + code
    return opened, 1000 * (time.monotonic() - t0), ws


async def _run(size: Size) -> dict[str, Any]:
    with Bridge(env=BRIDGE_ENV, cpu=SERVER_CPU) as bridge:
        assert bridge.proc is not None
        admin = Admin(bridge.url)
        farms = make_farms(admin, farms=size.farms, devices=2, sensors=5, prefix="conn")
        token = admin.token
        admin.close()
        url = bridge.url.replace("http", "ws") + "/ws"
        devices = [d for f in farms for d in f.devices]
        opened: list[float] = []
        subscribed: list[float] = []
        bursts: list[list[float]] = []
        failures: Counter[str] = Counter()
        load = DeviceLoad(bridge.url, devices, interval_s=size.interval_s).start()
        try:
            await asyncio.sleep(1.0)
            with process_meter(bridge.proc.pid) as cpu:
                t0 = time.monotonic()
                wall0 = time.time() * 1000
                done = 0
                while done < size.attempts:
                    n = min(size.burst, size.attempts - done)
                    outcomes = await asyncio.gather(
                        *(attempt(url, token, farms[(done + i) % len(farms)].id) for i in range(n))
                    )
                    done += n
                    times = []
                    for o, s, ws in outcomes:
                        if isinstance(ws, str):
                            failures[ws] += 1
                            continue
                        opened.append(o)
                        subscribed.append(s)
                        times.append(s)
                    bursts.append(sorted(times))
                    await asyncio.gather(
                        *(ws.close() for _, _, ws in outcomes if not isinstance(ws, str)),
                        return_exceptions=True,
                    )
                took_s = time.monotonic() - t0
                wall1 = time.time() * 1000
        finally:
            acked = load.stop()["acked"]
    return {
        "opened": sorted(opened),
        "subscribed": sorted(subscribed),
        "bursts": bursts,
        "failures": failures,
        "took_s": took_s,
        "cpu_pct": cpu["cpu_pct"],
        "readings_per_s": sum(len(devices[i].sensors) for i, ts, *_ in acked if wall0 <= ts < wall1)
        / took_s,
    }


def run(size: str) -> dict[str, Any]:
    """Measures ("ci" or "full") and returns the suite's result dict."""
    raise_nofile()
    sz = SIZES[size]
    r = asyncio.run(_run(sz))
    sub, opened = r["subscribed"], r["opened"]
    ok = len(sub)
    rate = ok / sz.attempts
    figures = {
        "success_pct": 100 * rate,
        "subscribed_p50_ms": percentile(sub, 0.5),
        "subscribed_p90_ms": percentile(sub, 0.9),
        "subscribed_p99_ms": percentile(sub, 0.99),
        "subscribed_max_ms": sub[-1] if sub else float("nan"),
        "open_p50_ms": percentile(opened, 0.5),
        "open_p99_ms": percentile(opened, 0.99),
        "attempts_per_s": sz.attempts / r["took_s"],
        "server_cpu_pct": r["cpu_pct"],
        "ingest_readings_per_s": r["readings_per_s"],
    }
    failures = ", ".join(f"{k}: {v}" for k, v in r["failures"].most_common()) or "none"
    rows = [
        [
            f"{sz.attempts:,}",
            f"{sz.burst}",
            cell(r["readings_per_s"], 0),
            f"{ok:,} ({100 * rate:.2f} %)",
            cell(figures["open_p50_ms"], 0),
            cell(figures["subscribed_p50_ms"], 0),
            cell(figures["subscribed_p90_ms"], 0),
            cell(figures["subscribed_p99_ms"], 0),
            cell(figures["subscribed_max_ms"], 0),
            cell(r["cpu_pct"], 0),
            failures,
        ]
    ]
    verdicts = [
        f"connection success 99 %+ {'holds' if rate >= TARGET else 'does NOT hold'}: "
        f"{ok:,} of {sz.attempts:,} attempts subscribed ({100 * rate:.2f} %) in bursts of "
        f"{sz.burst} under {r['readings_per_s']:,.0f} readings/s of ingest; "
        f"connect-to-subscribed p50 {figures['subscribed_p50_ms']:.0f} ms, "
        f"p99 {figures['subscribed_p99_ms']:.0f} ms (failures: {failures})"
    ]
    per_burst = [[float(i + 1), percentile(b, 0.99)] for i, b in enumerate(r["bursts"]) if b]
    return result(
        "connect",
        "Connection success",
        tables=[
            table(
                "WebSocket connect, authenticate, subscribe",
                [
                    "attempts",
                    "burst",
                    "ingest readings/s",
                    "subscribed",
                    "open p50 ms",
                    "subscribed p50 ms",
                    "p90 ms",
                    "p99 ms",
                    "max ms",
                    "bridge CPU %",
                    "failures",
                ],
                rows,
            )
        ],
        plots=[
            {
                "file": "connect-hist.png",
                "title": "Connect to subscribed",
                "kind": "hist",
                "xlabel": "ms",
                "ylabel": "attempts",
                "series": {"connect to subscribed": sub},
            },
            {
                "file": "connect-bursts.png",
                "title": "p99 connect to subscribed per burst",
                "kind": "line",
                "xlabel": "burst",
                "ylabel": "ms",
                "series": {"p99": per_burst},
            },
        ],
        figures=figures,
        verdicts=verdicts,
        commands=["python -m bench.connect", "python -m bench.connect --ci"],
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main(run, __doc__ or "")
