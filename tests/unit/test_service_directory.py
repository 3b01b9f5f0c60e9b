"""The caches of the ingest path (device directory, broker-named devices), on a FakeClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from farmbridge.domain import DeviceKind
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import Unauthenticated
from farmbridge.service.bundle import Services
from farmbridge.service.directory import (
    CONNECTED_MAX_AGE_S,
    DEGRADED_MAX_AGE_S,
    MISS_TTL_S,
    DeviceDirectory,
)
from farmbridge.service.named_devices import FARM_MISS_TTL_S, NOTE_EVERY_S
from tests.unit.bridge_services import running_services


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def svc(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Services]:
    async with running_services(tmp_path, clock) as services:
        yield services


async def test_directory_remembers_a_miss_until_its_ttl(svc: Services, clock: FakeClock) -> None:
    """A name not found stays not found for MISS_TTL_S, then the store is asked again."""
    farm = await svc.store.create_farm("f", "")
    directory = DeviceDirectory(svc.store, clock=clock)
    assert await directory.by_name(farm.id, "late") is None
    await svc.store.create_device(farm.id, "late", DeviceKind.SENSOR_NODE, "", "hash-late")
    clock.advance(MISS_TTL_S / 2)
    assert await directory.by_name(farm.id, "late") is None
    clock.advance(MISS_TTL_S / 2)
    entry = await directory.by_name(farm.id, "late")
    assert entry is not None
    assert entry.device.name == "late"


async def test_unknown_farm_is_looked_up_again_after_its_miss_ttl(
    svc: Services, clock: FakeClock
) -> None:
    """A topic's farm that does not exist is remembered as missing for FARM_MISS_TTL_S."""
    assert await svc.named_devices.farm_id("later") is None
    farm = await svc.store.create_farm("later", "")
    assert await svc.named_devices.farm_id("later") is None
    clock.advance(FARM_MISS_TTL_S)
    assert await svc.named_devices.farm_id("later") == farm.id


async def test_unknown_device_is_noted_once_per_interval(svc: Services, clock: FakeClock) -> None:
    """However fast an unregistered device sends, its pending record is written at most once
    per NOTE_EVERY_S, stamped with the clock's wall time."""
    farm = await svc.store.create_farm("f", "")
    for _ in range(3):
        assert await svc.named_devices.device(farm.id, "ghost", source="mqtt", sample=b"{}") is None
    (pending,) = await svc.store.list_pending_devices(farm.id)
    assert (pending.messages, pending.first_seen_ms) == (1, clock.wall_ms())
    clock.advance(NOTE_EVERY_S)
    await svc.named_devices.device(farm.id, "ghost", source="mqtt", sample=b"{}")
    (pending,) = await svc.store.list_pending_devices(farm.id)
    assert (pending.messages, pending.last_seen_ms) == (2, clock.wall_ms())


async def _keyed(svc: Services, farm_name: str, key_hash: str) -> int:
    farm = await svc.store.create_farm(farm_name, "")
    device = await svc.store.create_device(farm.id, "d", DeviceKind.SENSOR_NODE, "", key_hash)
    return device.id


async def test_directory_trusts_an_entry_for_ever_without_a_backplane(
    svc: Services, clock: FakeClock
) -> None:
    """One instance makes every change itself: an entry stays until it is forgotten."""
    device_id = await _keyed(svc, "f", "old")
    directory = DeviceDirectory(svc.store, clock=clock)
    directory.backplane_state("off")
    await directory.by_key_hash("old")
    await svc.store.set_device_key_hash(device_id, "new")  # as another process would
    clock.advance(CONNECTED_MAX_AGE_S * 10)
    assert (await directory.by_key_hash("old")).device.id == device_id


async def test_directory_rereads_after_the_degraded_bound_while_redis_is_down(
    svc: Services, clock: FakeClock
) -> None:
    """While signals cannot be heard an old key is accepted for DEGRADED_MAX_AGE_S at most."""
    device_id = await _keyed(svc, "f", "old")
    directory = DeviceDirectory(svc.store, clock=clock)
    directory.backplane_state("degraded")
    await directory.by_key_hash("old")
    await svc.store.set_device_key_hash(device_id, "new")  # on another instance, unheard
    clock.advance(DEGRADED_MAX_AGE_S / 2)
    assert (await directory.by_key_hash("old")).device.id == device_id
    clock.advance(DEGRADED_MAX_AGE_S / 2)
    with pytest.raises(Unauthenticated):
        await directory.by_key_hash("old")


async def test_directory_rereads_after_the_connected_backstop(
    svc: Services, clock: FakeClock
) -> None:
    """A signal Redis lost leaves an old key for CONNECTED_MAX_AGE_S at most."""
    device_id = await _keyed(svc, "f", "old")
    directory = DeviceDirectory(svc.store, clock=clock)
    directory.backplane_state("ok")
    await directory.by_key_hash("old")
    await svc.store.set_device_key_hash(device_id, "new")
    clock.advance(CONNECTED_MAX_AGE_S - 1)
    assert (await directory.by_key_hash("old")).device.id == device_id
    clock.advance(1)
    with pytest.raises(Unauthenticated):
        await directory.by_key_hash("old")


async def test_directory_drops_everything_when_the_backplane_state_changes(
    svc: Services, clock: FakeClock
) -> None:
    """Signals may be missed around a disconnect or reconnect: nothing cached survives it."""
    device_id = await _keyed(svc, "f", "old")
    directory = DeviceDirectory(svc.store, clock=clock)
    directory.backplane_state("ok")
    await directory.by_key_hash("old")
    await svc.store.set_device_key_hash(device_id, "new")
    directory.backplane_state("degraded")
    with pytest.raises(Unauthenticated):
        await directory.by_key_hash("old")


async def test_directory_does_not_cache_a_read_a_drop_overtook(
    svc: Services, clock: FakeClock
) -> None:
    """A signal that lands while the old row is being read is not undone by that read."""
    device_id = await _keyed(svc, "f", "old")
    directory = DeviceDirectory(svc.store, clock=clock)
    directory.backplane_state("ok")
    read = svc.store.get_device_by_key_hash

    async def slow_read(key_hash: str) -> Any:
        device = await read(key_hash)
        directory.drop_device(device_id)  # the rotation's signal, mid-read
        await svc.store.set_device_key_hash(device_id, "new")
        return device

    directory._store = cast(
        Any, SimpleNamespace(get_device_by_key_hash=slow_read, list_sensors=svc.store.list_sensors)
    )
    assert (await directory.by_key_hash("old")).device.id == device_id  # the read in flight
    directory._store = svc.store
    with pytest.raises(Unauthenticated):
        await directory.by_key_hash("old")


async def test_forgetting_tells_listeners_and_dropping_does_not(
    svc: Services, clock: FakeClock
) -> None:
    """A change made here goes to the other instances; one heard from them goes nowhere."""
    directory = DeviceDirectory(svc.store, clock=clock)
    told: list[int | None] = []
    directory.add_forget_listener(told.append)
    directory.forget_device(7)
    directory.forget_misses()
    directory.drop_device(8)
    directory.drop_misses()
    assert told == [7, None]
