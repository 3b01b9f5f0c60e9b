"""HTTP device ingest: POST /api/v1/ingest, and the device's command long-poll and ack."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from farmbridge import metrics
from farmbridge.domain import CommandState
from farmbridge.domain.errors import DomainError, Unauthenticated
from farmbridge.ingest.payloads import IngestBody, command_json, parse_report
from farmbridge.service.bundle import Services
from farmbridge.service.directory import DeviceEntry

router = APIRouter(prefix="/api/v1/ingest", tags=["device ingest"])


def _services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


Svc = Annotated[Services, Depends(_services)]
_bearer = HTTPBearer(auto_error=False, description="The device key given at device creation")


async def device(
    svc: Svc, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> DeviceEntry:
    if creds is None:
        metrics.INGEST_REJECTED.labels("http", "unauthenticated").inc()
        raise Unauthenticated("missing device key")
    try:
        return await svc.ingest.authenticate(creds.credentials)
    except DomainError as exc:
        metrics.INGEST_REJECTED.labels("http", exc.code).inc()
        raise


Dev = Annotated[DeviceEntry, Depends(device)]


class IngestAck(BaseModel):
    accepted: int = Field(description="items in the report")
    first_seq: int | None
    last_seq: int | None
    duplicate: bool = Field(description="true when this message id was stored before")


@router.post(
    "",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": IngestBody.model_json_schema()}},
        }
    },
)
async def ingest(request: Request, svc: Svc, dev: Dev) -> IngestAck:
    """Stores a device report; answers 200 only after a durable commit.

    A report is all-or-nothing: if any item is invalid, nothing of it is stored (422
    names the field); reports accepted before are never affected. A single reading
    `{"sensor": ..., "value": ..., "ts": ...}` may be sent without the envelope.
    """
    received_ms = time.time_ns() // 1_000_000
    raw = await request.body()
    try:
        report = parse_report(raw, received_ms)
        result = await svc.ingest.ingest(dev, report, received_ms=received_ms)
    except DomainError as exc:
        metrics.INGEST_REJECTED.labels("http", exc.code).inc()
        raise
    metrics.INGEST_COMMIT_SECONDS.observe(time.time() - received_ms / 1000)
    if result.duplicate:
        metrics.INGEST_DUPLICATES.labels("http").inc()
    else:
        if report.readings:
            metrics.INGEST_ITEMS.labels("http", "reading").inc(len(report.readings))
        if report.events:
            metrics.INGEST_ITEMS.labels("http", "event").inc(len(report.events))
        if report.status:
            metrics.INGEST_ITEMS.labels("http", "status").inc()
    return IngestAck(
        accepted=result.accepted,
        first_seq=result.first_seq,
        last_seq=result.last_seq,
        duplicate=result.duplicate,
    )


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
async def ack_command(command_id: int, body: AckBody, svc: Svc, dev: Dev) -> dict[str, Any]:
    """The device reports a command done (`acknowledged`) or not (`failed`)."""
    cmd = await svc.commands.complete(dev, command_id, body.state, body.detail)
    metrics.COMMANDS.labels(cmd.state.value).inc()
    return {"id": cmd.id, "state": cmd.state.value}
