"""LoRaWAN network servers' HTTP integrations: The Things Stack v3 webhooks, ChirpStack v4.

Each integration is configured with a farm and a secret (FARMBRIDGE_LORAWAN_INTEGRATIONS);
the network server sends the secret as `Authorization: Bearer <secret>` (a custom header
in either server's integration settings). Devices are named by the network server (TTS
device id, ChirpStack device name): an unregistered one is held as pending, like MQTT's.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from farmbridge import metrics
from farmbridge.domain.errors import BadPayload, NotFound, Unauthenticated, ValidationFailed
from farmbridge.ingest.http import client_of
from farmbridge.ingest.lorawan import parse_chirpstack_event, parse_tts_uplink
from farmbridge.ingest.lorawan_integration import LorawanIntegration
from farmbridge.ingest.lorawan_profile import apply_profile
from farmbridge.service.bundle import Services

router = APIRouter(prefix="/api/v1/lorawan", tags=["LoRaWAN integrations"])
_bearer = HTTPBearer(auto_error=False, description="The integration's secret")


class UplinkAck(BaseModel):
    status: str = Field(
        description="stored, duplicate, ignored (not an uplink) or unregistered (the device"
        " is held as pending, or dropped, by the unknown_devices setting)"
    )
    device: str | None = None
    first_seq: int | None = None
    last_seq: int | None = None


async def _integration(
    name: str,
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> LorawanIntegration:
    integrations: tuple[LorawanIntegration, ...] = request.app.state.lorawan_integrations
    found = next((i for i in integrations if i.name == name), None)
    if found is None:
        raise NotFound(f"no LoRaWAN integration named {name!r}")
    svc: Services = request.app.state.services
    client = client_of(request, svc)
    svc.access.device_key_gate(client)  # wrong secrets are limited like wrong device keys
    given = creds.credentials if creds else ""
    if not hmac.compare_digest(given.encode(), found.secret.encode()):
        svc.access.device_key_failed(client)
        metrics.LORAWAN_UPLINKS.labels(name, "unauthenticated").inc()
        raise Unauthenticated("missing or wrong integration secret")
    return found


Integration = Annotated[LorawanIntegration, Depends(_integration)]


@router.post("/{name}", response_model=UplinkAck)
async def uplink(
    request: Request,
    integration: Integration,
    event: Annotated[
        str | None, Query(description="ChirpStack's event type (up, join, status, ...)")
    ] = None,
) -> UplinkAck:
    """Stores a device's uplink; answers only after the durable commit. Events that are
    not uplinks (joins, acks, logs) are accepted and ignored; a body that cannot be read
    is answered 422 naming the field."""
    svc: Services = request.app.state.services
    clock = svc.clock
    body = await request.body()
    received_ms = clock.wall_ms()
    try:
        if integration.kind == "tts":
            parsed = parse_tts_uplink(body, received_ms)
        else:
            if not event:
                raise ValidationFailed(
                    "ChirpStack posts name their event: ?event=up", field="event"
                )
            parsed = parse_chirpstack_event(event, body, received_ms)
    except BadPayload as exc:
        metrics.LORAWAN_UPLINKS.labels(integration.name, "bad_payload").inc()
        # The 422 names the body as the field at fault; the message names the path in it.
        raise BadPayload(exc.message, field="body") from None
    if parsed is None:
        metrics.LORAWAN_UPLINKS.labels(integration.name, "ignored").inc()
        return UplinkAck(status="ignored")
    farm_id = await svc.named_devices.farm_id(integration.farm)
    if farm_id is None:
        raise NotFound(
            f"integration {integration.name!r} names farm {integration.farm!r}, "
            "which does not exist"
        )
    entry = await svc.named_devices.device(
        farm_id, parsed.device, source=f"lorawan:{integration.name}", sample=body
    )
    if entry is None:
        metrics.LORAWAN_UPLINKS.labels(integration.name, "unregistered").inc()
        return UplinkAck(status="unregistered", device=parsed.device)
    try:
        parsed = apply_profile(parsed, await svc.lorawan_profiles.of_device(entry.device.id))
    except BadPayload as exc:
        metrics.LORAWAN_UPLINKS.labels(integration.name, "bad_payload").inc()
        raise BadPayload(exc.message, field="body") from None
    result = await svc.named_devices.store(
        entry, parsed.report, units=parsed.units, received_ms=received_ms
    )
    metrics.LORAWAN_UPLINKS.labels(integration.name, "stored").inc()
    return UplinkAck(
        status="duplicate" if result.duplicate else "stored",
        device=parsed.device,
        first_seq=result.first_seq,
        last_seq=result.last_seq,
    )
