"""A bridge on PostgreSQL while the server goes away and comes back.

Ingest answers 503 `store_unavailable` while the server is down (never a 2xx for what it
did not store), reads fail with the same clear error, /readyz says `unreachable`, and the
bridge recovers by itself once the server is back: a dashboard subscribed all along then
receives every acknowledged change once, in order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from tests.conftest import ADMIN, Bridge, make_admin_in
from tests.integration.api_client import Api, ingest
from tests.integration.test_resume import _read
from tests.integration.ws_probe import Probe
from tests.postgres import Postgres

pytestmark = pytest.mark.integration

RECOVERY_TIMEOUT_S: Final = 60.0


@pytest.fixture
def pg_bridge(tmp_path: Path) -> Iterator[tuple[Bridge, Postgres]]:
    pg = Postgres()
    pg.init()
    pg.start()
    pg.make_template()
    url = pg.new_database()
    make_admin_in(url, tmp_path)
    bridge = Bridge(tmp_path, args=["--database", url])
    bridge.start()
    yield bridge, pg
    bridge.stop()
    pg.destroy()


def _report(i: int) -> dict[str, Any]:
    return {
        "message_id": f"m-{i}",
        "readings": [{"sensor": "temp", "value": float(i), "ts": time.time_ns() // 1_000_000}],
    }


def _until(cond: Any, what: str) -> None:
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


async def test_postgresql_down_answers_503_and_the_bridge_recovers_by_itself(
    pg_bridge: tuple[Bridge, Postgres],
) -> None:
    bridge, pg = pg_bridge
    api = Api(bridge.url, *ADMIN)
    farm = api.farm("pg-faults")
    node = api.device(farm["id"], "node", sensors=[{"name": "temp", "unit": "C"}])
    key, sensor_id = node["key"], node["sensors"][0]["id"]
    probe = await Probe.open(bridge.url)
    await probe.auth(api.token)
    await probe.send({"type": "subscribe", "farm": farm["id"]})
    head = int((await probe.expect("subscribed", 20))["seq"])

    acked: list[int] = []

    def post(i: int) -> httpx.Response:
        r = ingest(bridge.url, key, _report(i))
        if r.status_code == 200:
            acked.extend(range(r.json()["first_seq"], r.json()["last_seq"] + 1))
        return r

    for i in range(10):
        assert post(i).status_code == 200
    await asyncio.to_thread(pg.stop, "fast")

    down = [post(i) for i in range(10, 20)]
    assert {r.status_code for r in down} == {503}, [r.text for r in down]
    assert {r.json()["error"]["code"] for r in down} == {"store_unavailable"}
    assert {r.json()["error"]["message"] for r in down} == {"store unavailable: unreachable"}
    read = api.http.get(f"/api/v1/farms/{farm['id']}/snapshot")
    assert read.status_code == 503
    assert read.json()["error"]["code"] == "store_unavailable"
    _until(
        lambda: (
            (r := bridge.readyz()) is not None
            and r.status_code == 503
            and r.json()["store"] == "unreachable"
        ),
        "readiness never said unreachable",
    )

    await asyncio.to_thread(pg.start)
    _until(lambda: (r := bridge.readyz()) is not None and r.status_code == 200, "never ready")
    # The refused reports are sent again, as a device does; the server never stored them.
    for i in range(10, 30):
        assert post(i).status_code == 200
    got: list[int] = []
    await _read(probe, got, acked[-1])
    assert got == list(range(head + 1, acked[-1] + 1))
    values = api.ok("GET", f"/api/v1/sensors/{sensor_id}/readings", params={"limit": 100})
    assert sorted(v["value"] for v in values) == [float(i) for i in range(30)]
    await probe.close()
    api.close()
