"""Faults across bridge instances with real processes (a redis-server of the test's own, two
bridges on one SQLite file): an instance SIGKILLed mid-stream, whose WebSocket clients move
to the other instance and resume there with nothing lost and nothing twice.

Redis killed and started again mid-stream is test_backplane's
`test_redis_restarted_mid_stream_loses_nothing`."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import ADMIN, Bridge, make_admin, unique
from tests.integration.api_client import Api
from tests.integration.test_backplane import _backplane, _wait
from tests.integration.test_resume import Feeder, _assert_exact, _read, _seqs, _subscribe
from tests.integration.ws_probe import Probe
from tests.redis_server import RedisServer

pytestmark = pytest.mark.integration

CLIENTS: Final = 8
SEEN_BEFORE_KILL: Final = 100
"""Each client has this many seqs from the doomed instance before it is killed."""
SEEN_AFTER_MOVE: Final = 200
RECV_TIMEOUT_S: Final = 20.0
WAIT_S: Final = 60.0


@dataclass
class Instances:
    redis: RedisServer
    a: Bridge
    b: Bridge


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[Instances]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    data = tmp_path / "data"
    make_admin(data)
    env = {"FARMBRIDGE_BACKPLANE_URL": server.url}
    a, b = Bridge(data, env=env), Bridge(data, env=env)
    try:
        a.start()
        b.start()
        for bridge in (a, b):
            _wait(lambda br=bridge: _backplane(br) == "ok", "backplane never connected")
        yield Instances(server, a, b)
    finally:
        a.stop()
        b.stop()
        server.stop()


class Doomed(Feeder):
    """A feeder on the instance that is killed: it stops at the first failed post (whose
    readings may or may not have been committed: the clients' check does not need to know)."""

    def run(self) -> None:
        try:
            super().run()
        finally:
            if isinstance(self.error, httpx.TransportError | AssertionError):
                self.error = None


@dataclass
class Run:
    ready: int = 0
    all_ready: asyncio.Event = field(default_factory=asyncio.Event)
    moved: int = 0
    all_moved: asyncio.Event = field(default_factory=asyncio.Event)
    killed: asyncio.Event = field(default_factory=asyncio.Event)
    final: int | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)


async def _client(inst: Instances, token: str, farm_id: int, run: Run) -> None:
    """Streams from B until B dies, then resumes on A from the last seq it saw."""
    probe = await Probe.open(inst.b.url)
    await probe.auth(token)
    answer, got = await _subscribe(probe, farm_id, None, None)
    epoch, head = answer["epoch"], answer["seq"]
    counted = False
    try:
        while True:
            msg = await probe.recv(RECV_TIMEOUT_S)
            if msg["type"] == "batch":
                got.extend(_seqs(msg))
            if not counted and len(got) >= SEEN_BEFORE_KILL:
                counted = True
                run.ready += 1
                if run.ready == CLIENTS:
                    run.all_ready.set()
    except ConnectionClosed:
        assert run.killed.is_set(), "B closed the stream before it was killed"
    probe.ws.transport.abort()
    assert counted, "B died before this client saw enough"

    since = got[-1]
    probe = await Probe.open(inst.a.url)
    await probe.auth(token)
    _, after = await _subscribe(probe, farm_id, since, epoch)
    await _read(probe, after, since + SEEN_AFTER_MOVE)
    run.moved += 1
    if run.moved == CLIENTS:
        run.all_moved.set()
    await run.stopped.wait()
    assert run.final is not None
    await _read(probe, after, run.final)
    _assert_exact(got + after, head + 1, run.final)
    await probe.close()


async def test_an_instance_killed_mid_stream_its_clients_resume_on_the_other_exactly(
    instances: Instances,
) -> None:
    """Readings are posted through both instances; B is SIGKILLed while its clients stream;
    posting goes on through A; each client resumes on A from the last seq it saw and gets
    every later seq of the farm once, in order, up to the last one A acknowledged."""
    api = Api(instances.a.url, *ADMIN)
    farm = api.farm(unique("killed"))
    key = api.device(farm["id"], "node")["key"]
    run = Run()
    tasks = [
        asyncio.create_task(_client(instances, api.token, farm["id"], run)) for _ in range(CLIENTS)
    ]
    survivor = Feeder(instances.a.url, key)
    doomed = Doomed(instances.b.url, key)
    survivor.start()
    doomed.start()
    try:
        waiting = {asyncio.create_task(run.all_ready.wait()), *tasks}
        done, _ = await asyncio.wait(waiting, timeout=WAIT_S, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            t.result()  # a client that ends this early has failed: fail with it
        assert run.all_ready.is_set(), "the clients did not all stream from B in time"
        assert instances.b.proc is not None
        run.killed.set()
        killed_at = time.monotonic()
        instances.b.proc.send_signal(signal.SIGKILL)
        instances.b.proc.wait(10)
        instances.b.proc = None
        await asyncio.wait_for(run.all_moved.wait(), WAIT_S)
        moved_s = time.monotonic() - killed_at
    finally:
        survivor.stop.set()
        doomed.stop.set()
        await asyncio.to_thread(survivor.join, WAIT_S)
        await asyncio.to_thread(doomed.join, WAIT_S)
    assert survivor.error is None, survivor.error
    assert doomed.error is None, doomed.error
    run.final = max(survivor.acked)
    run.stopped.set()
    await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S)
    print(
        f"{CLIENTS} clients back on A {moved_s * 1000:.0f} ms after the kill; "
        f"{len(survivor.acked)} readings through A, {len(doomed.acked)} through B"
    )
    api.close()
