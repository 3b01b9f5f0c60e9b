"""Users (global admins) and farm membership (farm admins)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from farmbridge.api.deps import Svc, Who
from farmbridge.api.routing import BoundedRoute
from farmbridge.api.schemas import Body, MemberOut, RoleIn, UserIn, UserOut
from farmbridge.domain.bounds import PathId

router = APIRouter(prefix="/api/v1", tags=["users"], route_class=BoundedRoute)


@router.get("/users")
async def list_users(svc: Svc, who: Who) -> list[UserOut]:
    return [UserOut.of(u) for u in await svc.users.list_users(who)]


@router.post("/users", status_code=201)
async def create_user(body: UserIn, svc: Svc, who: Who) -> UserOut:
    user = await svc.users.create_user(who, body.username, body.password, is_admin=body.is_admin)
    return UserOut.of(user)


@router.delete("/users/{user_id}", status_code=204)
async def delete_user(user_id: PathId, svc: Svc, who: Who) -> None:
    await svc.users.delete_user(who, user_id)


@router.post("/users/{user_id}/revoke-tokens", status_code=204)
async def revoke_tokens(user_id: PathId, svc: Svc, who: Who) -> None:
    await svc.access.revoke_tokens(who, user_id)


class PasswordResetIn(Body):
    password: str = Field(min_length=8, max_length=256)


@router.post("/users/{user_id}/password", status_code=204)
async def reset_password(user_id: PathId, body: PasswordResetIn, svc: Svc, who: Who) -> None:
    """A global admin sets a user's password; every token and open socket of theirs ends."""
    await svc.users.reset_password(who, user_id, body.password)


@router.get("/farms/{farm_id}/members")
async def members(farm_id: PathId, svc: Svc, who: Who) -> list[MemberOut]:
    return [MemberOut.of(m) for m in await svc.users.members(who, farm_id)]


@router.put("/farms/{farm_id}/members/{user_id}", status_code=204)
async def set_role(farm_id: PathId, user_id: PathId, body: RoleIn, svc: Svc, who: Who) -> None:
    await svc.users.set_role(who, farm_id, user_id, body.role)


@router.delete("/farms/{farm_id}/members/{user_id}", status_code=204)
async def remove_role(farm_id: PathId, user_id: PathId, svc: Svc, who: Who) -> None:
    await svc.users.remove_role(who, farm_id, user_id)
