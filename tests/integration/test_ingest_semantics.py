"""What an accepted report means: sequence numbers, retries, atomicity, status, events, CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.conftest import Bridge
from tests.integration.api_client import Api, ingest

FARMS = 2
DEVICES_PER_FARM = 10
REQUESTS_PER_DEVICE = 25
CSV_HEADER = ["seq", "ts_ms", "received_ms", "device", "sensor", "unit", "value"]


@pytest.fixture
def shared(shared_bridge: Bridge) -> Bridge:
    """The run's shared bridge; each test works on farms of its own."""
    return shared_bridge


@pytest.fixture
def admin(shared_admin: Api) -> Api:
    return shared_admin


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def readings(admin: Api, sensor_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = admin.ok(
        "GET", f"/api/v1/sensors/{sensor_id}/readings", params={"limit": 10_000}
    )
    return rows


def farm_last_seq(admin: Api, farm_id: int) -> int:
    return int(admin.ok("GET", f"/api/v1/farms/{farm_id}")["last_seq"])


def say_online(shared: Bridge, dev: dict[str, Any]) -> int:
    """The device reports itself online (one seq); its data then adds no status of the
    bridge's own (operations.md, Liveness). Returns the status's seq."""
    return int(ok(ingest(shared.url, dev["key"], {"status": {"state": "online"}}))["last_seq"])


@pytest.fixture
def farm(admin: Api) -> dict[str, Any]:
    result: dict[str, Any] = admin.farm(unique("farm"))
    return result


# Sequence numbers.


@pytest.fixture
def fleet(admin: Api) -> list[tuple[int, dict[str, Any]]]:
    """(farm id, created device) for DEVICES_PER_FARM devices on each of FARMS fresh farms."""
    out = []
    for _ in range(FARMS):
        farm_id = admin.farm(unique("fleet"))["id"]
        out += [(farm_id, admin.device(farm_id, f"node-{i}")) for i in range(DEVICES_PER_FARM)]
    return out


def test_seqs_gap_free_under_concurrent_ingest(
    shared: Bridge, admin: Api, fleet: list[tuple[int, dict[str, Any]]]
) -> None:
    """Concurrent single readings from many devices get each farm's seqs 1..N exactly once."""

    def device_run(key: str) -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=shared.url, headers=headers, timeout=60) as http:
            return [
                ok(http.post("/api/v1/ingest", json={"sensor": "temp", "value": float(i)}))
                for i in range(REQUESTS_PER_DEVICE)
            ]

    # Each device says it is online first, so the readings below take seqs base+1..base+n.
    base = DEVICES_PER_FARM
    for _, dev in fleet:
        say_online(shared, dev)

    # One thread per device, all sending at once.
    with ThreadPoolExecutor(max_workers=len(fleet)) as pool:
        acks_by_device = list(pool.map(device_run, [dev["key"] for _, dev in fleet]))

    seqs_by_farm: dict[int, list[int]] = defaultdict(list)
    seqs_by_sensor: dict[int, set[int]] = defaultdict(set)
    for (farm_id, dev), acks in zip(fleet, acks_by_device, strict=True):
        for ack in acks:
            assert ack["accepted"] == 1
            assert ack["duplicate"] is False
            assert ack["first_seq"] == ack["last_seq"]
            seqs_by_farm[farm_id].append(ack["first_seq"])
            seqs_by_sensor[dev["sensors"][0]["id"]].add(ack["first_seq"])

    n = DEVICES_PER_FARM * REQUESTS_PER_DEVICE
    assert len(seqs_by_farm) == FARMS
    for farm_id, seqs in seqs_by_farm.items():
        assert sorted(seqs) == list(range(base + 1, base + n + 1))
        snap = admin.ok("GET", f"/api/v1/farms/{farm_id}/snapshot")
        assert snap["farm"]["last_seq"] == base + n
        for sensor in snap["sensors"]:
            assert sensor["last_seq"] in seqs_by_sensor[sensor["id"]]
    for sensor_id, seqs in seqs_by_sensor.items():
        stored = readings(admin, sensor_id)
        assert {r["seq"] for r in stored} == seqs
        assert sorted(r["value"] for r in stored) == [float(i) for i in range(REQUESTS_PER_DEVICE)]


# Retries.


def test_retry_with_same_message_id_is_stored_once(
    shared: Bridge, admin: Api, farm: dict[str, Any]
) -> None:
    """A report sent again with its message_id answers duplicate=true and the same seqs."""
    dev = admin.device(farm["id"], "node")
    other = admin.device(farm["id"], "other")
    assert (say_online(shared, dev), say_online(shared, other)) == (1, 2)
    sensor_id = dev["sensors"][0]["id"]
    report = {
        "message_id": "node-000001",
        "readings": [{"sensor": "temp", "value": 1.5}, {"sensor": "temp", "value": 2.5}],
        "events": [{"level": "info", "code": "boot"}],
    }
    first = ok(ingest(shared.url, dev["key"], report))
    assert first == {"accepted": 3, "first_seq": 3, "last_seq": 5, "duplicate": False}
    again = ok(ingest(shared.url, dev["key"], report))
    assert again == {**first, "duplicate": True}

    assert [r["value"] for r in readings(admin, sensor_id)] == [1.5, 2.5]
    assert len(admin.ok("GET", f"/api/v1/farms/{farm['id']}/events")) == 1
    assert farm_last_seq(admin, farm["id"]) == 5

    # Message ids are per device; and a new id is a new report.
    theirs = ok(ingest(shared.url, other["key"], report))
    assert theirs == {"accepted": 3, "first_seq": 6, "last_seq": 8, "duplicate": False}
    fresh = ok(ingest(shared.url, dev["key"], {**report, "message_id": "node-000002"}))
    assert (fresh["first_seq"], fresh["duplicate"]) == (9, False)


async def test_concurrent_copies_of_one_message_are_stored_once(
    shared: Bridge, admin: Api, farm: dict[str, Any]
) -> None:
    """Copies of one message sent at once are stored once; every answer carries the same seqs."""
    dev = admin.device(farm["id"], "node")
    assert say_online(shared, dev) == 1
    report = {"message_id": "burst-1", "readings": [{"sensor": "temp", "value": 7.0}] * 3}
    async with httpx.AsyncClient(base_url=shared.url, timeout=60) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/ingest", json=report, headers={"Authorization": f"Bearer {dev['key']}"}
                )
                for _ in range(12)
            )
        )
    acks = [ok(r) for r in answers]
    assert [a["duplicate"] for a in acks].count(False) == 1
    assert {(a["accepted"], a["first_seq"], a["last_seq"]) for a in acks} == {(3, 2, 4)}
    assert len(readings(admin, dev["sensors"][0]["id"])) == 3
    assert farm_last_seq(admin, farm["id"]) == 4


# All or nothing.


def test_batch_with_one_bad_item_stores_nothing(
    shared: Bridge, admin: Api, farm: dict[str, Any]
) -> None:
    """A report whose 3rd reading is invalid is 422 and none of it is stored; earlier ones stay."""
    dev = admin.device(farm["id"], "node", kind="actuator")
    sensor_id = dev["sensors"][0]["id"]
    accepted = ok(
        ingest(
            shared.url, dev["key"], {"readings": [{"sensor": "temp", "value": v} for v in (1, 2)]}
        )
    )
    # seq 1: the online status the bridge stores with the device's first data.
    assert (accepted["first_seq"], accepted["last_seq"]) == (2, 3)

    bad = {
        "message_id": "batch-2",
        "readings": [{"sensor": "temp", "value": v} for v in (3, 4, 500, 6)],
        "status": {"state": "online", "actuator": {"power": "on"}},
        "events": [{"level": "alarm", "code": "never"}],
    }
    r = ingest(shared.url, dev["key"], bad)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "readings[2].value"
    bad_event = {
        "readings": [{"sensor": "temp", "value": 5}],
        "events": [{"level": "info", "code": "late", "ts": now_ms() + 3_600_000}],
    }
    assert ingest(shared.url, dev["key"], bad_event).status_code == 422

    assert [x["value"] for x in readings(admin, sensor_id)] == [1.0, 2.0]
    assert admin.ok("GET", f"/api/v1/farms/{farm['id']}/events") == []
    device = admin.ok("GET", f"/api/v1/devices/{dev['device']['id']}")
    assert (device["status"]["state"], device["status"]["actuator"]) == ("online", {})
    assert device["status"]["seq"] == 1
    assert farm_last_seq(admin, farm["id"]) == 3

    # The refused report used up no seq and no message id: fixed, it goes through.
    bad["readings"][2]["value"] = 5
    fixed = ok(ingest(shared.url, dev["key"], bad))
    assert fixed == {"accepted": 6, "first_seq": 4, "last_seq": 9, "duplicate": False}


# Report forms.


def test_single_reading_shorthand_is_accepted(
    shared: Bridge, admin: Api, farm: dict[str, Any]
) -> None:
    """A lone `{"sensor", "value", "ts"}` body is a report of one reading; no ts means now."""
    dev = admin.device(farm["id"], "node")
    assert say_online(shared, dev) == 1
    sensor_id = dev["sensors"][0]["id"]
    ts = now_ms() - 1_000
    assert ok(ingest(shared.url, dev["key"], {"sensor": "temp", "value": 19.25, "ts": ts})) == {
        "accepted": 1,
        "first_seq": 2,
        "last_seq": 2,
        "duplicate": False,
    }
    assert ok(ingest(shared.url, dev["key"], {"sensor": "temp", "value": 19.5}))["last_seq"] == 3
    first, second = readings(admin, sensor_id)
    assert (first["seq"], first["value"], first["ts_ms"]) == (2, 19.25, ts)
    assert (second["seq"], second["value"]) == (3, 19.5)
    assert second["ts_ms"] == second["received_ms"]


def test_iso_timestamps_are_accepted(shared: Bridge, admin: Api, farm: dict[str, Any]) -> None:
    """ISO 8601 timestamps with a zone (Z or an offset) are stored as the same epoch ms."""
    dev = admin.device(farm["id"], "node")
    sensor_id = dev["sensors"][0]["id"]
    base = datetime.fromtimestamp((now_ms() - 600_000) // 1000, UTC)
    base_ms = int(base.timestamp()) * 1000
    india = timezone(timedelta(hours=5, minutes=30))
    stamps = [
        base.isoformat().replace("+00:00", "Z"),
        (base + timedelta(milliseconds=250)).isoformat(timespec="milliseconds"),
        (base + timedelta(seconds=1)).astimezone(india).isoformat(),
    ]
    sent = [{"sensor": "temp", "value": float(i), "ts": stamp} for i, stamp in enumerate(stamps)]
    ok(ingest(shared.url, dev["key"], {"readings": sent}))
    assert [(r["value"], r["ts_ms"]) for r in readings(admin, sensor_id)] == [
        (0.0, base_ms),
        (1.0, base_ms + 250),
        (2.0, base_ms + 1000),
    ]


def test_iso_timestamp_without_zone_names_the_reading(
    shared: Bridge, admin: Api, farm: dict[str, Any]
) -> None:
    """An ISO timestamp without a zone is 422 naming the item's own `ts` field."""
    dev = admin.device(farm["id"], "node")
    naive = datetime.now(UTC).replace(tzinfo=None).isoformat()
    body = {
        "readings": [
            {"sensor": "temp", "value": 1.0},
            {"sensor": "temp", "value": 2.0, "ts": naive},
        ]
    }
    r = ingest(shared.url, dev["key"], body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "readings[1].ts"
    assert farm_last_seq(admin, farm["id"]) == 0


# Status.


def test_status_updates_device_and_merges_actuator(
    shared: Bridge, admin: Api, farm: dict[str, Any]
) -> None:
    """Status reports set the device state, actuator keys merge, and a late report does not win."""
    dev = admin.device(farm["id"], "fan", kind="actuator")
    device_id = dev["device"]["id"]

    def status() -> dict[str, Any]:
        st: dict[str, Any] = admin.ok("GET", f"/api/v1/devices/{device_id}")["status"]
        return st

    assert status()["state"] == "unknown"
    reports = [
        (
            {"state": "online", "actuator": {"power": "on", "speed": 3}},
            "online",
            {"power": "on", "speed": 3},
        ),
        ({"state": "online", "actuator": {"speed": 5}}, "online", {"power": "on", "speed": 5}),
        ({"state": "error"}, "error", {"power": "on", "speed": 5}),
        (
            {"state": "maintenance", "actuator": {"power": None}},
            "maintenance",
            {"power": None, "speed": 5},
        ),
    ]
    for body, state, actuator in reports:
        ack = ok(ingest(shared.url, dev["key"], {"status": body}))
        st = status()
        assert (st["state"], st["actuator"], st["seq"]) == (state, actuator, ack["last_seq"])

    # A report stamped before the current status fills history but leaves the device as it is.
    late = {"state": "offline", "actuator": {"speed": 0}, "ts": now_ms() - 60_000}
    ok(ingest(shared.url, dev["key"], {"status": late}))
    assert (status()["state"], status()["actuator"]) == ("maintenance", {"power": None, "speed": 5})
    snap = admin.ok("GET", f"/api/v1/farms/{farm['id']}/snapshot")
    assert [d["status"]["state"] for d in snap["devices"]] == ["maintenance"]
    assert snap["devices"][0]["last_seen_ms"] is not None


# Events.


def test_events_newest_first_filtered_and_paged(
    shared: Bridge, admin: Api, farm: dict[str, Any]
) -> None:
    """Events list newest first, filter by level and device, and page with before_seq."""
    one = admin.device(farm["id"], "one")
    two = admin.device(farm["id"], "two")
    assert (say_online(shared, one), say_online(shared, two)) == (1, 2)
    sent = [
        (one, "info", "a"),
        (one, "warning", "b"),
        (two, "alarm", "c"),
        (two, "info", "d"),
        (one, "alarm", "e"),
    ]
    for dev, level, code in sent:
        ok(
            ingest(
                shared.url,
                dev["key"],
                {"events": [{"level": level, "code": code, "message": code * 3}]},
            )
        )
    path = f"/api/v1/farms/{farm['id']}/events"

    every = admin.ok("GET", path)
    assert [e["code"] for e in every] == ["e", "d", "c", "b", "a"]
    # An alarm event raises its device alarm, a change with the next seq (6 after c).
    assert [e["seq"] for e in every] == [8, 7, 5, 4, 3]
    assert every[0]["device_id"] == one["device"]["id"]
    assert (every[0]["level"], every[0]["message"]) == ("alarm", "eee")

    assert [e["code"] for e in admin.ok("GET", path, params={"level": "alarm"})] == ["e", "c"]
    by_two = admin.ok("GET", path, params={"device_id": two["device"]["id"]})
    assert [e["code"] for e in by_two] == ["d", "c"]
    both = admin.ok("GET", path, params={"device_id": one["device"]["id"], "level": "info"})
    assert [e["code"] for e in both] == ["a"]

    pages: list[list[str]] = []
    before: int | None = None
    while True:
        params: dict[str, int] = {"limit": 2} | ({} if before is None else {"before_seq": before})
        page = admin.ok("GET", path, params=params)
        if not page:
            break
        pages.append([e["code"] for e in page])
        before = page[-1]["seq"]
    assert pages == [["e", "d"], ["c", "b"], ["a"]]


# CSV export.


def test_csv_export_has_header_and_every_reading(
    shared: Bridge, admin: Api, farm: dict[str, Any]
) -> None:
    """The CSV export has the header and every reading of the farm, across its 5,000-row chunks."""
    big = admin.device(farm["id"], "big")
    small = admin.device(
        farm["id"], "small", sensors=[{"name": "rh", "unit": "%", "min": 0, "max": 100}]
    )
    elsewhere = admin.device(admin.farm(unique("other"))["id"], "big")
    ts = now_ms() - 5_000
    expected: dict[int, tuple[int, str, str, str, float]] = {}

    def send(dev: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        return ok(ingest(shared.url, dev["key"], body))

    values = [float(i % 100 - 20) + 0.25 for i in range(4_999)]
    ack = send(
        big,
        {"readings": [{"sensor": "temp", "value": v, "ts": ts + i} for i, v in enumerate(values)]},
    )
    for i, v in enumerate(values):
        expected[ack["first_seq"] + i] = (ts + i, "big", "temp", "C", v)
    send(big, {"events": [{"level": "info", "code": "between"}], "status": {"state": "online"}})
    for i, v in enumerate((55.5, 60.0, 61.125)):
        ack = send(small, {"sensor": "rh", "value": v, "ts": ts + i})
        expected[ack["first_seq"]] = (ts + i, "small", "rh", "%", v)
    send(elsewhere, {"sensor": "temp", "value": 1.0})

    r = admin.http.get(f"/api/v1/farms/{farm['id']}/readings.csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == CSV_HEADER
    got = {
        int(seq): (int(ts_ms), device, sensor, unit, float(value))
        for seq, ts_ms, _received, device, sensor, unit, value in rows[1:]
    }
    assert len(rows) - 1 == len(got) == len(expected)
    assert got == expected
    assert [int(row[0]) for row in rows[1:]] == sorted(expected)
