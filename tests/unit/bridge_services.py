"""The services of one bridge, as the app builds them, on SQLite in a temp dir and a FakeClock."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from farmbridge.app import build_services
from farmbridge.config import Settings
from farmbridge.domain import Change, Device, DeviceKind
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.service.access import Principal
from farmbridge.service.bundle import Services
from farmbridge.store.schema import devices
from farmbridge.store.sql import SqlStore

SECRET_KEY = "unit-test-secret-" + "k" * 32


@contextlib.asynccontextmanager
async def running_services(
    tmp_path: Path, clock: FakeClock, **settings: Any
) -> AsyncIterator[Services]:
    """Started services on `clock`; `settings` override the defaults (no group window)."""
    merged: dict[str, Any] = {"commit_window_ms": 0.0, "secret_key": SECRET_KEY, **settings}
    svc = build_services(Settings(data_dir=tmp_path, **merged), clock=clock)
    await svc.store.start()
    try:
        yield svc
    finally:
        await svc.store.close()


class Heard:
    """Every change the store's listeners hear, in order."""

    def __init__(self, svc: Services) -> None:
        self.changes: list[Change] = []
        svc.store.add_listener(self.changes.extend)


async def admin(svc: Services) -> Principal:
    """A global admin (its password hash is a dummy: it never logs in)."""
    return Principal(await svc.store.create_user("admin", "not-a-hash", is_admin=True))


async def device(
    svc: Services, name: str = "node", *, sensors: tuple[SensorSpec, ...] = ()
) -> tuple[Device, str]:
    """A device (and its key) on a farm of its own name."""
    farm = await svc.store.create_farm(f"farm-{name}", "")
    kind = DeviceKind.SENSOR_NODE if sensors else DeviceKind.ACTUATOR
    return await svc.farms.register_device(farm.id, name, kind, "", list(sensors))


def already_online(store: object, device_id: int) -> None:
    """Marks a device online in the database, as if it had reported so long ago: its data
    then adds no back-online status change (tests that count seqs of readings alone)."""
    assert isinstance(store, SqlStore)
    with store.engine.begin() as conn:
        conn.execute(devices.update().where(devices.c.id == device_id).values(state="online"))
