"""Liveness and device removal on a real bridge: an HTTP device that stops posting goes
offline on every open subscription and comes back with its next reading; a deleted device
leaves open subscriptions, fresh snapshots and resumed streams."""

from __future__ import annotations

import time
from typing import Any, Final

import httpx
import pytest

from tests.conftest import Bridge, unique
from tests.integration.api_client import Api, ingest
from tests.integration.ws_probe import Probe

INTERVAL_S: Final = 0.2
MIN_SILENCE_S: Final = 0.5
WAIT_S: Final = 15.0
"""Bounds each wait on a condition (the sweep looks every 0.1 s)."""

FAST_LIVENESS = pytest.mark.bridge_env(
    FARMBRIDGE_LIVENESS_MULTIPLE="2",
    FARMBRIDGE_LIVENESS_MIN_SILENCE_S=str(MIN_SILENCE_S),
    FARMBRIDGE_LIVENESS_SWEEP_S="0.1",
)


def _post_reading(url: str, key: str, value: float) -> dict[str, Any]:
    now = time.time_ns() // 1_000_000
    r = ingest(url, key, {"readings": [{"sensor": "temp", "value": value, "ts": now}]})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _subscribed(url: str, token: str, farm_id: int, **extra: Any) -> tuple[Probe, Any]:
    probe = await Probe.open(url)
    await probe.auth(token)
    await probe.send({"type": "subscribe", "farm": farm_id, "id": 1, **extra})
    return probe, await probe.expect("subscribed")


async def _status(probe: Probe, device_id: int, state: str) -> list[Any]:
    """Reads batches until one carries `state` for the device; returns that status row."""
    deadline = time.monotonic() + WAIT_S
    while True:
        msg = await probe.recv(max(0.01, deadline - time.monotonic()))
        if msg["type"] != "batch":
            assert msg["type"] not in ("error", "resync_required", "unsubscribed"), msg
            continue
        for row in msg.get("s", []):
            if row[1] == device_id and row[2] == state:
                return list(row)


async def _removal(probe: Probe) -> list[Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        msg = await probe.recv(max(0.01, deadline - time.monotonic()))
        if msg["type"] == "batch" and msg.get("x"):
            (row,) = msg["x"]
            return [*row[:2], msg["t0"] + row[2]]
        assert msg["type"] not in ("error", "resync_required", "unsubscribed"), msg


@FAST_LIVENESS
async def test_http_device_that_stops_posting_goes_offline_and_back_online(
    bridge: Bridge, admin_api: Api
) -> None:
    """With its interval set, a silent HTTP device is marked offline on an open
    subscription after the multiple, stored so; its next reading brings it back online
    on the stream before the reading itself."""
    farm = admin_api.farm(unique("live"))
    created = admin_api.device(farm["id"], "probe")
    device_id, key = created["device"]["id"], created["key"]
    patched = admin_api.ok(
        "PATCH", f"/api/v1/devices/{device_id}", json={"expected_interval_s": INTERVAL_S}
    )
    assert patched["expected_interval_s"] == patched["interval_s"] == INTERVAL_S
    assert patched["offline_after_s"] == MIN_SILENCE_S  # max(2 x 0.2, 0.5)
    probe, sub = await _subscribed(bridge.url, admin_api.token, farm["id"])
    try:
        (snap_dev,) = sub["snapshot"]["devices"]
        assert snap_dev["state"] == "unknown"
        assert (snap_dev["interval_s"], snap_dev["offline_after_s"]) == (INTERVAL_S, MIN_SILENCE_S)
        first = _post_reading(bridge.url, key, 20.0)
        online = await _status(probe, device_id, "online")
        assert online[0] == first["first_seq"] - 1  # its first data says it is online, first
        offline = await _status(probe, device_id, "offline")
        assert offline[0] == first["last_seq"] + 1
        stored = admin_api.ok("GET", f"/api/v1/devices/{device_id}")
        assert stored["status"]["state"] == "offline"
        assert stored["status"]["seq"] == offline[0]
        again = _post_reading(bridge.url, key, 21.0)
        back = await _status(probe, device_id, "online")
        assert back[0] == again["first_seq"] - 1 == offline[0] + 1
        assert admin_api.ok("GET", f"/api/v1/devices/{device_id}")["status"]["state"] == "online"
    finally:
        await probe.ws.close()


async def test_patch_device_interval_refuses_bad_values_with_the_field(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """Zero, negative, beyond a week, a string or an unknown field: 422 naming the field;
    null clears the set interval."""
    farm = shared_admin.farm(unique("badint"))
    device_id = shared_admin.device(farm["id"], "n")["device"]["id"]
    path = f"/api/v1/devices/{device_id}"
    for bad in (0, -5, 8 * 86_400, "soon"):
        r = shared_admin.http.patch(path, json={"expected_interval_s": bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["field"] == "expected_interval_s", r.text
    r = shared_admin.http.patch(path, json={"interval": 5})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "interval"
    shared_admin.ok("PATCH", path, json={"expected_interval_s": 30})
    cleared = shared_admin.ok("PATCH", path, json={"expected_interval_s": None})
    assert cleared["expected_interval_s"] is None
    assert cleared["interval_s"] is None
    assert cleared["offline_after_s"] is None


async def test_patch_device_interval_needs_the_farm_admin_role(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """An operator of the farm may not set the interval (403); no token is 401."""
    farm = shared_admin.farm(unique("roleint"))
    device_id = shared_admin.device(farm["id"], "n")["device"]["id"]
    name = unique("op")
    shared_admin.user(name, "operator-password-1", farm["id"], role="operator")
    op = Api(shared_bridge.url, name, "operator-password-1")
    try:
        path = f"/api/v1/devices/{device_id}"
        r = op.http.patch(path, json={"expected_interval_s": 30})
        assert r.status_code == 403, r.text
        r = httpx.patch(f"{shared_bridge.url}{path}", json={"expected_interval_s": 30})
        assert r.status_code == 401, r.text
        assert shared_admin.ok("GET", path)["expected_interval_s"] is None
    finally:
        op.close()


async def test_deleted_device_leaves_open_subscriptions_snapshots_and_resumes(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """Deleting a device reaches an open subscription as an "x" entry with the farm's next
    seq; a fresh snapshot no longer has it or its sensors; a client resuming from before
    the deletion gets the same entry."""
    api = shared_admin
    farm = api.farm(unique("del"))
    keep = api.device(farm["id"], "keep")
    doomed = api.device(farm["id"], "doomed")
    doomed_id = doomed["device"]["id"]
    before = _post_reading(shared_bridge.url, doomed["key"], 5.0)["last_seq"]
    probe, sub = await _subscribed(shared_bridge.url, api.token, farm["id"])
    try:
        assert {d["id"] for d in sub["snapshot"]["devices"]} == {
            keep["device"]["id"],
            doomed_id,
        }
        assert sub["seq"] == before
        r = api.http.delete(f"/api/v1/devices/{doomed_id}")
        assert r.status_code == 204, r.text
        seq, gone, at_ms = await _removal(probe)
        assert (seq, gone) == (before + 1, doomed_id)
        assert abs(at_ms - time.time() * 1000) < 60_000
    finally:
        await probe.ws.close()
    fresh, fresh_sub = await _subscribed(shared_bridge.url, api.token, farm["id"])
    try:
        snap = fresh_sub["snapshot"]
        assert fresh_sub["seq"] == before + 1
        assert [d["id"] for d in snap["devices"]] == [keep["device"]["id"]]
        assert all(s["device"] != doomed_id for s in snap["sensors"])
    finally:
        await fresh.ws.close()
    resumed, resumed_sub = await _subscribed(
        shared_bridge.url, api.token, farm["id"], since=before, epoch=sub["epoch"]
    )
    try:
        assert resumed_sub["resume"] == {"from": before + 1, "to": before + 1}
        seq, gone, _ = await _removal(resumed)
        assert (seq, gone) == (before + 1, doomed_id)
    finally:
        await resumed.ws.close()
