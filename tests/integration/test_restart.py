"""What the bridge keeps across a restart: a graceful stop, and a kill -9 right after acks."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import httpx

from tests.conftest import ADMIN, Bridge
from tests.integration.api_client import Api, ingest

WRITER_THREADS = 8
MIN_ACKS_BEFORE_KILL = 150


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def readings(api: Api, sensor_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = api.ok(
        "GET", f"/api/v1/sensors/{sensor_id}/readings", params={"limit": 10_000}
    )
    return rows


def farm_state(api: Api, farm_id: int, sensor_ids: list[int]) -> dict[str, Any]:
    """Everything the API shows of a farm, for comparing before and after a restart."""
    return {
        "snapshot": api.ok("GET", f"/api/v1/farms/{farm_id}/snapshot"),
        "events": api.ok("GET", f"/api/v1/farms/{farm_id}/events"),
        "commands": api.ok("GET", f"/api/v1/farms/{farm_id}/commands"),
        "readings": {sid: readings(api, sid) for sid in sensor_ids},
        "csv": api.http.get(f"/api/v1/farms/{farm_id}/readings.csv").text,
    }


def test_data_survives_graceful_restart(bridge: Bridge, admin_api: Api) -> None:
    """After SIGTERM and a start on the same data dir, all is there and seqs continue unused."""
    farm = admin_api.farm("kept")
    node = admin_api.device(farm["id"], "node")
    pump = admin_api.device(farm["id"], "pump", kind="actuator")
    sensor_ids = [node["sensors"][0]["id"], pump["sensors"][0]["id"]]
    now = time.time_ns() // 1_000_000
    report = {
        "message_id": "node-1",
        "readings": [{"sensor": "temp", "value": 20.0 + i, "ts": now - 1000 + i} for i in range(5)],
        "events": [{"level": "warning", "code": "door_open", "message": "door 2"}],
    }
    first = ok(ingest(bridge.url, node["key"], report))
    status = {"status": {"state": "online", "actuator": {"power": "on"}}}
    ok(ingest(bridge.url, pump["key"], status))
    cmd = admin_api.ok(
        "POST", f"/api/v1/devices/{pump['device']['id']}/commands", json={"action": "off"}
    )
    before = farm_state(admin_api, farm["id"], sensor_ids)
    # The node's online status (its first data brings it), 5 readings and an event, the
    # pump's status change, a command.
    assert before["snapshot"]["farm"]["last_seq"] == 9

    proc = bridge.proc
    assert proc is not None
    bridge.stop(signal.SIGTERM)
    # Shut down by itself (uvicorn re-raises SIGTERM after its graceful exit), not killed.
    assert proc.returncode in (0, -signal.SIGTERM)
    bridge.start()

    # A token issued before the restart still works (the secret is kept in the data dir).
    with httpx.Client(
        base_url=bridge.url, headers={"Authorization": f"Bearer {admin_api.token}"}, timeout=30
    ) as http:
        assert http.get("/api/v1/me").status_code == 200
    api = Api(bridge.url, *ADMIN)
    try:
        assert farm_state(api, farm["id"], sensor_ids) == before
        assert api.ok("GET", f"/api/v1/commands/{cmd['id']}")["state"] == "pending"

        # The message id is still known, and device keys still work and continue the sequence.
        assert ok(ingest(bridge.url, node["key"], report)) == {**first, "duplicate": True}
        after = ok(ingest(bridge.url, node["key"], {"sensor": "temp", "value": 30.0}))
        assert (after["first_seq"], after["last_seq"]) == (10, 10)
        assert [r["seq"] for r in readings(api, sensor_ids[0])] == [2, 3, 4, 5, 6, 10]
        assert api.ok("GET", f"/api/v1/farms/{farm['id']}")["last_seq"] == 10
    finally:
        api.close()


def test_acknowledged_ingests_survive_kill_9(bridge: Bridge, admin_api: Api) -> None:
    """Every reading acknowledged 200 before a SIGKILL is there after a restart, seqs gap-free."""
    farm = admin_api.farm("crash")
    devices = [
        admin_api.device(farm["id"], f"node-{i}", sensors=[{"name": "n"}])
        for i in range(WRITER_THREADS)
    ]
    acked: list[tuple[int, float, int]] = []  # (sensor id, value, seq)
    errors: list[str] = []
    in_flight: dict[int, dict[str, Any]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(index: int, dev: dict[str, Any]) -> None:
        sensor_id = dev["sensors"][0]["id"]
        headers = {"Authorization": f"Bearer {dev['key']}"}
        with httpx.Client(base_url=bridge.url, headers=headers, timeout=10) as http:
            i = 0
            while not stop.is_set():
                value = float(index * 100_000 + i)
                body = {"message_id": f"m-{i}", "readings": [{"sensor": "n", "value": value}]}
                in_flight[index] = body
                try:
                    r = http.post("/api/v1/ingest", json=body)
                except httpx.TransportError:
                    return
                with lock:
                    if r.status_code != 200:
                        errors.append(r.text)
                        return
                    acked.append((sensor_id, value, r.json()["first_seq"]))
                del in_flight[index]
                i += 1

    threads = [
        threading.Thread(target=writer, args=(i, dev), name=f"writer-{i}")
        for i, dev in enumerate(devices)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < MIN_ACKS_BEFORE_KILL and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        bridge.stop(signal.SIGKILL)  # while the writers are still sending
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    with lock:
        acked_now = list(acked)
    assert errors == []
    assert len(acked_now) >= MIN_ACKS_BEFORE_KILL

    bridge.start()
    api = Api(bridge.url, *ADMIN)
    try:
        stored = {
            (dev["sensors"][0]["id"], r["value"], r["seq"])
            for dev in devices
            for r in readings(api, dev["sensors"][0]["id"])
        }
        assert set(acked_now) <= stored
        last_seq = api.ok("GET", f"/api/v1/farms/{farm['id']}")["last_seq"]
        # Each device's first data also stored its online status: those seqs fill the rest.
        statuses = [
            d["status"]["seq"] for d in api.ok("GET", f"/api/v1/farms/{farm['id']}/devices")
        ]
        seqs = sorted([seq for _, _, seq in stored] + statuses)
        assert seqs == list(range(1, last_seq + 1))

        # A report cut off by the crash, sent again, is stored exactly once.
        for index, body in in_flight.items():
            ok(ingest(bridge.url, devices[index]["key"], body))
            value = body["readings"][0]["value"]
            sensor_id = devices[index]["sensors"][0]["id"]
            assert [r["value"] for r in readings(api, sensor_id)].count(value) == 1

        # New ingests continue the sequence; no number is used twice.
        fresh = ok(ingest(bridge.url, devices[0]["key"], {"sensor": "n", "value": -1.0}))
        now_last = api.ok("GET", f"/api/v1/farms/{farm['id']}")["last_seq"]
        assert fresh["first_seq"] == now_last
        assert fresh["first_seq"] > max(seq for _, _, seq in stored)
    finally:
        api.close()
