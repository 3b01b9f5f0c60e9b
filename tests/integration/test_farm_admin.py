"""The administration of farms, device profiles, sensor ranges and CSV exports on a real
bridge: who may do each, the answers to bad input, and a deleted farm ending its sockets."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Bridge, unique
from tests.integration.api_client import Api, ingest
from tests.integration.ws_probe import Probe

PASSWORD = "farm-admin-test-password"


@dataclass
class Farm:
    id: int
    name: str
    device_id: int
    sensor_ids: list[int]
    key: str
    members: dict[str, Api]


@pytest.fixture
def farm(shared_bridge: Bridge, shared_admin: Api) -> Iterator[Farm]:
    """A farm with an actuator of two sensors, and its viewer, operator and admin."""
    name = unique("adm")
    created = shared_admin.farm(name)
    sensors = [
        {"name": "temp", "unit": "C", "min": -40, "max": 80},
        {"name": "hum", "unit": "%", "min": 0, "max": 100},
    ]
    dev = shared_admin.device(created["id"], "pump-1", sensors, kind="actuator")
    members: dict[str, Api] = {}
    for role in ("viewer", "operator", "admin"):
        user = unique(role)
        shared_admin.user(user, PASSWORD, farm_id=created["id"], role=role)
        members[role] = Api(shared_bridge.url, user, PASSWORD)
    try:
        yield Farm(
            created["id"],
            name,
            dev["device"]["id"],
            [s["id"] for s in dev["sensors"]],
            dev["key"],
            members,
        )
    finally:
        for api in members.values():
            api.close()


def error(r: httpx.Response) -> tuple[int, str, str | None]:
    body = r.json()["error"]
    return r.status_code, body["code"], body.get("field")


# Farms: rename.


def test_farm_rename_by_its_admin_sets_name_and_title(farm: Farm, shared_admin: Api) -> None:
    """A farm admin renames the farm; a title left out follows the name as at creation, one
    given stays; the farm list shows the new name."""
    owner = farm.members["admin"]
    new_name = unique("renamed")
    got = owner.ok("PATCH", f"/api/v1/farms/{farm.id}", json={"name": new_name})
    assert (got["name"], got["title"]) == (new_name, new_name)
    got = owner.ok("PATCH", f"/api/v1/farms/{farm.id}", json={"title": "Greenhouse 2"})
    assert (got["name"], got["title"]) == (new_name, "Greenhouse 2")
    listed = {f["id"]: f["name"] for f in shared_admin.ok("GET", "/api/v1/farms")}
    assert listed[farm.id] == new_name


def test_farm_rename_to_a_taken_name_is_a_conflict(farm: Farm, shared_admin: Api) -> None:
    """Another farm's name is 409 conflict, and the farm keeps its name."""
    other = shared_admin.farm(unique("taken"))
    r = farm.members["admin"].http.patch(f"/api/v1/farms/{farm.id}", json={"name": other["name"]})
    assert error(r) == (409, "conflict", None)
    assert shared_admin.ok("GET", f"/api/v1/farms/{farm.id}")["name"] == farm.name


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "bad name"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"title": "t" * 201}, "title"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_farm_rename_refuses_a_bad_body(farm: Farm, body: dict[str, Any], field: str) -> None:
    """A name that a farm could not be created with, or an unknown field, is 422 invalid."""
    r = farm.members["admin"].http.patch(f"/api/v1/farms/{farm.id}", json=body)
    assert error(r) == (422, "invalid", field)


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_farm_rename_needs_the_admin_role(farm: Farm, role: str) -> None:
    """A viewer or operator of the farm gets 403 forbidden."""
    r = farm.members[role].http.patch(f"/api/v1/farms/{farm.id}", json={"title": "x"})
    assert error(r) == (403, "forbidden", None)


def test_farm_rename_of_an_unknown_farm_is_not_found(shared_admin: Api) -> None:
    """A global admin renaming a farm id that does not exist gets 404 not_found."""
    r = shared_admin.http.patch("/api/v1/farms/987654321", json={"title": "x"})
    assert error(r) == (404, "not_found", None)


# Farms: delete.


def test_farm_delete_is_the_global_admins_and_removes_everything(
    shared_bridge: Bridge, farm: Farm, shared_admin: Api
) -> None:
    """A farm admin gets 403; the global admin's delete is 204, after which the farm, its
    device and sensors are 404, its device key is refused, its members see no farm, and a
    second delete is 404."""
    r = farm.members["admin"].http.delete(f"/api/v1/farms/{farm.id}")
    assert error(r) == (403, "forbidden", None)
    ok = ingest(shared_bridge.url, farm.key, {"readings": [{"sensor": "temp", "value": 20.0}]})
    assert ok.status_code == 200, ok.text
    assert shared_admin.http.delete(f"/api/v1/farms/{farm.id}").status_code == 204
    for path in (
        f"/api/v1/farms/{farm.id}",
        f"/api/v1/farms/{farm.id}/snapshot",
        f"/api/v1/devices/{farm.device_id}",
        f"/api/v1/sensors/{farm.sensor_ids[0]}/readings",
    ):
        assert error(shared_admin.http.get(path)) == (404, "not_found", None), path
    late = ingest(shared_bridge.url, farm.key, {"readings": [{"sensor": "temp", "value": 21.0}]})
    assert late.status_code == 401, late.text
    assert farm.members["viewer"].ok("GET", "/api/v1/farms") == []
    assert farm.members["viewer"].ok("GET", "/api/v1/me")["roles"] == {}
    assert error(shared_admin.http.delete(f"/api/v1/farms/{farm.id}")) == (404, "not_found", None)


async def test_farm_delete_ends_every_live_subscription(
    shared_bridge: Bridge, farm: Farm, shared_admin: Api
) -> None:
    """The global admin's and a viewer's sockets subscribed to the farm each get
    `unsubscribed` with reason `farm_deleted` and stay open; a display screen of the farm is
    closed with 4001; subscribing again is not_found."""
    url = shared_bridge.url
    display = shared_admin.ok("POST", f"/api/v1/farms/{farm.id}/displays", json={"name": "wall"})
    r = httpx.post(f"{url}/api/v1/auth/display-token", json={"secret": display["secret"]})
    screen_token = r.json()["access_token"]
    probes = [await Probe.open(url) for _ in range(3)]
    try:
        tokens = [shared_admin.token, farm.members["viewer"].token, screen_token]
        for probe, token in zip(probes, tokens, strict=True):
            await probe.auth(token)
            await probe.send({"type": "subscribe", "farm": farm.id, "id": 1})
            assert (await probe.expect("subscribed"))["farm"] == farm.id
        assert shared_admin.http.delete(f"/api/v1/farms/{farm.id}").status_code == 204
        for probe in probes:
            ended = await probe.expect("unsubscribed")
            assert (ended["farm"], ended["reason"]) == (farm.id, "farm_deleted")
        assert await probes[2].close_code() == 4001
        admin_probe = probes[0]
        await admin_probe.send({"type": "subscribe", "farm": farm.id, "id": 2})
        again = await admin_probe.recv()
        assert (again["type"], again["code"]) == ("error", "not_found")
        await admin_probe.send({"type": "ping", "id": 3})
        assert (await admin_probe.expect("pong"))["id"] == 3
    finally:
        for probe in probes:
            await probe.close()


# Device profiles.


def test_device_profile_patch_sets_zone_and_confirm_commands(farm: Farm) -> None:
    """A new device has no zone and confirms commands; a farm admin's PATCH sets name,
    title, zone and confirm_commands, which the device, the device list and the snapshot
    show; a zone of blanks is no zone; a field left out stays."""
    owner = farm.members["admin"]
    path = f"/api/v1/devices/{farm.device_id}"
    before = owner.ok("GET", path)
    assert (before["zone"], before["confirm_commands"]) == (None, True)
    body = {"name": "pump-main", "title": "Main pump", "zone": "House 2", "confirm_commands": False}
    got = owner.ok("PATCH", path, json=body)
    assert {k: got[k] for k in body} == body
    snap = owner.ok("GET", f"/api/v1/farms/{farm.id}/snapshot")["devices"][0]
    assert {k: snap[k] for k in body} == body
    listed = owner.ok("GET", f"/api/v1/farms/{farm.id}/devices")[0]
    assert {k: listed[k] for k in body} == body
    got = owner.ok("PATCH", path, json={"zone": "   "})
    assert (got["zone"], got["confirm_commands"], got["name"]) == (None, False, "pump-main")


async def test_device_profile_reaches_the_websocket_snapshot(
    shared_bridge: Bridge, farm: Farm
) -> None:
    """The zone and confirm_commands set by PATCH are in the snapshot a new subscriber gets."""
    owner = farm.members["admin"]
    owner.ok("PATCH", f"/api/v1/devices/{farm.device_id}", json={"zone": "North bay"})
    probe = await Probe.open(shared_bridge.url)
    try:
        await probe.auth(owner.token)
        await probe.send({"type": "subscribe", "farm": farm.id, "id": 1})
        (dev,) = (await probe.expect("subscribed"))["snapshot"]["devices"]
        assert (dev["zone"], dev["confirm_commands"]) == ("North bay", True)
    finally:
        await probe.close()


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"zone": "z" * 65}, 422, "invalid", "zone"),
        ({"confirm_commands": "maybe"}, 422, "invalid", "confirm_commands"),
        ({"name": "no spaces"}, 422, "invalid", "name"),
        ({"title": "t" * 201}, 422, "invalid", "title"),
    ],
)
def test_device_profile_patch_refuses_bad_fields(
    farm: Farm, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    """Each bad field is 422 invalid naming it, and the device is unchanged."""
    owner = farm.members["admin"]
    path = f"/api/v1/devices/{farm.device_id}"
    before = owner.ok("GET", path)
    assert error(owner.http.patch(path, json=body)) == (status, code, field)
    assert owner.ok("GET", path) == before


def test_device_profile_patch_refuses_a_taken_name_and_weaker_roles(farm: Farm) -> None:
    """Another device's name on the farm is 409 conflict; an operator gets 403."""
    owner = farm.members["admin"]
    owner.ok("POST", f"/api/v1/farms/{farm.id}/devices", json={"name": "fan", "kind": "actuator"})
    r = owner.http.patch(f"/api/v1/devices/{farm.device_id}", json={"name": "fan"})
    assert error(r) == (409, "conflict", None)
    r = farm.members["operator"].http.patch(
        f"/api/v1/devices/{farm.device_id}", json={"confirm_commands": False}
    )
    assert error(r) == (403, "forbidden", None)


# Sensor ranges.


def test_sensor_patch_sets_range_and_ingest_follows_it(shared_bridge: Bridge, farm: Farm) -> None:
    """A farm admin sets a sensor's unit and range; a reading outside the new range is then
    refused (422 naming the value) and one inside it stored; a bound set to null is gone."""
    owner = farm.members["admin"]
    path = f"/api/v1/sensors/{farm.sensor_ids[0]}"
    got = owner.ok("PATCH", path, json={"unit": "°C", "min": 5, "max": 35})
    assert (got["unit"], got["min"], got["max"]) == ("°C", 5, 35)
    r = ingest(shared_bridge.url, farm.key, {"readings": [{"sensor": "temp", "value": 40.0}]})
    assert error(r) == (422, "invalid", "readings[0].value")
    r = ingest(shared_bridge.url, farm.key, {"readings": [{"sensor": "temp", "value": 30.0}]})
    assert r.status_code == 200, r.text
    got = owner.ok("PATCH", path, json={"max": None})
    assert (got["unit"], got["min"], got["max"]) == ("°C", 5, None)
    r = ingest(shared_bridge.url, farm.key, {"readings": [{"sensor": "temp", "value": 40.0}]})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"min": 10, "max": 10}, "min"),
        ({"min": 90}, "min"),
        ({"max": -50}, "min"),
        ({"unit": "u" * 17}, "unit"),
        ({"min": "low"}, "min"),
        ({"name": "renamed"}, "name"),
    ],
)
def test_sensor_patch_refuses_a_bad_range(farm: Farm, body: dict[str, Any], field: str) -> None:
    """min not below max (given, or with the bound kept: -40..80), a too long unit, a
    non-number or an unknown field is 422 invalid naming it; the sensor is unchanged."""
    owner = farm.members["admin"]
    path = f"/api/v1/sensors/{farm.sensor_ids[0]}"
    before = owner.ok("GET", f"/api/v1/farms/{farm.id}/sensors")
    assert error(owner.http.patch(path, json=body)) == (422, "invalid", field)
    assert owner.ok("GET", f"/api/v1/farms/{farm.id}/sensors") == before


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("operator", 403)])
def test_sensor_patch_needs_the_admin_role(farm: Farm, role: str, status: int) -> None:
    """A viewer or operator of the farm gets 403 forbidden."""
    r = farm.members[role].http.patch(f"/api/v1/sensors/{farm.sensor_ids[0]}", json={"min": 0})
    assert error(r) == (status, "forbidden", None)


def test_sensor_patch_of_another_farm_is_not_found(farm: Farm, shared_admin: Api) -> None:
    """A farm admin of this farm gets 404 for a sensor of another farm, as for no sensor."""
    other = shared_admin.farm(unique("other"))
    dev = shared_admin.device(other["id"], "probe")
    r = farm.members["admin"].http.patch(
        f"/api/v1/sensors/{dev['sensors'][0]['id']}", json={"min": 0}
    )
    assert error(r) == (404, "not_found", None)


# CSV export of a sensor set.


def _csv(r: httpx.Response) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(r.text)))


def test_csv_export_of_a_chosen_sensor_set(shared_bridge: Bridge, farm: Farm) -> None:
    """`sensor` repeated picks the sensors exported; without it every sensor's readings
    come; a viewer may export."""
    now_ms = int(time.time() * 1000)
    readings = [
        {"sensor": "temp", "value": 21.5, "ts": now_ms - 3000},
        {"sensor": "hum", "value": 60.0, "ts": now_ms - 2000},
        {"sensor": "temp", "value": 22.0, "ts": now_ms - 1000},
    ]
    assert ingest(shared_bridge.url, farm.key, {"readings": readings}).status_code == 200
    viewer = farm.members["viewer"]
    path = f"/api/v1/farms/{farm.id}/readings.csv"
    window = {"start": now_ms - 60_000, "end": now_ms + 60_000}
    temp_only = _csv(viewer.http.get(path, params={**window, "sensor": farm.sensor_ids[0]}))
    assert [(r["sensor"], float(r["value"])) for r in temp_only] == [("temp", 21.5), ("temp", 22.0)]
    assert all(r["device"] == "pump-1" for r in temp_only)
    both = _csv(viewer.http.get(path, params={**window, "sensor": farm.sensor_ids}))
    assert [r["sensor"] for r in both] == ["temp", "hum", "temp"]
    assert len(_csv(viewer.http.get(path, params=window))) == 3


def test_csv_export_refuses_a_sensor_of_another_farm(
    shared_bridge: Bridge, farm: Farm, shared_admin: Api
) -> None:
    """A sensor id not of this farm is 422 invalid naming `sensor`, before anything streams;
    a missing token is 401."""
    other = shared_admin.farm(unique("other"))
    dev = shared_admin.device(other["id"], "probe")
    r = farm.members["viewer"].http.get(
        f"/api/v1/farms/{farm.id}/readings.csv",
        params={"sensor": [farm.sensor_ids[0], dev["sensors"][0]["id"]]},
    )
    assert error(r) == (422, "invalid", "sensor")
    anon = httpx.get(f"{shared_bridge.url}/api/v1/farms/{farm.id}/readings.csv")
    assert error(anon) == (401, "unauthenticated", None)
