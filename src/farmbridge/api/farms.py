"""Farms, their devices and sensors, and the start-up snapshot."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter

from farmbridge.api.deps import Svc, Who
from farmbridge.api.routing import BoundedRoute
from farmbridge.api.schemas import (
    DeviceCreated,
    DeviceIn,
    DeviceOut,
    DevicePatch,
    FarmIn,
    FarmOut,
    FarmPatch,
    KeyOut,
    SensorIn,
    SensorOut,
    SensorPatch,
    SnapshotOut,
)
from farmbridge.domain import Role
from farmbridge.domain.bounds import PathId
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.service.farms import UNSET

router = APIRouter(prefix="/api/v1", tags=["farms"], route_class=BoundedRoute)

PROFILE_FIELDS: Final = frozenset({"name", "title", "zone", "confirm_commands"})


def _spec(s: SensorIn) -> SensorSpec:
    return SensorSpec(s.name, s.unit, s.min, s.max)


@router.get("/farms")
async def list_farms(svc: Svc, who: Who) -> list[FarmOut]:
    """The farms the caller has a role on (all of them for a global admin)."""
    return [FarmOut.of(f) for f in await svc.farms.list_farms(who)]


@router.post("/farms", status_code=201)
async def create_farm(body: FarmIn, svc: Svc, who: Who) -> FarmOut:
    return FarmOut.of(await svc.farms.create_farm(who, body.name, body.title))


@router.get("/farms/{farm_id}")
async def get_farm(farm_id: PathId, svc: Svc, who: Who) -> FarmOut:
    return FarmOut.of(await svc.farms.get_farm(who, farm_id))


@router.patch("/farms/{farm_id}")
async def patch_farm(farm_id: PathId, body: FarmPatch, svc: Svc, who: Who) -> FarmOut:
    """Renames the farm (farm admin): 409 conflict when another farm has the name. Devices
    on MQTT publish under the farm's name, so after a rename they must use the new one."""
    return FarmOut.of(await svc.farms.rename_farm(who, farm_id, body.name, body.title))


@router.delete("/farms/{farm_id}", status_code=204)
async def delete_farm(farm_id: PathId, svc: Svc, who: Who) -> None:
    """Deletes the farm and everything of it (global admin): devices and their keys,
    sensors, readings, events, commands, alarms and rules, members' roles, displays and
    notification targets. Live subscriptions to it end with `unsubscribed` (reason
    `farm_deleted`); its display screens' sockets close."""
    await svc.farms.delete_farm(who, farm_id)


@router.get("/farms/{farm_id}/snapshot")
async def snapshot(farm_id: PathId, svc: Svc, who: Who) -> SnapshotOut:
    """Devices with status and sensors with their latest values, as of `farm.last_seq`."""
    snap = await svc.farms.snapshot(who, farm_id)
    return SnapshotOut(
        farm=FarmOut.of(snap.farm),
        devices=[DeviceOut.of(d, svc.liveness.policy) for d in snap.devices],
        sensors=[SensorOut.of(s) for s in snap.sensors],
    )


@router.get("/farms/{farm_id}/devices")
async def list_devices(farm_id: PathId, svc: Svc, who: Who) -> list[DeviceOut]:
    return [
        DeviceOut.of(d, svc.liveness.policy) for d in await svc.farms.list_devices(who, farm_id)
    ]


@router.post("/farms/{farm_id}/devices", status_code=201)
async def create_device(farm_id: PathId, body: DeviceIn, svc: Svc, who: Who) -> DeviceCreated:
    """Creates a device (farm admin); the answer holds its key, shown this once."""
    device, key = await svc.farms.create_device(
        who, farm_id, body.name, body.kind, body.title, [_spec(s) for s in body.sensors]
    )
    sensors = [s for s in await svc.farms.list_sensors(who, farm_id) if s.device_id == device.id]
    return DeviceCreated(
        device=DeviceOut.of(device, svc.liveness.policy),
        sensors=[SensorOut.of(s) for s in sensors],
        key=key,
    )


@router.get("/devices/{device_id}")
async def get_device(device_id: PathId, svc: Svc, who: Who) -> DeviceOut:
    return DeviceOut.of(await svc.farms.device(who, device_id), svc.liveness.policy)


@router.patch("/devices/{device_id}")
async def patch_device(device_id: PathId, body: DevicePatch, svc: Svc, who: Who) -> DeviceOut:
    """Changes a device's settings (farm admin): `expected_interval_s` sets how often it
    reports (null: learn it from its data), which says when silence turns it offline;
    `name`, `title`, `zone` and `confirm_commands` are its profile (409 conflict for a name
    another device of the farm has)."""
    given = body.model_fields_set
    device = await svc.farms.device(who, device_id, Role.ADMIN)
    if given & PROFILE_FIELDS:
        device = await svc.farms.set_device_profile(
            who,
            device_id,
            name=body.name,
            title=body.title,
            zone=body.zone if "zone" in given else UNSET,
            confirm_commands=body.confirm_commands,
        )
    if "expected_interval_s" in given:
        device = await svc.farms.set_expected_interval(who, device_id, body.expected_interval_s)
    return DeviceOut.of(device, svc.liveness.policy)


@router.delete("/devices/{device_id}", status_code=204)
async def delete_device(device_id: PathId, svc: Svc, who: Who) -> None:
    await svc.farms.delete_device(who, device_id)


@router.post("/devices/{device_id}/rotate-key")
async def rotate_key(device_id: PathId, svc: Svc, who: Who) -> KeyOut:
    """Issues a new key (farm admin); the old one stops working at once."""
    return KeyOut(key=await svc.farms.rotate_key(who, device_id))


@router.get("/farms/{farm_id}/sensors")
async def list_sensors(farm_id: PathId, svc: Svc, who: Who) -> list[SensorOut]:
    return [SensorOut.of(s) for s in await svc.farms.list_sensors(who, farm_id)]


@router.patch("/sensors/{sensor_id}")
async def patch_sensor(sensor_id: PathId, body: SensorPatch, svc: Svc, who: Who) -> SensorOut:
    """Changes a sensor's unit or range (farm admin); a bound set to null is removed, one
    left out stays. 422 invalid (field `min`) unless min is below max. Readings stored stay;
    new readings outside the range are refused as at ingest."""
    given = body.model_fields_set
    sensor = await svc.farms.set_sensor_range(
        who,
        sensor_id,
        unit=body.unit,
        min_value=body.min if "min" in given else UNSET,
        max_value=body.max if "max" in given else UNSET,
    )
    return SensorOut.of(sensor)


@router.post("/devices/{device_id}/sensors", status_code=201)
async def add_sensor(device_id: PathId, body: SensorIn, svc: Svc, who: Who) -> SensorOut:
    return SensorOut.of(await svc.farms.add_sensor(who, device_id, _spec(body)))
