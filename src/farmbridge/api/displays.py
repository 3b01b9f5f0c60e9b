"""Display credentials (wall screens): created, listed and revoked by farm admins, and
exchanged by the screen for short-lived viewer tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, field_validator

from farmbridge.api.auth import client_of
from farmbridge.api.deps import Svc, Who
from farmbridge.api.routing import BoundedRoute
from farmbridge.api.schemas import Body, TokenOut
from farmbridge.domain.bounds import Int64, PathId
from farmbridge.domain.displays import Display

router = APIRouter(prefix="/api/v1", tags=["displays"], route_class=BoundedRoute)


class DisplayIn(Body):
    name: str = Field(min_length=1, max_length=100, description='e.g. "greenhouse 2 wall"')
    expires_ms: Int64 | None = Field(
        default=None, description="when the credential stops working; none: until revoked"
    )

    @field_validator("name")
    @classmethod
    def _printable(cls, v: str) -> str:
        v = v.strip()
        if not v or not v.isprintable():
            raise ValueError("name must be printable text, not blank")
        return v


class DisplayOut(BaseModel):
    id: int
    farm_id: int
    name: str
    created_ms: int
    created_by: int | None
    expires_ms: int | None

    @classmethod
    def of(cls, d: Display) -> DisplayOut:
        return cls(
            id=d.id,
            farm_id=d.farm_id,
            name=d.name,
            created_ms=d.created_ms,
            created_by=d.created_by,
            expires_ms=d.expires_ms,
        )


class DisplayCreated(DisplayOut):
    secret: str = Field(description="shown this once; only its hash is kept")


class DisplaySecretIn(Body):
    secret: str = Field(min_length=1, max_length=256)


@router.post("/farms/{farm_id}/displays", status_code=201)
async def create_display(farm_id: PathId, body: DisplayIn, svc: Svc, who: Who) -> DisplayCreated:
    """A new display credential with viewer rights on this farm only (farm admin). The
    answer holds its secret, shown this once."""
    display, secret = await svc.displays.create(who, farm_id, body.name, expires_ms=body.expires_ms)
    return DisplayCreated(**DisplayOut.of(display).model_dump(), secret=secret)


@router.get("/farms/{farm_id}/displays")
async def list_displays(farm_id: PathId, svc: Svc, who: Who) -> list[DisplayOut]:
    """The farm's display credentials, oldest first, without their secrets (farm admin)."""
    return [DisplayOut.of(d) for d in await svc.displays.list(who, farm_id)]


@router.delete("/farms/{farm_id}/displays/{display_id}", status_code=204)
async def revoke_display(farm_id: PathId, display_id: PathId, svc: Svc, who: Who) -> None:
    """Revokes the credential (farm admin): its tokens are 401 from now on, and every
    WebSocket opened with them closes with 4001."""
    await svc.displays.revoke(who, farm_id, display_id)


@router.post("/auth/display-token")
async def display_token(request: Request, body: DisplaySecretIn, svc: Svc) -> TokenOut:
    """Exchanges a display secret for a short-lived viewer token (FARMBRIDGE_DISPLAY_TOKEN_TTL_S,
    15 minutes by default, never past the credential's expiry). The screen exchanges again
    before `expires_at` and sends the new token on its open socket (`auth`). A wrong secret
    is 401 and counts against the address's budget of wrong device keys (429)."""
    token, exp = await svc.displays.token(body.secret, client=client_of(request, svc))
    return TokenOut(access_token=token, expires_at=exp)
