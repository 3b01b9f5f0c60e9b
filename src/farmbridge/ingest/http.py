"""HTTP device ingest: POST /api/v1/ingest, and the device's command long-poll and ack."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from farmbridge import metrics
from farmbridge.domain import CommandState
from farmbridge.domain.bounds import PathId
from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import DomainError, Unauthenticated
from farmbridge.http_errors import error_response
from farmbridge.ingest.payloads import IngestBody, command_json, parse_report
from farmbridge.service.bundle import Services
from farmbridge.service.directory import DeviceEntry

router = APIRouter(prefix="/api/v1/ingest", tags=["device ingest"])


async def _services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


Svc = Annotated[Services, Depends(_services)]
_bearer = HTTPBearer(auto_error=False, description="The device key given at device creation")


async def _clock(request: Request) -> Clock:
    svc: Services = request.app.state.services
    return svc.clock


AppClock = Annotated[Clock, Depends(_clock)]


def client_of(request: Request, svc: Services) -> str:
    """The device's address: X-Forwarded-For counts only from FARMBRIDGE_TRUSTED_PROXIES."""
    peer = request.client.host if request.client else "unknown"
    return svc.access.client_address(peer, request.headers.getlist("x-forwarded-for"))


async def keyed_device(svc: Services, key: str | None, *, client: str) -> DeviceEntry:
    """The device holding `key`. Wrong or missing keys are limited per address: once an
    address has spent its budget it gets 429 without its key being looked at. A failure
    costs one bucket update more than a success, nothing else.

    Raises Unauthenticated, RateLimited.
    """
    svc.access.device_key_gate(client)
    try:
        if not key:
            raise Unauthenticated("missing device key")
        return await svc.ingest.authenticate(key)
    except Unauthenticated:
        svc.access.device_key_failed(client)
        raise


async def device(
    request: Request,
    svc: Svc,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> DeviceEntry:
    try:
        return await keyed_device(
            svc, creds.credentials if creds else None, client=client_of(request, svc)
        )
    except DomainError as exc:
        metrics.INGEST_REJECTED.labels("http", exc.code).inc()
        raise


Dev = Annotated[DeviceEntry, Depends(device)]


class IngestAck(BaseModel):
    accepted: int = Field(description="items in the report")
    first_seq: int | None
    last_seq: int | None
    duplicate: bool = Field(description="true when this message id was stored before")


_READINGS = metrics.INGEST_ITEMS.labels("http", "reading")
_EVENTS = metrics.INGEST_ITEMS.labels("http", "event")
_STATUSES = metrics.INGEST_ITEMS.labels("http", "status")
_DUPLICATES = metrics.INGEST_DUPLICATES.labels("http")


async def handle_ingest(
    svc: Services, authorization: str | None, raw: bytes, *, clock: Clock, client: str
) -> bytes:
    """Stores one device report; returns the JSON acknowledgement.

    The hot path of the bridge: plain code, no framework layers. `clock` tells the
    receive time (the default `ts` of every item); `client` is the sender's address, for
    the limit on wrong keys. Raises DomainError.
    """
    received_ms = clock.wall_ms()
    try:
        scheme, _, key = (authorization or "").partition(" ")
        bearer = key.strip() if scheme.lower() == "bearer" else None
        entry = await keyed_device(svc, bearer, client=client)
        report = parse_report(raw, received_ms)
        result = await svc.ingest.ingest(entry, report, received_ms=received_ms)
    except DomainError as exc:
        metrics.INGEST_REJECTED.labels("http", exc.code).inc()
        raise
    metrics.INGEST_COMMIT_SECONDS.observe(clock.wall_s() - received_ms / 1000)
    if result.duplicate:
        _DUPLICATES.inc()
    else:
        if report.readings:
            _READINGS.inc(len(report.readings))
        if report.events:
            _EVENTS.inc(len(report.events))
        if report.status:
            _STATUSES.inc()
    return orjson.dumps(
        {
            "accepted": result.accepted,
            "first_seq": result.first_seq,
            "last_seq": result.last_seq,
            "duplicate": result.duplicate,
        }
    )


class IngestEndpoint:
    """`POST /api/v1/ingest` as a bare ASGI app, which the bridge routes to before FastAPI.

    Devices call it far more often than anything else; FastAPI's routing, dependency
    injection and middleware stack cost more than the work itself. The FastAPI route
    below stays for the OpenAPI page (and any other mounting) and runs the same code.
    """

    def __init__(self, services: Services, *, clock: Clock) -> None:
        self._svc = services
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            body = await handle_ingest(
                self._svc,
                request.headers.get("authorization"),
                await request.body(),
                clock=self._clock,
                client=client_of(request, self._svc),
            )
            response = Response(body, media_type="application/json")
        except DomainError as exc:
            status, err, headers = error_response(exc)
            response = Response(err, status, headers=headers, media_type="application/json")
        except ClientDisconnect:
            return
        await response(scope, receive, send)


@router.post(
    "",
    response_model=IngestAck,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": IngestBody.model_json_schema()}},
        },
        "security": [{"HTTPBearer": []}],
    },
)
async def ingest(request: Request, svc: Svc, clock: AppClock) -> Response:
    """Stores a device report; answers 200 only after a durable commit.

    Authenticated by the device key (`Authorization: Bearer <key>`). A report is
    all-or-nothing: if any item is invalid, nothing of it is stored (422 names the
    field); reports accepted before are never affected. A single reading
    `{"sensor": ..., "value": ..., "ts": ...}` may be sent without the envelope.
    """
    body = await handle_ingest(
        svc,
        request.headers.get("authorization"),
        await request.body(),
        clock=clock,
        client=client_of(request, svc),
    )
    return Response(body, media_type="application/json")


@router.get("/commands")
async def take_commands(
    svc: Svc, dev: Dev, wait: Annotated[float, Query(ge=0, le=60)] = 0
) -> dict[str, list[dict[str, Any]]]:
    """Hands the device its pending commands (marking them sent), waiting up to `wait` s."""
    cmds = await svc.commands.take_pending(dev, wait)
    for _ in cmds:
        metrics.COMMANDS.labels("sent").inc()
    return {"commands": [command_json(c) for c in cmds]}


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: CommandState = CommandState.ACKNOWLEDGED
    detail: str = Field(default="", max_length=500)


@router.post("/commands/{command_id}/ack")
async def ack_command(command_id: PathId, body: AckBody, svc: Svc, dev: Dev) -> dict[str, Any]:
    """The device reports a command done (`acknowledged`) or not (`failed`)."""
    cmd = await svc.commands.complete(dev, command_id, body.state, body.detail)
    metrics.COMMANDS.labels(cmd.state.value).inc()
    return {"id": cmd.id, "state": cmd.state.value}
