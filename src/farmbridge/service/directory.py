"""An in-memory directory of devices and their sensors, for the ingest hot path.

The service that changes devices or sensors invalidates it; a miss reads the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from farmbridge.domain import Device, Sensor
from farmbridge.domain.errors import NotFound, Unauthenticated
from farmbridge.store import Store


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    device: Device
    sensors: dict[str, Sensor]


class DeviceDirectory:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._by_key_hash: dict[str, DeviceEntry] = {}

    async def by_key_hash(self, key_hash: str) -> DeviceEntry:
        """Raises Unauthenticated when no device has that key."""
        entry = self._by_key_hash.get(key_hash)
        if entry is not None:
            return entry
        try:
            device = await self._store.get_device_by_key_hash(key_hash)
        except NotFound:
            raise Unauthenticated("unknown device key") from None
        sensors = await self._store.list_sensors(device_id=device.id)
        entry = DeviceEntry(device, {s.name: s for s in sensors})
        self._by_key_hash[key_hash] = entry
        return entry

    def forget_device(self, device_id: int) -> None:
        for key, entry in list(self._by_key_hash.items()):
            if entry.device.id == device_id:
                del self._by_key_hash[key]
