"""Token login and the caller's own identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from farmbridge.api.deps import Svc, Who
from farmbridge.api.routing import BoundedRoute
from farmbridge.api.schemas import MeOut, TokenOut

router = APIRouter(prefix="/api/v1", tags=["auth"], route_class=BoundedRoute)


@router.post("/auth/token")
async def login(
    request: Request, svc: Svc, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenOut:
    """OAuth2 password flow: form fields `username` and `password`; returns a bearer token."""
    client = request.client.host if request.client else "unknown"
    token, exp = await svc.access.login(form.username, form.password, client=client)
    return TokenOut(access_token=token, expires_at=exp)


@router.post("/auth/revoke", status_code=204)
async def revoke(svc: Svc, who: Who) -> None:
    """Ends every token issued to the caller so far (log out everywhere)."""
    await svc.access.revoke_tokens(who, who.user.id)


@router.get("/me")
async def me(who: Who) -> MeOut:
    u = who.user
    return MeOut(
        id=u.id, username=u.username, is_admin=u.is_admin, created_ms=u.created_ms, roles=who.roles
    )
