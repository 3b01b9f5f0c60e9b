"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from farmbridge.api.deps import Svc
from farmbridge.api.routing import BoundedRoute
from farmbridge.domain.errors import StoreUnavailable

router = APIRouter(tags=["operations"], route_class=BoundedRoute)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and its event loop answers."""
    return {"status": "ok"}


NOT_READY: Final = {
    "description": "not ready: the probes' answers (`store` names why the store refuses a "
    "query or a write), or the error body when the store fails in an unforeseen way",
    "content": {"application/json": {"schema": {"type": "object"}}},
}


@router.get("/readyz", response_model=None, responses={503: NOT_READY})
async def readyz(svc: Svc) -> dict[str, str] | JSONResponse:
    """The store answers a query and would commit a write, and every configured link
    (MQTT) is up; 503 otherwise, with the reason a write fails as `store` (disk_full,
    read_only, locked, io_error, unreachable, other, stalled)."""
    try:
        await svc.store.ping()
    except StoreUnavailable as exc:
        # The same body as a refused write probe: an operator reads one field for the cause.
        return JSONResponse({"status": "not_ready", "store": exc.reason}, status_code=503)
    except Exception as exc:
        raise StoreUnavailable("store does not answer") from exc
    body = {"status": "ready", "store": "ok"}
    failing = False
    if svc.probes.write is not None:
        written = await svc.probes.write.check()
        body["store"] = written.detail
        failing = not written.ok
    for name, result in svc.probes.check().items():
        body[name] = result.detail
        failing = failing or not result.ok
    # A degraded backplane leaves the instance ready: it serves its own clients and
    # fills from the store what Redis does not bring.
    if svc.backplane is not None and svc.backplane.status() != "off":
        body["backplane"] = svc.backplane.status()
    if failing:
        body["status"] = "not_ready"
        return JSONResponse(body, status_code=503)
    return body


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
