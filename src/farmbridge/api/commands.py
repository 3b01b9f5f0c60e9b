"""Operator commands: create, list, inspect, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from farmbridge.api.deps import Svc, Who
from farmbridge.api.routing import BoundedRoute
from farmbridge.api.schemas import CommandIn, CommandOut
from farmbridge.domain.bounds import PathId

router = APIRouter(prefix="/api/v1", tags=["commands"], route_class=BoundedRoute)

Limit = Annotated[int, Query(ge=1, le=1_000)]


@router.post("/devices/{device_id}/commands", status_code=201)
async def create(device_id: PathId, body: CommandIn, svc: Svc, who: Who) -> CommandOut:
    """Queues a command for a device (operator role); it starts `pending`."""
    cmd = await svc.commands.create(who, device_id, body.action, body.params, body.ttl_s)
    return CommandOut.of(cmd)


@router.get("/devices/{device_id}/commands")
async def list_for_device(
    device_id: PathId, svc: Svc, who: Who, limit: Limit = 100
) -> list[CommandOut]:
    return [CommandOut.of(c) for c in await svc.commands.list_for_device(who, device_id, limit)]


@router.get("/farms/{farm_id}/commands")
async def list_for_farm(
    farm_id: PathId, svc: Svc, who: Who, limit: Limit = 100
) -> list[CommandOut]:
    return [CommandOut.of(c) for c in await svc.commands.list_for_farm(who, farm_id, limit)]


@router.get("/commands/{command_id}")
async def get(command_id: PathId, svc: Svc, who: Who) -> CommandOut:
    return CommandOut.of(await svc.commands.get(who, command_id))


@router.post("/commands/{command_id}/cancel")
async def cancel(command_id: PathId, svc: Svc, who: Who) -> CommandOut:
    """Cancels a command the device has not picked up yet; 409 once it was sent."""
    return CommandOut.of(await svc.commands.cancel(who, command_id))
