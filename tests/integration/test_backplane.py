"""The Redis backplane with real processes: a redis-server of the test's own and two bridge
instances on one SQLite file; a WebSocket client on either instance gets every committed
change of a farm once, in seq order, whichever instance committed it, Redis down or up."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import httpx
import pytest

from tests.conftest import ADMIN, Bridge, make_admin, make_admin_in, unique
from tests.integration.api_client import Api
from tests.integration.test_resume import _read
from tests.integration.ws_probe import Probe
from tests.postgres import Postgres
from tests.redis_server import RedisServer

pytestmark = pytest.mark.integration

RECV_TIMEOUT_S: Final = 20.0
READY_TIMEOUT_S: Final = 15.0


@dataclass
class Pair:
    redis: RedisServer
    a: Bridge
    b: Bridge
    env: dict[str, str]
    """What a further instance on the same store and backplane starts with."""


def _backplane(bridge: Bridge) -> str | None:
    r = bridge.readyz()
    return None if r is None else r.json().get("backplane")


def _wait(cond: Any, what: str, timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    """Two instances on one store: a SQLite file in a shared folder, or one PostgreSQL
    database (the folder then holds only the shared secret key)."""
    work = tmp_path_factory.mktemp("backplane")
    server = RedisServer(work / "redis")
    server.start()
    data = work / "data"
    env = {"FARMBRIDGE_BACKPLANE_URL": server.url}
    if request.param == "postgresql":
        pg: Postgres = request.getfixturevalue("postgres")
        env["FARMBRIDGE_DATABASE_URL"] = pg.new_database()
        make_admin_in(env["FARMBRIDGE_DATABASE_URL"], data)
    else:
        make_admin(data)
    a = Bridge(data, env=env)
    a.start()
    b = Bridge(data, env=env)
    b.start()
    try:
        for bridge in (a, b):
            _wait(lambda br=bridge: _backplane(br) == "ok", "backplane never connected")
        yield Pair(server, a, b, env)
    finally:
        a.stop()
        b.stop()
        server.stop()


async def _client(url: str, token: str, farm_id: int) -> tuple[Probe, int]:
    probe = await Probe.open(url)
    await probe.auth(token)
    await probe.send({"type": "subscribe", "farm": farm_id})
    answer = await probe.expect("subscribed", RECV_TIMEOUT_S)
    return probe, int(answer["seq"])


def _assert_exact(got: list[int], start: int, end: int) -> None:
    assert all(b > a for a, b in itertools.pairwise(got)), f"not increasing: {got}"
    assert got == list(range(start, end + 1)), f"a hole or a duplicate: {got}"


def _post(url: str, key: str, n: int, acked: list[int], between: Any = None) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        for i in range(n):
            body = {
                "readings": [
                    {"sensor": "temp", "value": float(i), "ts": time.time_ns() // 1_000_000}
                ]
            }
            r = http.post("/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200, r.text
            got = r.json()
            acked.extend(range(got["first_seq"], got["last_seq"] + 1))
            if between is not None:
                between(i)


def _farm(pair: Pair) -> tuple[Api, int, str]:
    api = Api(pair.a.url, *ADMIN)
    farm = api.farm(unique("bp"))
    return api, farm["id"], api.device(farm["id"], "node")["key"]


async def test_ingest_on_a_reaches_a_client_on_b(pair: Pair) -> None:
    api, farm_id, key = _farm(pair)
    probe, head = await _client(pair.b.url, api.token, farm_id)
    acked: list[int] = []
    await asyncio.to_thread(_post, pair.a.url, key, 50, acked)
    got: list[int] = []
    await _read(probe, got, acked[-1])
    _assert_exact(got, head + 1, acked[-1])
    await probe.close()
    api.close()


async def test_concurrent_ingest_on_both_gives_both_clients_one_sequence(pair: Pair) -> None:
    api, farm_id, key = _farm(pair)
    pa, head_a = await _client(pair.a.url, api.token, farm_id)
    pb, head_b = await _client(pair.b.url, api.token, farm_id)
    acked_a: list[int] = []
    acked_b: list[int] = []
    ta = threading.Thread(target=_post, args=(pair.a.url, key, 60, acked_a))
    tb = threading.Thread(target=_post, args=(pair.b.url, key, 60, acked_b))
    ta.start()
    tb.start()
    await asyncio.to_thread(ta.join, 60)
    await asyncio.to_thread(tb.join, 60)
    acked = sorted(acked_a + acked_b)
    assert len(acked) == 120
    assert acked == list(range(acked[0], acked[-1] + 1))
    got_a: list[int] = []
    got_b: list[int] = []
    await _read(pa, got_a, acked[-1])
    await _read(pb, got_b, acked[-1])
    _assert_exact(got_a, head_a + 1, acked[-1])
    _assert_exact(got_b, head_b + 1, acked[-1])
    await pa.close()
    await pb.close()
    api.close()


async def test_redis_restarted_mid_stream_loses_nothing(pair: Pair) -> None:
    api, farm_id, key = _farm(pair)
    probe, head = await _client(pair.b.url, api.token, farm_id)
    acked: list[int] = []

    def restart(i: int) -> None:
        if i == 20:
            pair.redis.stop()
            for bridge in (pair.a, pair.b):  # /readyz says so on both, still 200
                _wait(lambda br=bridge: _backplane(br) == "degraded", "Redis loss never seen")
                r = bridge.readyz()
                assert r is not None
                assert r.status_code == 200
        if i == 40:
            pair.redis.start()

    await asyncio.to_thread(_post, pair.a.url, key, 60, acked, restart)
    got: list[int] = []
    await _read(probe, got, acked[-1])
    _assert_exact(got, head + 1, acked[-1])
    for bridge in (pair.a, pair.b):
        _wait(lambda br=bridge: _backplane(br) == "ok", "backplane never came back")
    await probe.close()
    api.close()


async def test_three_instances_ingesting_at_once_give_every_client_one_sequence(
    pair: Pair,
) -> None:
    """A third instance joins; readings posted through all three at once reach clients on
    all three as one gap-free sequence, in order, each seq once."""
    c = Bridge(pair.a.data_dir, env=pair.env)
    c.start()
    try:
        _wait(lambda: _backplane(c) == "ok", "the third instance's backplane never connected")
        api, farm_id, key = _farm(pair)
        bridges = (pair.a, pair.b, c)
        clients = [await _client(br.url, api.token, farm_id) for br in bridges]
        acked: list[list[int]] = [[] for _ in bridges]
        posts = [
            threading.Thread(target=_post, args=(br.url, key, 40, got))
            for br, got in zip(bridges, acked, strict=True)
        ]
        for t in posts:
            t.start()
        for t in posts:
            await asyncio.to_thread(t.join, 60)
        every = sorted(x for got in acked for x in got)
        assert len(every) == 120
        assert every == list(range(every[0], every[-1] + 1))
        for probe, head in clients:
            got: list[int] = []
            await _read(probe, got, every[-1])
            _assert_exact(got, head + 1, every[-1])
            await probe.close()
        api.close()
    finally:
        c.stop()
