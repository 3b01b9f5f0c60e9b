"""LoRaWAN device profiles: set by a farm's admin, read by the LoRaWAN ingest path."""

from __future__ import annotations

from collections.abc import Sequence

from farmbridge.domain import Role
from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import NotFound, ValidationFailed
from farmbridge.domain.lorawan_profiles import MAX_PROFILE_FIELDS, LorawanProfile, ProfileField
from farmbridge.service.access import Principal
from farmbridge.service.farms import FarmService
from farmbridge.store.base import LorawanProfileStore


class LorawanProfileService:
    def __init__(self, store: LorawanProfileStore, farms: FarmService, *, clock: Clock) -> None:
        self._store = store
        self._farms = farms
        self._clock = clock

    async def get(self, who: Principal, device_id: int) -> LorawanProfile:
        """The device's profile; NotFound when the device or its profile does not exist
        (or the caller is no admin of its farm: the same answer)."""
        await self._farms.device(who, device_id, Role.ADMIN)
        profile = await self._store.lorawan_profile(device_id)
        if profile is None:
            raise NotFound(f"device {device_id} has no LoRaWAN profile")
        return profile

    async def put(
        self, who: Principal, device_id: int, fields: Sequence[ProfileField]
    ) -> LorawanProfile:
        """Sets the device's profile (replacing any); the farm's admins only. Raises
        ValidationFailed for two entries of one field or one sensor."""
        await self._farms.device(who, device_id, Role.ADMIN)
        if len(fields) > MAX_PROFILE_FIELDS:
            raise ValidationFailed(f"at most {MAX_PROFILE_FIELDS} fields", field="fields")
        for attr in ("field", "sensor"):
            names = [getattr(f, attr) for f in fields]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValidationFailed(f"{attr} named twice: {', '.join(twice)}", field="fields")
        profile = LorawanProfile(device_id, tuple(fields), self._clock.wall_ms())
        return await self._store.put_lorawan_profile(profile)

    async def delete(self, who: Principal, device_id: int) -> None:
        await self._farms.device(who, device_id, Role.ADMIN)
        if not await self._store.delete_lorawan_profile(device_id):
            raise NotFound(f"device {device_id} has no LoRaWAN profile")

    async def of_device(self, device_id: int) -> LorawanProfile | None:
        """The profile the ingest path applies (no role check: the network server is
        authenticated by its integration's secret)."""
        return await self._store.lorawan_profile(device_id)
