"""Token login, the caller's own identity, and the caller's password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import Field

from farmbridge.api.deps import Svc, Who
from farmbridge.api.routing import BoundedRoute
from farmbridge.api.schemas import Body, MeOut, TokenOut
from farmbridge.service.bundle import Services

router = APIRouter(prefix="/api/v1", tags=["auth"], route_class=BoundedRoute)


def client_of(request: Request, svc: Services) -> str:
    """The caller's address: X-Forwarded-For counts only from FARMBRIDGE_TRUSTED_PROXIES."""
    peer = request.client.host if request.client else "unknown"
    return svc.access.client_address(peer, request.headers.getlist("x-forwarded-for"))


@router.post("/auth/token")
async def login(
    request: Request, svc: Svc, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenOut:
    """OAuth2 password flow: form fields `username` and `password`; returns a bearer token.

    Limited per address and per account (429 with Retry-After; see the login limits in
    docs/api.md)."""
    token, exp = await svc.access.login(
        form.username, form.password, client=client_of(request, svc)
    )
    return TokenOut(access_token=token, expires_at=exp)


@router.post("/auth/revoke", status_code=204)
async def revoke(svc: Svc, who: Who) -> None:
    """Ends every token issued to the caller so far (log out everywhere)."""
    await svc.access.revoke_tokens(who, who.user.id)


@router.get("/me")
async def me(who: Who) -> MeOut:
    u = who.user
    return MeOut(
        id=u.id,
        username=u.username,
        is_admin=u.is_admin,
        created_ms=u.created_ms,
        roles=who.roles,
        display_id=who.display_id,
    )


class PasswordChangeIn(Body):
    current_password: str = Field(max_length=256)
    new_password: str = Field(min_length=8, max_length=256)


@router.post("/me/password")
async def change_password(request: Request, body: PasswordChangeIn, svc: Svc, who: Who) -> TokenOut:
    """Changes the caller's password. Every token and open socket of the caller ends (the
    sockets close with 4001); the answer holds a fresh token. A wrong current password is
    403 and counts as a failed login."""
    token, exp = await svc.access.change_password(
        who, body.current_password, body.new_password, client=client_of(request, svc)
    )
    return TokenOut(access_token=token, expires_at=exp)
