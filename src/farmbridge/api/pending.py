"""Devices heard of over MQTT or LoRaWAN but not registered: list, approve, reject, forget."""

from __future__ import annotations

from fastapi import APIRouter

from farmbridge.api.deps import Svc, Who
from farmbridge.api.routing import BoundedRoute
from farmbridge.api.schemas import ApproveIn, DeviceCreated, DeviceOut, PendingDeviceOut
from farmbridge.domain.bounds import PathId

router = APIRouter(prefix="/api/v1", tags=["pending devices"], route_class=BoundedRoute)


@router.get("/farms/{farm_id}/pending-devices")
async def list_pending(farm_id: PathId, svc: Svc, who: Who) -> list[PendingDeviceOut]:
    """Devices that sent messages to this farm without being registered (farm admin)."""
    return [PendingDeviceOut.of(p) for p in await svc.farms.list_pending(who, farm_id)]


@router.post("/pending-devices/{pending_id}/approve", status_code=201)
async def approve(pending_id: PathId, body: ApproveIn, svc: Svc, who: Who) -> DeviceCreated:
    """Registers the device under the name it reported; its next message is stored, and
    its sensors are registered as they report. The key is shown this once."""
    device, key = await svc.farms.approve_pending(who, pending_id, body.kind, body.title)
    svc.named_devices.forget(device.farm_id, device.name)
    return DeviceCreated(device=DeviceOut.of(device, svc.liveness.policy), sensors=[], key=key)


@router.post("/pending-devices/{pending_id}/reject")
async def reject(pending_id: PathId, svc: Svc, who: Who) -> PendingDeviceOut:
    """Keeps dropping the device's messages; it stays on record as rejected."""
    pending = await svc.farms.reject_pending(who, pending_id)
    return PendingDeviceOut.of(pending)


@router.delete("/pending-devices/{pending_id}", status_code=204)
async def forget(pending_id: PathId, svc: Svc, who: Who) -> None:
    """Deletes the record; a device that sends again is held as pending again."""
    pending = await svc.farms.get_pending(who, pending_id)
    await svc.farms.forget_pending(who, pending_id)
    svc.named_devices.forget(pending.farm_id, pending.name)
