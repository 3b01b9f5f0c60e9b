"""The farm service's administration on a FakeClock: what a rename or a deletion makes the
caches forget and whom it tells, and the checks on a device's profile, a sensor's range
and an export's sensors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from farmbridge.domain import DeviceKind, Role
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.displays import display_subject
from farmbridge.domain.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.service.access import Principal
from farmbridge.service.bundle import Services
from farmbridge.service.connections import ConnectionInfo
from farmbridge.service.farms import UNSET
from tests.unit.bridge_services import admin, running_services


class Listening:
    """A live connection of one user or display that notes each access re-check asked."""

    def __init__(self, cid: str, subject: int, told: list[int]) -> None:
        self.id = cid
        self._subject = subject
        self._told = told

    @property
    def user_id(self) -> int | None:
        return self._subject

    def info(self) -> ConnectionInfo:
        raise AssertionError("not listed here")

    def access_changed(self) -> None:
        self._told.append(self._subject)

    def close_soon(self, code: int, reason: str) -> None:
        raise AssertionError("not closed here")

    def farm_deleted(self, farm_id: int) -> None:
        """Not subscribed to anything: nothing to end."""


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Services]:
    async with running_services(tmp_path, FakeClock()) as s:
        yield s


async def test_farm_rename_moves_the_name_lookup_and_tells_the_other_instances(
    svc: Services,
) -> None:
    """The MQTT name lookup cached for the old name is dropped, the new name (a miss
    before) is found at once, and the change listeners hear a rename (not a deletion)."""
    boss = await admin(svc)
    farm = await svc.farms.create_farm(boss, "old-name", "")
    heard: list[tuple[int, bool]] = []
    svc.farms.add_change_listener(lambda f, deleted: heard.append((f, deleted)))
    assert await svc.named_devices.farm_id("old-name") == farm.id
    assert await svc.named_devices.farm_id("new-name") is None  # a miss, remembered
    renamed = await svc.farms.rename_farm(boss, farm.id, "new-name", None)
    assert (renamed.name, renamed.title) == ("new-name", "new-name")
    assert await svc.named_devices.farm_id("old-name") is None
    assert await svc.named_devices.farm_id("new-name") == farm.id
    assert heard == [(farm.id, False)]
    await svc.farms.rename_farm(boss, farm.id, None, "Kept title")
    assert heard == [(farm.id, False)]  # the name did not change: nothing to forget


async def test_farm_delete_forgets_keys_and_channel_and_tells_members_and_displays(
    svc: Services,
) -> None:
    """After a deletion the device's cached key is refused, the farm's channel is gone, the
    access watch hears its member and its display, and the listeners hear a deletion."""
    boss = await admin(svc)
    farm = await svc.farms.create_farm(boss, "doomed", "")
    dev, key = await svc.farms.register_device(farm.id, "node", DeviceKind.SENSOR_NODE, "", [])
    member = await svc.store.create_user("member", "not-a-hash", is_admin=False)
    await svc.store.set_membership(member.id, farm.id, Role.VIEWER)
    display, _ = await svc.displays.create(boss, farm.id, "wall", expires_ms=None)
    assert (await svc.named_devices.device_by_key(key)).device.id == dev.id  # cached
    await svc.stream.channel(farm.id)
    watched: list[int] = []
    svc.farms.add_drop_handler(lambda f, deleted: watched.append(-1000 - f) if deleted else None)
    heard: list[tuple[int, bool]] = []
    svc.farms.add_change_listener(lambda f, deleted: heard.append((f, deleted)))
    told: list[int] = []
    for subject in (member.id, display_subject(display.id)):
        conn = Listening(f"c{subject}", subject, told)
        svc.connections.add(conn)
        svc.connections.authenticated(conn, subject)
    with pytest.raises(Forbidden):
        await svc.farms.delete_farm(await svc.access.reload(Principal(member)), farm.id)
    await svc.farms.delete_farm(boss, farm.id)
    with pytest.raises(Unauthenticated):
        await svc.named_devices.device_by_key(key)
    assert svc.stream.head(farm.id) == (0, "")
    assert sorted(told) == sorted([member.id, display_subject(display.id)])
    assert heard == [(farm.id, True)]
    assert watched == [-1000 - farm.id]
    with pytest.raises(NotFound):
        await svc.farms.delete_farm(boss, farm.id)


async def test_device_profile_keeps_what_is_left_out_and_checks_the_zone(svc: Services) -> None:
    """A blank zone is none, an empty title is the name, a field left out is kept, and a
    zone over 64 characters is refused naming `zone`."""
    boss = await admin(svc)
    farm = await svc.farms.create_farm(boss, "f", "")
    dev, _ = await svc.farms.register_device(farm.id, "pump", DeviceKind.ACTUATOR, "Pump", [])
    got = await svc.farms.set_device_profile(boss, dev.id, zone="  Bay 3 ", confirm_commands=False)
    assert (got.name, got.title, got.zone, got.confirm_commands) == ("pump", "Pump", "Bay 3", False)
    got = await svc.farms.set_device_profile(boss, dev.id, title="", zone=UNSET)
    assert (got.title, got.zone, got.confirm_commands) == ("pump", "Bay 3", False)
    assert (await svc.farms.set_device_profile(boss, dev.id, zone=" ")).zone is None
    with pytest.raises(ValidationFailed) as err:
        await svc.farms.set_device_profile(boss, dev.id, zone="z" * 65)
    assert err.value.field == "zone"


async def test_sensor_range_checks_min_below_max_with_the_kept_bound(svc: Services) -> None:
    """min must be below max, the one given or the one kept; a bound None is removed."""
    boss = await admin(svc)
    farm = await svc.farms.create_farm(boss, "f", "")
    dev, _ = await svc.farms.register_device(
        farm.id, "node", DeviceKind.SENSOR_NODE, "", [SensorSpec("temp", "C", -40, 80)]
    )
    (sensor,) = await svc.store.list_sensors(device_id=dev.id)
    for lo, hi in ((90.0, UNSET), (UNSET, -50.0), (5.0, 5.0)):
        with pytest.raises(ValidationFailed) as err:
            await svc.farms.set_sensor_range(boss, sensor.id, min_value=lo, max_value=hi)
        assert err.value.field == "min"
    got = await svc.farms.set_sensor_range(boss, sensor.id, unit="°C", max_value=None)
    assert (got.unit, got.min_value, got.max_value) == ("°C", -40, None)


async def test_export_refuses_a_sensor_of_another_farm(svc: Services) -> None:
    """The first chunk names a sensor not of the farm in a ValidationFailed on `sensor`."""
    boss = await admin(svc)
    a = await svc.farms.create_farm(boss, "a", "")
    b = await svc.farms.create_farm(boss, "b", "")
    dev, _ = await svc.farms.register_device(
        b.id, "node", DeviceKind.SENSOR_NODE, "", [SensorSpec("temp")]
    )
    (sensor,) = await svc.store.list_sensors(device_id=dev.id)
    with pytest.raises(ValidationFailed) as err:
        await svc.farms.export_chunk(boss, a.id, 0, 1, 0, [sensor.id])
    assert err.value.field == "sensor"
    assert await svc.farms.export_chunk(boss, b.id, 0, 1, 0, [sensor.id]) == []
