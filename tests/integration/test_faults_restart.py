"""The bridge SIGKILLed and restarted mid-stream, with HTTP ingest and resuming WebSocket
clients running: every reading that got a 2xx is stored once and reaches every client.

`kill_restart_scenario` is the scenario; the CI test runs it with 3 restarts, the long run
(bench/faults.py) with 20 and prints its figures.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.conftest import ADMIN, Bridge, started_bridge
from tests.integration.api_client import Api
from tests.integration.ws_probe import Probe

CI_RESTARTS: Final = 3
CI_CLIENTS: Final = 3
ACKS_PER_ROUND: Final = 30
WAIT_S: Final = 90.0


@dataclass
class Figures:
    """What one run of the scenario saw."""

    restarts: int = 0
    acked_seqs: list[int] = field(default_factory=list)
    refused_posts: int = 0
    recover_s: list[float] = field(default_factory=list)
    stored_counts: Counter[int] = field(default_factory=Counter)
    delivered: list[list[int]] = field(default_factory=list)

    @property
    def lost_in_store(self) -> list[int]:
        return [s for s in self.acked_seqs if self.stored_counts[s] == 0]

    @property
    def stored_twice(self) -> list[int]:
        return [s for s, n in self.stored_counts.items() if n > 1]

    def missed(self, client: int) -> list[int]:
        got = set(self.delivered[client])
        return [s for s in self.acked_seqs if s not in got]

    def repeats(self, client: int) -> int:
        """Seqs a client got that were not above the last it had (duplicates, reorders)."""
        seqs, bad, top = self.delivered[client], 0, 0
        for s in seqs:
            if s <= top:
                bad += 1
            top = max(top, s)
        return bad


def _feed(url: str, key: str, stop: threading.Event, figures: Figures) -> None:
    """Posts readings until stopped; a transport error or 5xx (the bridge is down) is
    retried with the same message id, so a lost answer cannot store a report twice."""
    n = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        while not stop.is_set():
            n += 1
            body = {
                "message_id": f"m-{n}",
                "readings": [{"sensor": "temp", "value": float(n), "ts": time.time_ns() // 10**6}],
            }
            while not stop.is_set():
                try:
                    r = c.post("/api/v1/ingest", json=body)
                except httpx.TransportError:
                    figures.refused_posts += 1
                    time.sleep(0.05)
                    continue
                if r.status_code == 200:
                    first, last = r.json()["first_seq"], r.json()["last_seq"]
                    figures.acked_seqs.extend(range(first, last + 1))
                    break
                figures.refused_posts += 1
                time.sleep(0.05)


async def _client(url: str, token: str, farm: int, seqs: list[int], stop: asyncio.Event) -> None:
    """Subscribes, reads, and after every lost connection reconnects and resumes."""
    epoch: str | None = None
    while not stop.is_set():
        try:
            probe = await Probe.open(url)
        except (OSError, InvalidHandshake, TimeoutError):
            await asyncio.sleep(0.05)
            continue
        try:
            await probe.auth(token)
            sub: dict[str, Any] = {"type": "subscribe", "farm": farm}
            if seqs:
                sub |= {"since": max(seqs), "epoch": epoch}
            await probe.send(sub)
            answer = await probe.expect("subscribed", 30)
            epoch = answer["epoch"]
            if not seqs:
                seqs.extend(range(1, answer["seq"] + 1))  # covered by the snapshot
            while not stop.is_set():
                with_rows = await probe.expect("batch", 30)
                seqs.extend(row[0] for row in with_rows.get("r", []))
        except (ConnectionClosed, TimeoutError, OSError):
            pass
        finally:
            probe.ws.transport.abort()


def _stored(api: Api, sensor_id: int) -> Counter[int]:
    rows = api.ok("GET", f"/api/v1/sensors/{sensor_id}/readings", params={"limit": 10_000})
    return Counter(row["seq"] for row in rows)


async def _wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


async def _run(bridge: Bridge, figures: Figures, restarts: int) -> None:
    api = Api(bridge.url, *ADMIN)
    farm = api.farm("restarts")
    node = api.device(farm["id"], "node", sensors=[{"name": "temp", "unit": "C"}])
    # Online first (seq 1, in every snapshot): the feeder's data then adds no status row.
    online = httpx.post(
        f"{bridge.url}/api/v1/ingest",
        json={"status": {"state": "online"}},
        headers={"Authorization": f"Bearer {node['key']}"},
        timeout=30,
    )
    assert online.status_code == 200, online.text
    stop_feed, stop_clients = threading.Event(), asyncio.Event()
    feeder = threading.Thread(target=_feed, args=(bridge.url, node["key"], stop_feed, figures))
    tasks = [
        asyncio.create_task(_client(bridge.url, api.token, farm["id"], seqs, stop_clients))
        for seqs in figures.delivered
    ]
    feeder.start()
    try:
        for _ in range(restarts):
            target = len(figures.acked_seqs) + ACKS_PER_ROUND
            assert await _wait_for(lambda t=target: len(figures.acked_seqs) >= t, WAIT_S)
            bridge.stop(signal.SIGKILL)
            killed = time.monotonic()
            await asyncio.to_thread(bridge.start)
            figures.recover_s.append(time.monotonic() - killed)
            figures.restarts += 1
        target = len(figures.acked_seqs) + ACKS_PER_ROUND
        assert await _wait_for(lambda: len(figures.acked_seqs) >= target, WAIT_S)
    finally:
        stop_feed.set()
        await asyncio.to_thread(feeder.join)
        top = max(figures.acked_seqs, default=0)
        await _wait_for(lambda: all(s and max(s) >= top for s in figures.delivered), WAIT_S)
        stop_clients.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    figures.stored_counts = _stored(api, node["sensors"][0]["id"])
    api.close()


async def kill_restart_scenario(data_dir: Path, restarts: int, clients: int) -> Figures:
    """Runs the scenario on a bridge of its own in `data_dir`; its figures."""
    figures = Figures(delivered=[[] for _ in range(clients)])
    bridge = started_bridge(data_dir)
    try:
        await _run(bridge, figures, restarts)
    finally:
        bridge.stop()
    return figures


async def test_kill_9_restarts_store_each_acknowledged_reading_once_and_deliver_it(
    tmp_path: Path,
) -> None:
    """Across 3 SIGKILL restarts under ingest, every 2xx reading is stored exactly once and
    reaches every resuming client once, in order."""
    figures = await kill_restart_scenario(tmp_path, CI_RESTARTS, CI_CLIENTS)
    assert figures.restarts == CI_RESTARTS
    assert figures.lost_in_store == []
    assert figures.stored_twice == []
    for client in range(CI_CLIENTS):
        assert figures.missed(client) == [], f"client {client}"
        assert figures.repeats(client) == 0, f"client {client}"
    print(
        f"recover_s={[round(s, 2) for s in figures.recover_s]} acked={len(figures.acked_seqs)}"
        f" repeats={[figures.repeats(c) for c in range(CI_CLIENTS)]}"
    )
