"""Many resumes at once under HTTP ingest, on a real bridge: every subscription gets each seq
once, in order, with no gap between its replay and what follows live.

Each client resumes twice (the second time after an abrupt disconnect, from a little behind
what it saw), while a feeder posts readings; the feeder stops once every client is on its
second subscription, and every client then reads up to the last acknowledged seq.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from tests.conftest import ADMIN, Bridge, started_bridge, unique
from tests.integration.api_client import Api
from tests.integration.ws_probe import Probe

RECENT_SIZE: Final = 4
"""The bridge under test keeps this few changes in memory: resumes come from the store."""
HUB_TICK_MS: Final = 50
"""A long tick: changes wait in the channel across many store reads, where a resume that
hands over badly would get them twice."""
STORE_CLIENTS: Final = 60
MEMORY_CLIENTS: Final = 30
"""Below the per-user connection limit (50) of the shared bridge."""
READINGS_PER_POST: Final = 5
WARM_READINGS: Final = 200
ROWS_PER_ROUND: Final = 20
RECV_TIMEOUT_S: Final = 20.0
STORM_TIMEOUT_S: Final = 60.0
"""Bounds each wait; the whole test takes seconds (pytest-timeout stops it at 120 s)."""


class Feeder(threading.Thread):
    """Posts readings back to back until stopped, recording every acknowledged seq."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(name="feeder", daemon=True)
        self.url, self.key = url, key
        self.acked: list[int] = []
        self.warm = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=30) as http:
                headers = {"Authorization": f"Bearer {self.key}"}
                while not self.stop.is_set():
                    now = time.time_ns() // 1_000_000
                    body = {
                        "readings": [
                            {"sensor": "temp", "value": float(v), "ts": now}
                            for v in range(READINGS_PER_POST)
                        ]
                    }
                    r = http.post("/api/v1/ingest", json=body, headers=headers)
                    assert r.status_code == 200, r.text
                    got = r.json()
                    self.acked.extend(range(got["first_seq"], got["last_seq"] + 1))
                    if len(self.acked) >= WARM_READINGS:
                        self.warm.set()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc
            self.warm.set()


@dataclass
class Run:
    """What the clients share: when the feeder has stopped, the last acknowledged seq."""

    clients: int
    on_second: int = 0
    all_on_second: asyncio.Event = field(default_factory=asyncio.Event)
    final: int | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)


def _seqs(msg: dict[str, Any]) -> list[int]:
    """Every seq in a batch, merged across kinds by seq as the protocol says."""
    return sorted(row[0] for kind in ("r", "s", "e", "c") for row in msg.get(kind, []))


async def _subscribe(
    probe: Probe, farm_id: int, since: int | None, epoch: str | None
) -> tuple[dict[str, Any], list[int]]:
    msg: dict[str, Any] = {"type": "subscribe", "farm": farm_id}
    if since is not None:
        msg |= {"since": since, "epoch": epoch}
    await probe.send(msg)
    answer = await probe.expect("subscribed", RECV_TIMEOUT_S)
    if since is not None:
        assert answer["resume"] == {"from": since + 1, "to": answer["seq"]}
    return answer, []


async def _read(probe: Probe, got: list[int], until: int) -> None:
    """Appends the seqs of batches until `until` or more is seen."""
    while not got or got[-1] < until:
        msg = await probe.recv(RECV_TIMEOUT_S)
        if msg["type"] == "batch":
            got.extend(_seqs(msg))
        else:
            assert msg["type"] not in ("error", "resync_required", "unsubscribed"), msg


def _assert_exact(got: list[int], start: int, end: int | None = None) -> None:
    """`got` is start, start + 1, ... with nothing twice, nothing older, nothing skipped."""
    assert all(b > a for a, b in itertools.pairwise(got)), f"not increasing: {got}"
    assert got == list(range(start, start + len(got))), f"a hole after {start}: {got}"
    if end is not None:
        assert got[-1] == end


async def _client(
    url: str, token: str, farm_id: int, run: Run, first_since: int | None, rng: random.Random
) -> None:
    probe = await Probe.open(url)
    await probe.auth(token)
    answer, got = await _subscribe(probe, farm_id, first_since, None)
    epoch = answer["epoch"]
    start = (first_since if first_since is not None else answer["seq"]) + 1
    await _read(probe, got, start + ROWS_PER_ROUND)
    _assert_exact(got, start)
    probe.ws.transport.abort()  # no close handshake: a dropped network
    await probe.ws.wait_closed()

    # Back from a little behind what it saw: a replay, then live, while ingest goes on.
    since = max(start - 1, got[-1] - rng.randint(RECENT_SIZE + 1, 40))
    probe = await Probe.open(url)
    await probe.auth(token)
    answer, got = await _subscribe(probe, farm_id, since, epoch)
    await _read(probe, got, since + 1 + ROWS_PER_ROUND)
    run.on_second += 1
    if run.on_second == run.clients:
        run.all_on_second.set()
    await run.stopped.wait()
    assert run.final is not None
    if got[-1] < run.final:
        await _read(probe, got, run.final)
    _assert_exact(got, since + 1, run.final)
    await probe.close()


async def _resume_storm(
    url: str, token: str, farm_id: int, feeder: Feeder, since: list[int | None]
) -> None:
    """Runs one client per entry of `since` (its first subscription) until all hold."""
    run = Run(len(since))
    rng = random.Random(11)
    tasks = [
        asyncio.create_task(_client(url, token, farm_id, run, s, random.Random(rng.random())))
        for s in since
    ]
    waiting: set[asyncio.Task[Any]] = {asyncio.create_task(run.all_on_second.wait()), *tasks}
    try:
        while not run.all_on_second.is_set():
            done, waiting = await asyncio.wait(
                waiting, timeout=STORM_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
            assert done, "clients did not all get back in time"
            for t in done:
                t.result()  # a client ends this early only by failing: fail the test with it
    finally:
        feeder.stop.set()
        await asyncio.to_thread(feeder.join, STORM_TIMEOUT_S)
    assert feeder.error is None, feeder.error
    acked = sorted(feeder.acked)
    assert acked == list(range(acked[0], acked[-1] + 1))  # the farm's seqs have no hole
    run.final = acked[-1]
    run.stopped.set()
    await asyncio.wait_for(asyncio.gather(*tasks), STORM_TIMEOUT_S)


def _farm(api: Api, name: str) -> tuple[int, str]:
    farm = api.farm(name)
    return farm["id"], api.device(farm["id"], "node")["key"]


async def test_resume_from_the_store_under_ingest_is_exact(tmp_path: Path) -> None:
    """60 clients resume from the store at once, twice each, while readings are posted:
    each subscription gets every seq after its `since` once, in order, replay then live."""
    bridge: Bridge = started_bridge(
        tmp_path,
        FARMBRIDGE_WS_RECENT_SIZE=str(RECENT_SIZE),
        FARMBRIDGE_HUB_TICK_MS=str(HUB_TICK_MS),
        FARMBRIDGE_WS_MAX_CONNECTIONS_PER_USER=str(2 * STORE_CLIENTS),
    )
    try:
        api = Api(bridge.url, *ADMIN)
        farm_id, key = _farm(api, "resumes")
        feeder = Feeder(bridge.url, key)
        feeder.start()
        await asyncio.to_thread(feeder.warm.wait, STORM_TIMEOUT_S)
        assert feeder.error is None, feeder.error
        head = max(feeder.acked)
        rng = random.Random(3)
        since: list[int | None] = [
            rng.randint(head - WARM_READINGS + 10, head - RECENT_SIZE - 1)
            for _ in range(STORE_CLIENTS)
        ]
        await _resume_storm(bridge.url, api.token, farm_id, feeder, since)
        api.close()
    finally:
        bridge.stop()


async def test_resume_from_memory_under_ingest_is_exact(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """30 clients subscribe, drop and resume from the channel's memory while readings are
    posted: each subscription gets every later seq once, in order, replay then live."""
    farm_id, key = _farm(shared_admin, unique("resumes"))
    # Subscribed before any reading, so the channel's memory covers the whole history.
    anchor = await Probe.open(shared_bridge.url)
    await anchor.auth(shared_admin.token)
    await _subscribe(anchor, farm_id, None, None)
    feeder = Feeder(shared_bridge.url, key)
    feeder.start()
    try:
        await asyncio.to_thread(feeder.warm.wait, STORM_TIMEOUT_S)
        assert feeder.error is None, feeder.error
        since: list[int | None] = [None] * MEMORY_CLIENTS
        await _resume_storm(shared_bridge.url, shared_admin.token, farm_id, feeder, since)
    finally:
        feeder.stop.set()
        await anchor.close()
