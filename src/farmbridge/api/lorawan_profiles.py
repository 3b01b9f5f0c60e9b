"""A LoRaWAN device's profile: decoded field -> sensor name, unit, scale and offset."""

from __future__ import annotations

from fastapi import APIRouter

from farmbridge.api.deps import Svc, Who
from farmbridge.api.lorawan_profile_schemas import LorawanProfileIn, LorawanProfileOut
from farmbridge.api.routing import BoundedRoute
from farmbridge.domain.bounds import PathId

router = APIRouter(prefix="/api/v1", tags=["LoRaWAN profiles"], route_class=BoundedRoute)


@router.get("/devices/{device_id}/lorawan-profile")
async def get_profile(device_id: PathId, svc: Svc, who: Who) -> LorawanProfileOut:
    """The device's profile (farm admin); 404 when it has none."""
    return LorawanProfileOut.of(await svc.lorawan_profiles.get(who, device_id))


@router.put("/devices/{device_id}/lorawan-profile")
async def put_profile(
    device_id: PathId, body: LorawanProfileIn, svc: Svc, who: Who
) -> LorawanProfileOut:
    """Sets the device's profile, replacing any (farm admin). Its uplinks' decoded fields
    named here are stored as the given sensor, in the given unit, as `value * scale +
    offset`; other fields as before. Applies to uplinks received from now on."""
    fields = [f.to_domain() for f in body.fields]
    return LorawanProfileOut.of(await svc.lorawan_profiles.put(who, device_id, fields))


@router.delete("/devices/{device_id}/lorawan-profile", status_code=204)
async def delete_profile(device_id: PathId, svc: Svc, who: Who) -> None:
    """Removes the device's profile (farm admin); 404 when it has none."""
    await svc.lorawan_profiles.delete(who, device_id)
