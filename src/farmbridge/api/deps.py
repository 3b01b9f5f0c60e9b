"""Request dependencies: the services, and the principal behind a user token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from farmbridge.domain.errors import Unauthenticated
from farmbridge.service.access import Principal
from farmbridge.service.bundle import Services


async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


_bearer = HTTPBearer(auto_error=False, description="A user token from /api/v1/auth/token")


async def principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token")
    return await (await services(request)).access.principal(creds.credentials)


Svc = Annotated[Services, Depends(services)]
Who = Annotated[Principal, Depends(principal)]
