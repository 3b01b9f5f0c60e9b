"""The live WebSocket connections, for global admins."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from farmbridge.api.deps import Svc, Who
from farmbridge.api.routing import BoundedRoute

router = APIRouter(prefix="/api/v1", tags=["operations"], route_class=BoundedRoute)


@router.get("/connections")
async def connections(svc: Svc, who: Who) -> list[dict[str, Any]]:
    """User, remote address, farms, connected since, messages in/out, queue depth of each."""
    return [asdict(c) for c in svc.connections.list(who)]
