"""The live stream under stress: forced disconnects mid-stream, and a client that stops reading."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ADMIN, Bridge, make_admin, unique
from tests.integration.api_client import Api, ingest
from tests.integration.ws_probe import Probe


def _ingest_loop(url: str, key: str, stop: threading.Event, acked: list[int]) -> None:
    """Sends small batches until stopped; records every acknowledged seq."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
        while not stop.is_set():
            now = int(time.time() * 1000)
            r = c.post(
                "/api/v1/ingest",
                json={"readings": [{"sensor": "temp", "value": 1.0, "ts": now}] * 5},
            )
            assert r.status_code == 200, r.text
            body = r.json()
            acked.extend(range(body["first_seq"], body["last_seq"] + 1))
            time.sleep(0.005)


async def test_ws_exactly_once_in_order_across_50_forced_disconnects(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """With ingest running, 50 abrupt disconnects and resumes deliver every seq once, in order."""
    bridge, admin_api = shared_bridge, shared_admin
    farm = admin_api.farm(unique("stress"))
    key = admin_api.device(farm["id"], "node")["key"]
    # Online first (seq 1, in every snapshot): the feeder's data then adds no status row.
    assert ingest(bridge.url, key, {"status": {"state": "online"}}).status_code == 200
    stop = threading.Event()
    acked: list[int] = []
    feeder = threading.Thread(target=_ingest_loop, args=(bridge.url, key, stop, acked))
    feeder.start()
    got: list[int] = []
    epoch = None
    rng = random.Random(7)
    try:
        for _ in range(50):
            probe = await Probe.open(bridge.url)
            await probe.auth(admin_api.token)
            sub: dict[str, object] = {"type": "subscribe", "farm": farm["id"]}
            if got:
                sub |= {"since": got[-1], "epoch": epoch}
            await probe.send(sub)
            answer = await probe.expect("subscribed")
            epoch = answer["epoch"]
            if not got:
                got.extend(range(1, answer["seq"] + 1))  # covered by the snapshot
            for row in await probe.readings(rng.randint(1, 40)):
                got.append(row[0])
            probe.ws.transport.abort()  # no close handshake: a dropped network
    finally:
        stop.set()
        feeder.join()
    probe = await Probe.open(bridge.url)
    await probe.auth(admin_api.token)
    await probe.send({"type": "subscribe", "farm": farm["id"], "since": got[-1], "epoch": epoch})
    await probe.expect("subscribed")
    remaining = max(acked) - got[-1]
    got.extend(r[0] for r in (await probe.readings(remaining) if remaining > 0 else []))
    await probe.close()
    assert got == list(range(1, max(acked) + 1))
    assert len(acked) > 200


async def _drain(ws: ClientConnection) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), 10)


async def test_ws_slow_client_stays_within_its_queue_bound(tmp_path: Path) -> None:
    """A client that stops reading overflows its queue and is dropped; its queue stays within
    the bound plus one burst, and a reading client gets everything meanwhile."""
    make_admin(tmp_path)
    bound = 128 * 1024
    b = Bridge(
        tmp_path,
        env={
            "FARMBRIDGE_WS_QUEUE_MAX_BYTES": str(bound),
            "FARMBRIDGE_MAX_BODY_BYTES": str(4 * 2**20),
            "FARMBRIDGE_WS_SEND_TIMEOUT_S": "1",
            "FARMBRIDGE_WS_HEARTBEAT_S": "1",
        },
    )
    b.start()
    api = Api(b.url, *ADMIN)
    try:
        farm = api.farm("f1")
        key = api.device(farm["id"], "node")["key"]
        slow = await connect(b.url.replace("http", "ws") + "/ws", ping_interval=None, max_queue=1)
        await slow.recv()  # welcome
        await slow.send(f'{{"type":"auth","token":"{api.token}"}}')
        await slow.recv()
        await slow.send(f'{{"type":"subscribe","farm":{farm["id"]},"topics":["events"]}}')
        await slow.recv()
        fast = await Probe.open(b.url)
        await fast.auth(api.token)
        await fast.send({"type": "subscribe", "farm": farm["id"], "topics": ["events"]})
        await fast.expect("subscribed")
        big = "x" * 1900
        total = 0
        peak = 0
        with httpx.Client(
            base_url=b.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as c:
            for _ in range(32):
                now = int(time.time() * 1000)
                events = [{"level": "info", "code": "bulk", "message": big, "ts": now}] * 250
                assert c.post("/api/v1/ingest", json={"events": events}).status_code == 200
                total += 250
                got = 0
                while got < 250:
                    got += sum(len(m.get("e", [])) for m in [await fast.expect("batch", 15)])
                for conn in api.ok("GET", "/api/v1/connections"):
                    peak = max(peak, conn["queue_bytes"])
        # The bound plus one flush's burst (250 events of ~2 KB here).
        assert peak <= bound + 600_000
        deadline = time.monotonic() + 10
        while len(api.ok("GET", "/api/v1/connections")) > 1:  # the stalled one goes
            assert time.monotonic() < deadline, str(api.ok("GET", "/api/v1/connections"))
            await asyncio.sleep(0.2)
        metrics = httpx.get(f"{b.url}/metrics").text
        overflows = [
            ln
            for ln in metrics.splitlines()
            if ln.startswith("farmbridge_ws_slow_consumers_total ")
        ]
        assert float(overflows[0].split()[1]) >= 1
        # A client that reads nothing cannot be told anything more: it finds itself closed.
        with pytest.raises(ConnectionClosed):
            await _drain(slow)
        await fast.close()
    finally:
        api.close()
        b.stop()
