"""An in-memory directory of devices and their sensors, for the ingest hot path.

The service that changes devices or sensors invalidates it; a miss reads the store.

With several instances, what one forgets is told to the others (`add_forget_listener`,
wired to the backplane's signals), which drop it (`drop_device`, `drop_misses`). How
long an entry may be trusted follows the backplane (`backplane_state`): for ever with no
backplane (this process makes every change), CONNECTED_MAX_AGE_S while signals are heard
(a backstop for a signal Redis lost), DEGRADED_MAX_AGE_S while they cannot be; every
change of that state drops everything, as signals may have been missed around it. So a
revoked key lives on another instance for the time a signal takes, or at most
DEGRADED_MAX_AGE_S while Redis is down, never for ever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from farmbridge.domain import Device, Sensor
from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import NotFound, Unauthenticated
from farmbridge.store import FarmStore

MISS_TTL_S: Final = 5.0
MAX_MISSES: Final = 10_000
CONNECTED_MAX_AGE_S: Final = 60.0
DEGRADED_MAX_AGE_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    device: Device
    sensors: dict[str, Sensor]


class DeviceDirectory:
    def __init__(self, store: FarmStore, *, clock: Clock) -> None:
        """Misses are remembered for MISS_TTL_S of `clock`'s monotonic time."""
        self._store = store
        self._clock = clock
        self._by_key_hash: dict[str, tuple[DeviceEntry, float]] = {}
        self._by_name: dict[tuple[int, str], tuple[DeviceEntry, float]] = {}
        self._misses: dict[tuple[int, str], float] = {}
        self._max_age_s: float | None = None
        # Bumped by every forget: a store read that began before one is not cached, so
        # a signal that lands while the old row is being read cannot be undone by it.
        self._generation = 0
        self._forget_listeners: list[Callable[[int | None], None]] = []

    def add_forget_listener(self, listener: Callable[[int | None], None]) -> None:
        """Hears of each device this process forgets (None: the misses); the backplane
        tells the other instances."""
        self._forget_listeners.append(listener)

    def backplane_state(self, status: str) -> None:
        """The backplane's status ("off", "ok", "degraded"): sets how long an entry is
        trusted, and drops everything, as signals may have been missed."""
        self._max_age_s = {"off": None, "ok": CONNECTED_MAX_AGE_S}.get(status, DEGRADED_MAX_AGE_S)
        self._generation += 1
        self._by_key_hash.clear()
        self._by_name.clear()
        self._misses.clear()

    def _fresh(self, cached: tuple[DeviceEntry, float] | None) -> DeviceEntry | None:
        if cached is None:
            return None
        entry, at = cached
        if self._max_age_s is not None and self._clock.monotonic() - at >= self._max_age_s:
            return None
        return entry

    async def by_key_hash(self, key_hash: str) -> DeviceEntry:
        """Raises Unauthenticated when no device has that key."""
        entry = self._fresh(self._by_key_hash.get(key_hash))
        if entry is not None:
            return entry
        generation, at = self._generation, self._clock.monotonic()
        try:
            device = await self._store.get_device_by_key_hash(key_hash)
        except NotFound:
            raise Unauthenticated("unknown device key") from None
        entry = await self._entry(device)
        if generation == self._generation:
            self._by_key_hash[key_hash] = (entry, at)
        return entry

    async def by_name(self, farm_id: int, name: str) -> DeviceEntry | None:
        """The device of that name on a farm, or None; a miss is remembered briefly, so a
        device that keeps sending before it is registered costs no read per message."""
        key = (farm_id, name)
        entry = self._fresh(self._by_name.get(key))
        if entry is not None:
            return entry
        missed = self._misses.get(key)
        now = self._clock.monotonic()
        if missed is not None and now - missed < MISS_TTL_S:
            return None
        generation = self._generation
        try:
            device = await self._store.get_device_by_name(farm_id, name)
        except NotFound:
            if generation == self._generation:
                self._misses[key] = now
            if len(self._misses) > MAX_MISSES:
                self._misses.clear()
            return None
        entry = await self._entry(device)
        if generation == self._generation:
            self._by_name[key] = (entry, now)
        return entry

    async def _entry(self, device: Device) -> DeviceEntry:
        sensors = await self._store.list_sensors(device_id=device.id)
        return DeviceEntry(device, {s.name: s for s in sensors})

    def forget_device(self, device_id: int) -> None:
        """After this process changed the device (key, sensors, removal); tells listeners."""
        self.drop_device(device_id)
        for listener in self._forget_listeners:
            listener(device_id)

    def drop_device(self, device_id: int) -> None:
        """Drops the device's entries (another instance changed it)."""
        self._generation += 1
        for key, (entry, _) in list(self._by_key_hash.items()):
            if entry.device.id == device_id:
                del self._by_key_hash[key]
        for name_key, (entry, _) in list(self._by_name.items()):
            if entry.device.id == device_id:
                del self._by_name[name_key]

    def forget_misses(self) -> None:
        """After a device is registered: the next message finds it at once."""
        self.drop_misses()
        for listener in self._forget_listeners:
            listener(None)

    def drop_misses(self) -> None:
        self._generation += 1
        self._misses.clear()
