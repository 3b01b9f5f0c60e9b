"""The SQL store's LoRaWAN device profiles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select

from farmbridge.domain.errors import NotFound
from farmbridge.domain.lorawan_profiles import LorawanProfile, ProfileField
from farmbridge.store.database import SqlAggregate
from farmbridge.store.dialect import upsert
from farmbridge.store.schema import devices, lorawan_profiles


class SqlLorawanProfiles(SqlAggregate):
    """See farmbridge.store.base.LorawanProfileStore for the contract of each method."""

    async def lorawan_profile(self, device_id: int) -> LorawanProfile | None:
        def fn(c: Connection) -> LorawanProfile | None:
            row = c.execute(
                select(lorawan_profiles).where(lorawan_profiles.c.device_id == device_id)
            ).one_or_none()
            return None if row is None else _profile(row)

        return await self._db.read(fn)

    async def put_lorawan_profile(self, profile: LorawanProfile) -> LorawanProfile:
        values = {
            "device_id": profile.device_id,
            "fields": [_field_json(f) for f in profile.fields],
            "updated_ms": profile.updated_ms,
        }

        def fn(c: Connection) -> LorawanProfile:
            exists = c.execute(
                select(devices.c.id).where(devices.c.id == profile.device_id)
            ).scalar_one_or_none()
            if exists is None:
                raise NotFound(f"device {profile.device_id} not found")
            upsert(
                c,
                lorawan_profiles,
                key=["device_id"],
                values=values,
                on_conflict={"fields": values["fields"], "updated_ms": profile.updated_ms},
            )
            return profile

        return await self._db.write(fn)

    async def delete_lorawan_profile(self, device_id: int) -> bool:
        def fn(c: Connection) -> bool:
            done = c.execute(
                delete(lorawan_profiles).where(lorawan_profiles.c.device_id == device_id)
            )
            return bool(done.rowcount)

        return await self._db.write(fn)


def _field_json(f: ProfileField) -> dict[str, Any]:
    return {
        "field": f.field,
        "sensor": f.sensor,
        "unit": f.unit,
        "scale": f.scale,
        "offset": f.offset,
    }


def _profile(row: Any) -> LorawanProfile:
    fields = tuple(
        ProfileField(
            str(f["field"]),
            str(f["sensor"]),
            str(f.get("unit", "")),
            float(f.get("scale", 1.0)),
            float(f.get("offset", 0.0)),
        )
        for f in row.fields
    )
    return LorawanProfile(int(row.device_id), fields, int(row.updated_ms))
