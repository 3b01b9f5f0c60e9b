"""Three bridge instances on one database, each running its liveness sweep and alarm
timer: every transition is acted on exactly once (the farm row lock decides, not luck)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from tests.conftest import ADMIN, Bridge, started_bridge, unique
from tests.integration.api_client import Api, ingest
from tests.integration.ws_probe import Probe

CYCLES: Final = 3
INTERVAL_S: Final = 0.2
WAIT_S: Final = 20.0
FAST = {
    "FARMBRIDGE_LIVENESS_MULTIPLE": "2",
    "FARMBRIDGE_LIVENESS_MIN_SILENCE_S": "0.5",
    "FARMBRIDGE_LIVENESS_SWEEP_S": "0.05",
    "FARMBRIDGE_ALARM_TICK_S": "0.05",
}


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[list[Bridge]]:
    data = tmp_path / "bridge"
    first = started_bridge(data, **FAST)
    others = [Bridge(data, env=FAST) for _ in range(2)]
    for b in others:
        b.start()
    yield [first, *others]
    for b in [first, *others]:
        b.stop()


def _state(api: Api, device_id: int) -> str:
    return str(api.ok("GET", f"/api/v1/devices/{device_id}")["status"]["state"])


def _wait_state(api: Api, device_id: int, state: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while _state(api, device_id) != state:
        assert time.monotonic() < deadline, f"device never became {state}"
        time.sleep(0.02)


def _unacknowledged(api: Api, farm_id: int) -> list[dict[str, Any]]:
    listed = api.ok("GET", f"/api/v1/farms/{farm_id}/alarms")["alarms"]
    return [a for a in listed if a["state"] == "active"]


async def _replay(url: str, token: str, farm_id: int) -> list[dict[str, Any]]:
    """Every change of the farm from seq 1, read back by resume from the database."""
    probe = await Probe.open(url)
    try:
        await probe.auth(token)
        await probe.send({"type": "subscribe", "farm": farm_id, "id": 1})
        first = await probe.expect("subscribed")
        await probe.send({"type": "unsubscribe", "farm": farm_id})
        await probe.expect("unsubscribed")
        await probe.send(
            {"type": "subscribe", "farm": farm_id, "since": 0, "epoch": first["epoch"]}
        )
        answer = await probe.expect("subscribed")
        batches: list[dict[str, Any]] = []
        seen = 0
        while seen < answer["seq"]:
            msg = await probe.expect("batch")
            batches.append(msg)
            rows = [row[0] for k in ("r", "s", "e", "c") for row in msg.get(k, [])]
            seen = max(seen, *rows, *(a["seq"] for a in msg.get("a", [])))
        return batches
    finally:
        await probe.ws.close()


async def test_three_instances_mark_each_silence_offline_once_and_raise_one_alarm(
    instances: list[Bridge],
) -> None:
    api = Api(instances[0].url, *ADMIN)
    try:
        farm = api.farm(unique("timers"))
        created = api.device(farm["id"], "probe")
        device_id, key = created["device"]["id"], created["key"]
        api.ok("PATCH", f"/api/v1/devices/{device_id}", json={"expected_interval_s": INTERVAL_S})
        api.ok(
            "POST",
            f"/api/v1/farms/{farm['id']}/alarm-rules",
            json={"name": "Gone", "kind": "offline", "severity": "warning", "for_s": 0.1},
        )
        for cycle in range(CYCLES):
            via = instances[cycle % len(instances)]
            now = time.time_ns() // 1_000_000
            body = {"readings": [{"sensor": "temp", "value": float(cycle), "ts": now}]}
            r = ingest(via.url, key, body)
            assert r.status_code == 200, r.text
            _wait_state(api, device_id, "online")
            _wait_state(api, device_id, "offline")
            deadline = time.monotonic() + WAIT_S
            while not (open_ := _unacknowledged(api, farm["id"])):
                assert time.monotonic() < deadline, "the offline rule never raised"
                time.sleep(0.02)
            # Acknowledged, it closes when the device is back, so the next silence is new.
            (alarm,) = open_
            api.ok("POST", f"/api/v1/farms/{farm['id']}/alarms/{alarm['id']}/ack", json={})
        batches = await _replay(instances[1].url, api.token, farm["id"])
    finally:
        api.close()
    states = [row[2] for b in batches for row in b.get("s", []) if row[1] == device_id]
    assert states == ["online", "offline"] * CYCLES  # one mark per silence, by one instance
    changes = [a for b in batches for a in b.get("a", [])]
    raised = [a for a in changes if a["state"] == "active"]
    assert len(raised) == CYCLES, raised  # one alarm per silence
    assert len({a["id"] for a in raised}) == CYCLES
    seqs = [a["seq"] for a in changes]
    assert len(seqs) == len(set(seqs))
