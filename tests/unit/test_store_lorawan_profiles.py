"""The store's LoRaWAN device profiles: set, replace, remove, and gone with their device."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from farmbridge.domain import DeviceKind
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import NotFound
from farmbridge.domain.lorawan_profiles import LorawanProfile, ProfileField
from farmbridge.store.sql import SqlStore

T0 = 1_700_000_000_000


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(database_url, clock=FakeClock(wall_ms=T0))
    await s.start()
    yield s
    await s.close()


async def _device(store: SqlStore) -> int:
    farm = await store.create_farm("lora", "Lora")
    dev = await store.create_device(farm.id, "probe", DeviceKind.SENSOR_NODE, "Probe", "h", [])
    return dev.id


async def test_profile_is_stored_replaced_and_removed(store: SqlStore) -> None:
    """put stores the fields as given, a second put replaces them, delete removes them."""
    device_id = await _device(store)
    assert await store.lorawan_profile(device_id) is None
    first = LorawanProfile(
        device_id,
        (
            ProfileField("soil.moisture", "soil_moisture", "%"),
            ProfileField("conductivity", "soil_ec", "mS/cm", 0.001, 0.0),
            ProfileField("air.temperature", "air_f", "°F", 1.8, 32.0),
        ),
        T0,
    )
    await store.put_lorawan_profile(first)
    assert await store.lorawan_profile(device_id) == first
    second = LorawanProfile(device_id, (ProfileField("battery", "battery_pct", "%"),), T0 + 1)
    await store.put_lorawan_profile(second)
    assert await store.lorawan_profile(device_id) == second
    assert await store.delete_lorawan_profile(device_id)
    assert not await store.delete_lorawan_profile(device_id)
    assert await store.lorawan_profile(device_id) is None


async def test_profile_of_an_unknown_device_is_not_found(store: SqlStore) -> None:
    """A profile for a device that does not exist is refused, not stored."""
    with pytest.raises(NotFound):
        await store.put_lorawan_profile(LorawanProfile(424242, (), T0))


async def test_deleting_the_device_deletes_its_profile(store: SqlStore) -> None:
    """The profile goes with its device, so a new device never inherits it."""
    device_id = await _device(store)
    await store.put_lorawan_profile(LorawanProfile(device_id, (ProfileField("a", "b"),), T0))
    await store.delete_device(device_id)
    assert await store.lorawan_profile(device_id) is None
