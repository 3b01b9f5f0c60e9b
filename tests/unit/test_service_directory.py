"""The caches of the ingest path (device directory, broker-named devices), on a FakeClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from farmbridge.domain import DeviceKind
from farmbridge.domain.clock import FakeClock
from farmbridge.service.bundle import Services
from farmbridge.service.directory import MISS_TTL_S, DeviceDirectory
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
