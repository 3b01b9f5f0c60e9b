"""An in-memory directory of devices and their sensors, for the ingest hot path.

The service that changes devices or sensors invalidates it; a miss reads the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from farmbridge.domain import Device, Sensor
from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import NotFound, Unauthenticated
from farmbridge.store import FarmStore

MISS_TTL_S: Final = 5.0
MAX_MISSES: Final = 10_000


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    device: Device
    sensors: dict[str, Sensor]


class DeviceDirectory:
    def __init__(self, store: FarmStore, *, clock: Clock) -> None:
        """Misses are remembered for MISS_TTL_S of `clock`'s monotonic time."""
        self._store = store
        self._clock = clock
        self._by_key_hash: dict[str, DeviceEntry] = {}
        self._by_name: dict[tuple[int, str], DeviceEntry] = {}
        self._misses: dict[tuple[int, str], float] = {}

    async def by_key_hash(self, key_hash: str) -> DeviceEntry:
        """Raises Unauthenticated when no device has that key."""
        entry = self._by_key_hash.get(key_hash)
        if entry is not None:
            return entry
        try:
            device = await self._store.get_device_by_key_hash(key_hash)
        except NotFound:
            raise Unauthenticated("unknown device key") from None
        entry = await self._entry(device)
        self._by_key_hash[key_hash] = entry
        return entry

    async def by_name(self, farm_id: int, name: str) -> DeviceEntry | None:
        """The device of that name on a farm, or None; a miss is remembered briefly, so a
        device that keeps sending before it is registered costs no read per message."""
        key = (farm_id, name)
        entry = self._by_name.get(key)
        if entry is not None:
            return entry
        missed = self._misses.get(key)
        now = self._clock.monotonic()
        if missed is not None and now - missed < MISS_TTL_S:
            return None
        try:
            device = await self._store.get_device_by_name(farm_id, name)
        except NotFound:
            self._misses[key] = now
            if len(self._misses) > MAX_MISSES:
                self._misses.clear()
            return None
        entry = await self._entry(device)
        self._by_name[key] = entry
        return entry

    async def _entry(self, device: Device) -> DeviceEntry:
        sensors = await self._store.list_sensors(device_id=device.id)
        return DeviceEntry(device, {s.name: s for s in sensors})

    def forget_device(self, device_id: int) -> None:
        for key, entry in list(self._by_key_hash.items()):
            if entry.device.id == device_id:
                del self._by_key_hash[key]
        for name_key, entry in list(self._by_name.items()):
            if entry.device.id == device_id:
                del self._by_name[name_key]

    def forget_misses(self) -> None:
        """After a device is registered: the next message finds it at once."""
        self._misses.clear()
