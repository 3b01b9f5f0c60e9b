"""Reconnect: the bridge restarted (SIGTERM, then SIGKILL) under N connected clients of the
project's own `farmbridge.client.StreamClient`, with its backoff, while devices go on
reporting.

N clients watch F farms (one 5-sensor node each, reporting every second, retrying a
failed report with the same message id until it is acked, so nothing is lost or doubled
at the source). The bridge gets SIGTERM (it closes the sockets with 1012 and restarts),
later SIGKILL (the sockets just die). For each: the time from the signal until 99 % and
100 % of the clients are back (authenticated again; the client sends its resuming
subscribe at once) and resumed (their first change after that: what they missed is
replayed at once, and a farm gets a new report every second, so this is within about a
second of the resume; it waits for the devices too, if their reports stall). At
the end every client must have yielded each of its farm's changes exactly once, from its
first snapshot to the farm's last seq: lost and duplicated changes are counted per
client (after the client's own de-duplication, which is what an application sees; the
copies it dropped are reported too).

    python -m bench.reconnect        # 2,000 clients
    python -m bench.reconnect --ci   # 100 clients
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from bench.harness import Admin, Bridge
from bench.result import cell, main, result, table
from bench.workload import BRIDGE_ENV, SERVER_CPU, DeviceLoad, make_farms, raise_nofile
from farmbridge.client import (
    Change,
    ConnectionState,
    Resynced,
    Snapshot,
    StateChanged,
    StreamClient,
    stream_url,
)

BACK_TIMEOUT_S: Final = 120.0
CATCH_UP_TIMEOUT_S: Final = 60.0
SETTLE_S: Final = 2.0
START_CHUNK: Final = 200


@dataclass(frozen=True)
class Size:
    clients: int
    farms: int


SIZES: Final = {"full": Size(2_000, 20), "ci": Size(100, 4)}


@dataclass
class Watcher:
    """One StreamClient and what it yielded."""

    farm: int
    client: StreamClient | None = None
    first_seq: int | None = None
    """The seq of its first snapshot: changes after it must all come."""
    seen: bytearray = field(default_factory=bytearray)
    last_seq: int = 0
    yielded: int = 0
    resyncs: int = 0
    restart_at: float | None = None
    back_at: float | None = None
    resumed_at: float | None = None
    snapshot: asyncio.Event = field(default_factory=asyncio.Event)

    def on_state(self, change: StateChanged) -> None:
        if (
            change.state == ConnectionState.CONNECTED
            and self.restart_at is not None
            and self.back_at is None
        ):
            self.back_at = time.monotonic()

    async def consume(self) -> None:
        assert self.client is not None
        async for msg in self.client.messages():
            if isinstance(msg, Snapshot):
                if self.first_seq is None:
                    self.first_seq = msg.seq
                    self.last_seq = msg.seq
                self.snapshot.set()
            elif isinstance(msg, Change) and self.first_seq is not None:
                i = msg.seq - self.first_seq - 1
                if i >= len(self.seen):
                    self.seen.extend(bytes(i + 1 - len(self.seen) + 256))
                self.seen[i] = min(255, self.seen[i] + 1)
                self.yielded += 1
                self.last_seq = max(self.last_seq, msg.seq)
                if self.back_at is not None and self.resumed_at is None:
                    self.resumed_at = time.monotonic()
            elif isinstance(msg, Resynced):
                self.resyncs += 1

    def lost_and_dups(self, final_seq: int) -> tuple[int, int]:
        assert self.first_seq is not None
        span = final_seq - self.first_seq
        seen = self.seen[:span].ljust(span, b"\0")
        return seen.count(0), sum(max(0, c - 1) for c in self.seen)


@dataclass
class Restart:
    how: str
    down_s: float = 0.0
    """Signal to the bridge answering /readyz again."""
    back: list[float] = field(default_factory=list)
    resumed: list[float] = field(default_factory=list)

    def until(self, values: list[float], share: float, clients: int) -> float:
        need = max(1, round(share * clients))
        done = sorted(values)
        return done[need - 1] if len(done) >= need else float("nan")


async def _restart(bridge: Bridge, sig: signal.Signals, watchers: list[Watcher]) -> Restart:
    assert bridge.proc is not None
    out = Restart(sig.name)
    t0 = time.monotonic()
    for w in watchers:
        w.restart_at, w.back_at, w.resumed_at = t0, None, None
    proc = bridge.proc
    proc.send_signal(sig)
    await asyncio.to_thread(proc.wait, 60)
    bridge.proc = None
    bridge.create_admin = False
    await asyncio.to_thread(bridge.start)
    out.down_s = time.monotonic() - t0
    deadline = t0 + BACK_TIMEOUT_S
    while time.monotonic() < deadline and any(w.resumed_at is None for w in watchers):
        await asyncio.sleep(0.05)
    out.back = [w.back_at - t0 for w in watchers if w.back_at is not None]
    out.resumed = [w.resumed_at - t0 for w in watchers if w.resumed_at is not None]
    for w in watchers:
        w.restart_at = None
    return out


async def _run(size: Size) -> dict[str, Any]:
    bridge = Bridge(env=BRIDGE_ENV, cpu=SERVER_CPU)
    bridge.start()
    watchers: list[Watcher] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        admin = Admin(bridge.url)
        farms = make_farms(admin, farms=size.farms, devices=1, sensors=5, prefix="storm")
        token = admin.token
        admin.close()
        url = stream_url(bridge.url)
        for i in range(size.clients):
            w = Watcher(farms[i % size.farms].id)
            w.client = StreamClient(url=url, token=token, on_state=w.on_state)
            w.client.subscribe(w.farm)
            watchers.append(w)
            tasks.append(asyncio.create_task(w.consume()))
            if i % START_CHUNK == START_CHUNK - 1:
                await asyncio.gather(*(w.snapshot.wait() for w in watchers))
        await asyncio.wait_for(
            asyncio.gather(*(w.snapshot.wait() for w in watchers)), BACK_TIMEOUT_S
        )
        devices = [d for f in farms for d in f.devices]
        load = DeviceLoad(bridge.url, devices, interval_s=1.0).start()
        try:
            await asyncio.sleep(SETTLE_S)
            restarts = []
            for sig in (signal.SIGTERM, signal.SIGKILL):
                restarts.append(await _restart(bridge, sig, watchers))
                await asyncio.sleep(SETTLE_S)
        finally:
            stopped = load.stop()
        async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
            http.headers["Authorization"] = f"Bearer {token}"
            final = {
                f.id: (await http.get(f"/api/v1/farms/{f.id}")).json()["last_seq"] for f in farms
            }
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        while time.monotonic() < deadline and any(w.last_seq < final[w.farm] for w in watchers):
            await asyncio.sleep(0.05)
        lost = dups = 0
        for w in watchers:
            lo, du = w.lost_and_dups(final[w.farm])
            lost, dups = lost + lo, dups + du
        dropped = sum(w.client.duplicates_dropped for w in watchers if w.client)
        return {
            "restarts": restarts,
            "lost": lost,
            "dups": dups,
            "dropped": dropped,
            "resyncs": sum(w.resyncs for w in watchers),
            "changes": sum(final[w.farm] - (w.first_seq or 0) for w in watchers),
            "reports": len(stopped["acked"]),
            "failed_reports": stopped["failed_attempts"],
            "reconnects": sum(w.client.reconnects for w in watchers if w.client),
        }
    finally:
        for w in watchers:
            if w.client is not None:
                await w.client.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        bridge.stop()


def run(size: str) -> dict[str, Any]:
    """Measures ("ci" or "full") and returns the suite's result dict."""
    raise_nofile()
    sz = SIZES[size]
    r = asyncio.run(_run(sz))
    n = sz.clients
    rows = []
    figures: dict[str, float] = {}
    plots_series: dict[str, list[list[float]]] = {}
    for rs in r["restarts"]:
        key = rs.how.lower()
        f = {
            f"{key}.down_s": rs.down_s,
            f"{key}.back_99_s": rs.until(rs.back, 0.99, n),
            f"{key}.back_100_s": rs.until(rs.back, 1.0, n),
            f"{key}.resumed_99_s": rs.until(rs.resumed, 0.99, n),
            f"{key}.resumed_100_s": rs.until(rs.resumed, 1.0, n),
            f"{key}.resumed_clients": len(rs.resumed),
        }
        figures |= f
        rows.append(
            [
                rs.how,
                f"{n:,}",
                cell(rs.down_s, 2),
                cell(f[f"{key}.back_99_s"], 2),
                cell(f[f"{key}.back_100_s"], 2),
                cell(f[f"{key}.resumed_99_s"], 2),
                cell(f[f"{key}.resumed_100_s"], 2),
                f"{len(rs.resumed):,}",
            ]
        )
        done = sorted(rs.resumed)
        plots_series[rs.how] = [[t, 100 * (i + 1) / n] for i, t in enumerate(done)]
    figures |= {
        "lost_changes": r["lost"],
        "duplicated_changes": r["dups"],
        "client_dropped_copies": r["dropped"],
        "resyncs": r["resyncs"],
        "changes_checked": r["changes"],
    }
    all_back = all(len(rs.resumed) == n for rs in r["restarts"])
    verdicts = [
        f"after SIGTERM and after SIGKILL {'every' if all_back else 'NOT every'} client of "
        f"{n:,} came back and resumed with farmbridge.client's backoff (from the signal, "
        "99 % / 100 % back, then resumed: "
        + "; ".join(
            f"{rs.how} {rs.until(rs.back, 0.99, n):.1f} / {rs.until(rs.back, 1.0, n):.1f} s, "
            f"{rs.until(rs.resumed, 0.99, n):.1f} / {rs.until(rs.resumed, 1.0, n):.1f} s"
            f" (the bridge answered again after {rs.down_s:.1f} s)"
            for rs in r["restarts"]
        )
        + ")",
        f"lost changes {r['lost']}, duplicated changes {r['dups']} over {r['changes']:,} "
        f"changes checked ({'both 0: holds' if r['lost'] == 0 and r['dups'] == 0 else 'NOT 0'}); "
        f"the clients dropped {r['dropped']:,} copies resent around the restarts; "
        f"{r['resyncs']} resyncs; devices retried {r['failed_reports']} reports",
    ]
    return result(
        "reconnect",
        "Reconnect after a restart",
        tables=[
            table(
                "Bridge restarted under connected clients (times from the signal, s)",
                [
                    "signal",
                    "clients",
                    "bridge back",
                    "99 % back",
                    "100 % back",
                    "99 % resumed",
                    "100 % resumed",
                    "resumed",
                ],
                rows,
            ),
            table(
                "Changes across both restarts",
                ["checked", "lost", "duplicated", "copies the clients dropped", "resyncs"],
                [[f"{r['changes']:,}", r["lost"], r["dups"], f"{r['dropped']:,}", r["resyncs"]]],
            ),
        ],
        plots=[
            {
                "file": "reconnect-resumed.png",
                "title": "Clients resumed after the signal",
                "kind": "line",
                "xlabel": "s after the signal",
                "ylabel": "% of clients",
                "series": plots_series,
            }
        ],
        figures=figures,
        verdicts=verdicts,
        commands=["python -m bench.reconnect", "python -m bench.reconnect --ci"],
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main(run, __doc__ or "")
