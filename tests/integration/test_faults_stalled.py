"""Fault scenario: stalled clients at scale cannot grow the server or slow a reading client.

Many clients subscribe and then read nothing more (their sockets fill, then their
queues), while a reading client on the same farm takes every event. Server memory per
stalled connection stays within the configured queue bound plus one flush and the
transport's buffer; the reading client gets everything, in order. Figures are printed
(`-s`), never asserted; the bounds asserted are sizes, not times.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Final

import httpx
import psutil
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import ADMIN, started_bridge
from tests.integration.api_client import Api
from tests.integration.ws_probe import Probe

STALLED_CLIENTS: Final = 100
QUEUE_MAX_BYTES: Final = 64 * 1024
EVENTS_PER_POST: Final = 100
EVENT_TEXT: Final = "x" * 900
POSTS: Final = 40
FLUSH_BYTES: Final = EVENTS_PER_POST * (len(EVENT_TEXT) + 100)
"""The most one hub flush hands a queue here: one POST's events, with their envelope."""
TRANSPORT_BYTES: Final = 256 * 1024
"""What a socket that takes nothing may hold in the server's transport buffer."""
CLIENT_RCVBUF_BYTES: Final = 4096
PER_CONNECTION_OVERHEAD_BYTES: Final = 256 * 1024
"""A connection's own objects (session, tasks, parser), generously."""


async def _stalled(url: str, port: int, token: str, farm_id: int) -> ClientConnection:
    """A client that authenticates, subscribes, and from then on reads nothing; its small
    receive buffer keeps the kernel from absorbing what the server sends it, so the
    server's own buffers are what fills (as with a phone on a bad link)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RCVBUF_BYTES)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    ws = await connect(url, sock=sock, ping_interval=None, max_queue=1, open_timeout=30)
    await ws.send(f'{{"type":"auth","token":"{token}"}}')
    await ws.send(f'{{"type":"subscribe","farm":{farm_id},"topics":["events"]}}')
    return ws


def _sample_rss(pid: int, stop: threading.Event, peak: list[int]) -> None:
    proc = psutil.Process(pid)
    while not stop.wait(0.05):
        peak[0] = max(peak[0], proc.memory_info().rss)


async def test_stalled_clients_at_scale_stay_within_their_bound(tmp_path: Path) -> None:
    """100 stalled clients: each one's queue and the server's memory per connection stay
    within the bound, and a reading client gets every event in order meanwhile."""
    bridge = started_bridge(
        tmp_path,
        FARMBRIDGE_WS_QUEUE_MAX_BYTES=str(QUEUE_MAX_BYTES),
        FARMBRIDGE_MAX_BODY_BYTES=str(4 * 2**20),
        FARMBRIDGE_DEVICE_RATE_PER_S="10000",
        FARMBRIDGE_WS_MAX_CONNECTIONS_PER_USER=str(STALLED_CLIENTS + 1),
    )
    api = Api(bridge.url, *ADMIN)
    stalled: list[ClientConnection] = []
    try:
        assert bridge.proc is not None
        pid = bridge.proc.pid
        farm = api.farm("slow")
        key = api.device(farm["id"], "node")["key"]
        fast = await Probe.open(bridge.url)
        await fast.auth(api.token)
        await fast.send({"type": "subscribe", "farm": farm["id"], "topics": ["events"]})
        await fast.expect("subscribed")
        rss_before = psutil.Process(pid).memory_info().rss
        ws_url = bridge.url.replace("http://", "ws://") + "/ws"
        stalled = list(
            await asyncio.gather(
                *(
                    _stalled(ws_url, bridge.port, api.token, farm["id"])
                    for _ in range(STALLED_CLIENTS)
                )
            )
        )
        deadline = time.monotonic() + 60
        while len(api.ok("GET", "/api/v1/connections")) < STALLED_CLIENTS + 1:
            assert time.monotonic() < deadline, "stalled clients did not all connect"
            await asyncio.sleep(0.1)

        stop = threading.Event()
        peak_rss = [rss_before]
        sampler = threading.Thread(target=_sample_rss, args=(pid, stop, peak_rss))
        sampler.start()
        peak_queue = 0
        seqs: list[int] = []
        waits_ms: list[float] = []
        try:
            with httpx.Client(
                base_url=bridge.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
            ) as c:
                for _ in range(POSTS):
                    now = int(time.time() * 1000)
                    event = {"level": "info", "code": "bulk", "message": EVENT_TEXT, "ts": now}
                    r = c.post("/api/v1/ingest", json={"events": [event] * EVENTS_PER_POST})
                    assert r.status_code == 200, r.text
                    answered = time.monotonic()
                    got = 0
                    while got < EVENTS_PER_POST:
                        batch = await fast.expect("batch", 30)
                        rows = batch.get("e", [])
                        seqs.extend(row[0] for row in rows)
                        got += len(rows)
                    waits_ms.append((time.monotonic() - answered) * 1000)
                    for conn in api.ok("GET", "/api/v1/connections"):
                        peak_queue = max(peak_queue, conn["queue_bytes"])
        finally:
            stop.set()
            sampler.join()

        assert seqs == sorted(set(seqs))
        assert len(seqs) == POSTS * EVENTS_PER_POST
        assert peak_queue <= QUEUE_MAX_BYTES + FLUSH_BYTES
        per_connection = (peak_rss[0] - rss_before) / STALLED_CLIENTS
        sent_per_client = POSTS * EVENTS_PER_POST * len(EVENT_TEXT)
        bound = QUEUE_MAX_BYTES + FLUSH_BYTES + TRANSPORT_BYTES + PER_CONNECTION_OVERHEAD_BYTES
        # Unbounded, each stalled client would hold everything sent to it (3.6 MB here).
        assert bound < sent_per_client
        assert per_connection <= bound, f"{per_connection:.0f} B per stalled connection"
        print(
            f"stalled={STALLED_CLIENTS} peak_queue_bytes={peak_queue}"
            f" rss_growth_per_conn_kib={per_connection / 1024:.0f}"
            f" bound_kib={bound / 1024:.0f} sent_per_client_kib={sent_per_client / 1024:.0f}"
            f" reader_wait_ms_median={statistics.median(waits_ms):.1f}"
            f" reader_wait_ms_max={max(waits_ms):.1f}"
        )
        await fast.close()
    finally:
        for ws in stalled:
            ws.transport.abort()
        api.close()
        bridge.stop()
