"""The store's farm administration on SQLite and PostgreSQL: rename and delete a farm, a
device's profile, a sensor's range, and the CSV export of a sensor set."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from farmbridge.domain import (
    DeviceKind,
    DeviceProfile,
    EventIn,
    EventLevel,
    IngestBatch,
    ReadingIn,
    Role,
    RuleKind,
    RuleSpec,
    Severity,
)
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import Conflict, NotFound
from farmbridge.domain.lorawan_profiles import LorawanProfile, ProfileField
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.store.schema import alarm_watches, ingest_messages, lorawan_profiles, metadata
from farmbridge.store.sql import SqlStore
from farmbridge.store.sql_devices import FARM_TABLES

T0 = 1_700_000_000_000
HOT = RuleSpec("Too hot", RuleKind.ABOVE, Severity.CRITICAL, sensor_name="temp", threshold=30.0)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(database_url, clock=FakeClock(wall_ms=T0))
    await s.start()
    yield s
    await s.close()


async def _populated_farm(store: SqlStore, name: str) -> tuple[int, int, int]:
    """A farm with one row in every table that holds farm data; (farm, device, sensor)."""
    farm = await store.create_farm(name, name.upper())
    dev = await store.create_device(
        farm.id, "pump", DeviceKind.ACTUATOR, "", f"hash-{name}", [SensorSpec("temp", "C")]
    )
    (sensor,) = await store.list_sensors(device_id=dev.id)
    await store.create_alarm_rule(farm.id, HOT, by=None, username="ann")
    await store.ingest(
        IngestBatch(
            dev.id,
            farm.id,
            T0,
            readings=(ReadingIn(sensor.id, 31.0, T0),),
            events=(EventIn(EventLevel.INFO, "boot", "hello", T0),),
            message_id=f"m-{name}",
        )
    )
    await store.create_command(dev.id, "on", {}, created_by=None, expires_ms=T0 + 60_000)
    user = await store.create_user(f"u-{name}", "not-a-hash", is_admin=False)
    await store.set_membership(user.id, farm.id, Role.VIEWER)
    await store.create_display(
        farm.id, "wall", secret_hash=f"s-{name}", token_key="k", created_by=None, expires_ms=None
    )
    await store.note_pending_device(farm.id, "stranger", "mqtt", "{}", T0)
    await store.create_webhook(
        farm.id, "http://127.0.0.1:9/", "secret", description="", enabled=True, created_by=None
    )
    await store.set_email_recipients(farm.id, ["ops@example.com"])
    await store.put_lorawan_profile(LorawanProfile(dev.id, (ProfileField("a", "temp"),), T0))
    await store.roll_up(farm.id)
    await store.dispatch_outbox(T0, 100)
    removed = await store.create_device(farm.id, "old", DeviceKind.ACTUATOR, "", f"old-{name}")
    await store.delete_device(removed.id)
    return farm.id, dev.id, sensor.id


def _counts(store: SqlStore, farm_id: int, device_id: int) -> dict[str, int]:
    """Rows of the farm per table, with the tables keyed by device or rule."""
    with store.engine.connect() as c:
        out = {
            t.name: c.execute(
                select(func.count()).select_from(t).where(t.c.farm_id == farm_id)
            ).scalar_one()
            for t in FARM_TABLES
        }
        for t in (ingest_messages, lorawan_profiles):
            out[t.name] = c.execute(
                select(func.count()).select_from(t).where(t.c.device_id == device_id)
            ).scalar_one()
    return out


def _watches(store: SqlStore) -> int:
    with store.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(alarm_watches)).scalar_one())


def test_farm_tables_name_every_table_with_a_farm_id() -> None:
    """A table added later with a farm_id column is emptied by a farm's deletion too."""
    with_farm = {t.name for t in metadata.sorted_tables if "farm_id" in t.c}
    assert with_farm == {t.name for t in FARM_TABLES}


async def test_farm_delete_removes_every_row_of_that_farm_only(store: SqlStore) -> None:
    """After deleting farm A, no table holds a row of it, farm B keeps all of its rows, and
    the answer names A's device, display and member for the caches."""
    a, dev_a, _ = await _populated_farm(store, "a")
    b, dev_b, _ = await _populated_farm(store, "b")
    before_a = _counts(store, a, dev_a)
    before_b = _counts(store, b, dev_b)
    assert [k for k, n in before_a.items() if n == 0] == []
    watches = _watches(store)
    assert watches >= 2  # one rule each, watching its sensor
    gone = await store.delete_farm(a)
    assert gone.farm_id == a
    assert gone.device_ids == (dev_a,)
    assert len(gone.display_ids) == 1
    assert len(gone.member_ids) == 1
    assert gone.pending_names == ("stranger",)
    assert _counts(store, a, dev_a) == dict.fromkeys(before_a, 0)
    assert _counts(store, b, dev_b) == before_b
    assert _watches(store) == watches // 2  # farm B's rule watches on
    with pytest.raises(NotFound):
        await store.get_farm(a)
    assert [f.id for f in await store.list_farms()] == [b]
    with pytest.raises(NotFound):
        await store.delete_farm(a)


async def test_ingest_for_a_farm_deleted_meanwhile_is_not_found(store: SqlStore) -> None:
    """A batch of a device whose farm was deleted after the device was looked up stores
    nothing and raises NotFound; the store goes on serving other farms."""
    a, dev_a, sensor_a = await _populated_farm(store, "gone")
    b, dev_b, sensor_b = await _populated_farm(store, "stays")
    await store.delete_farm(a)
    with pytest.raises(NotFound):
        await store.ingest(IngestBatch(dev_a, a, T0, readings=(ReadingIn(sensor_a, 1.0, T0 + 5),)))
    assert _counts(store, a, dev_a)["readings"] == 0
    done = await store.ingest(
        IngestBatch(dev_b, b, T0, readings=(ReadingIn(sensor_b, 2.0, T0 + 5),))
    )
    assert done.last_seq is not None


async def test_farm_delete_frees_its_name(store: SqlStore) -> None:
    """A farm of the deleted one's name can be created again, empty."""
    a, _, _ = await _populated_farm(store, "again")
    await store.delete_farm(a)
    again = await store.create_farm("again", "")
    assert (again.last_seq, await store.list_devices(again.id)) == (0, [])


async def test_farm_rename_sets_name_and_title_and_refuses_a_taken_name(store: SqlStore) -> None:
    """A rename changes name and title; another farm's name is a Conflict, the own is fine."""
    one = await store.create_farm("one", "One")
    await store.create_farm("two", "Two")
    renamed = await store.rename_farm(one.id, "uno", "Uno")
    assert (renamed.name, renamed.title, renamed.epoch) == ("uno", "Uno", one.epoch)
    assert (await store.get_farm_by_name("uno")).id == one.id
    with pytest.raises(Conflict):
        await store.rename_farm(one.id, "two", "x")
    assert (await store.rename_farm(one.id, "uno", "Still")).title == "Still"
    with pytest.raises(NotFound):
        await store.rename_farm(424242, "free", "")


async def test_device_profile_defaults_and_set(store: SqlStore) -> None:
    """A new device has no zone and asks before commands; the profile sets name, title,
    zone and confirm_commands, and a name of another device of the farm is a Conflict."""
    farm = await store.create_farm("f", "")
    dev = await store.create_device(farm.id, "pump-1", DeviceKind.ACTUATOR, "Pump", "h1")
    await store.create_device(farm.id, "pump-2", DeviceKind.ACTUATOR, "", "h2")
    assert (dev.zone, dev.confirm_commands) == (None, True)
    changed = await store.set_device_profile(
        dev.id, DeviceProfile("main-pump", "Main pump", "House 2", confirm_commands=False)
    )
    assert (changed.name, changed.title, changed.zone, changed.confirm_commands) == (
        "main-pump",
        "Main pump",
        "House 2",
        False,
    )
    assert await store.get_device(dev.id) == changed
    with pytest.raises(Conflict):
        await store.set_device_profile(dev.id, DeviceProfile("pump-2", "", None, True))
    cleared = await store.set_device_profile(dev.id, DeviceProfile("main-pump", "", None, True))
    assert (cleared.zone, cleared.confirm_commands) == (None, True)


async def test_sensor_range_set_and_removed(store: SqlStore) -> None:
    """The unit and bounds are set, and a bound set to None is gone."""
    farm = await store.create_farm("f", "")
    dev = await store.create_device(
        farm.id, "node", DeviceKind.SENSOR_NODE, "", "h", [SensorSpec("temp", "C", -40, 80)]
    )
    (sensor,) = await store.list_sensors(device_id=dev.id)
    changed = await store.set_sensor_range(sensor.id, "°C", -10.5, 50)
    assert (changed.unit, changed.min_value, changed.max_value) == ("°C", -10.5, 50)
    assert (await store.set_sensor_range(sensor.id, "°C", None, 50)).min_value is None
    with pytest.raises(NotFound):
        await store.set_sensor_range(424242, "", None, None)


async def test_export_readings_of_a_sensor_set_only(store: SqlStore) -> None:
    """With sensor ids, only their readings are exported, in seq order."""
    farm = await store.create_farm("f", "")
    dev = await store.create_device(
        farm.id,
        "node",
        DeviceKind.SENSOR_NODE,
        "",
        "h",
        [SensorSpec("temp", "C"), SensorSpec("hum", "%"), SensorSpec("co2", "ppm")],
    )
    t, h, c = (s.id for s in await store.list_sensors(device_id=dev.id))
    await store.ingest(
        IngestBatch(
            dev.id,
            farm.id,
            T0,
            readings=tuple(ReadingIn(s, float(i), T0 + i) for i, s in enumerate((t, h, c, t))),
        )
    )
    rows = await store.export_readings(farm.id, T0, T0 + 10, sensor_ids=[t, c])
    assert [(r.sensor, r.value) for r in rows] == [("temp", 0.0), ("co2", 2.0), ("temp", 3.0)]
    assert len(await store.export_readings(farm.id, T0, T0 + 10)) == 4
