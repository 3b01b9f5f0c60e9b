"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from farmbridge.api.deps import Svc
from farmbridge.domain.errors import StoreUnavailable

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and its event loop answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(svc: Svc) -> dict[str, str]:
    """The store answers a query; 503 otherwise."""
    try:
        await svc.store.ping()
    except StoreUnavailable:
        raise
    except Exception as exc:
        raise StoreUnavailable("store does not answer") from exc
    return {"status": "ready", "store": "ok"}


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
