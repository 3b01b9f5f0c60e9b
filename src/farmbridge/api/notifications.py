"""Notifications off the dashboard (farm admin): webhooks, e-mail recipients, the delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from farmbridge.api.deps import Svc, Who
from farmbridge.api.notification_schemas import (
    DeliveriesOut,
    DeliveryOut,
    EmailRecipientsIn,
    EmailRecipientsOut,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhooksOut,
)
from farmbridge.api.routing import BoundedRoute
from farmbridge.domain.bounds import Id, PathId
from farmbridge.domain.notifications import DeliveryState

router = APIRouter(prefix="/api/v1", tags=["notifications"], route_class=BoundedRoute)

Limit = Annotated[int, Query(ge=1, le=1_000)]


@router.get("/farms/{farm_id}/webhooks")
async def list_webhooks(farm_id: PathId, svc: Svc, who: Who) -> WebhooksOut:
    """The farm's webhooks, oldest first, without their secrets."""
    hooks = await svc.notifications.list_webhooks(who, farm_id)
    return WebhooksOut(webhooks=[WebhookOut.of(w) for w in hooks])


@router.post("/farms/{farm_id}/webhooks", status_code=201)
async def create_webhook(farm_id: PathId, body: WebhookIn, svc: Svc, who: Who) -> WebhookCreated:
    """Adds a webhook; every notification of the farm is POSTed to it, signed with the
    secret in this answer, which is shown this once. 422 `url` unless http(s)."""
    hook = await svc.notifications.create_webhook(
        who, farm_id, body.url, body.description, enabled=body.enabled
    )
    return WebhookCreated.created(hook)


@router.delete("/farms/{farm_id}/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(farm_id: PathId, webhook_id: PathId, svc: Svc, who: Who) -> None:
    """Removes a webhook; its pending deliveries fail, the log keeps them."""
    await svc.notifications.delete_webhook(who, farm_id, webhook_id)


@router.get("/farms/{farm_id}/notifications/email")
async def get_email(farm_id: PathId, svc: Svc, who: Who) -> EmailRecipientsOut:
    """The farm's e-mail recipients, sorted."""
    return EmailRecipientsOut(addresses=await svc.notifications.email_recipients(who, farm_id))


@router.put("/farms/{farm_id}/notifications/email")
async def set_email(
    farm_id: PathId, body: EmailRecipientsIn, svc: Svc, who: Who
) -> EmailRecipientsOut:
    """Replaces the farm's e-mail recipients (an empty list: none); 422 `addresses[i]`
    names the first address that is not one."""
    addresses = await svc.notifications.set_email_recipients(who, farm_id, body.addresses)
    return EmailRecipientsOut(addresses=addresses)


@router.get("/farms/{farm_id}/notifications/deliveries")
async def list_deliveries(
    farm_id: PathId,
    svc: Svc,
    who: Who,
    state: DeliveryState | None = None,
    before_id: Annotated[Id | None, Query()] = None,
    limit: Limit = 100,
) -> DeliveriesOut:
    """The delivery log, newest first: one row per notification and target, with its
    attempts and last error; `before_id` pages back, `state` filters."""
    rows = await svc.notifications.deliveries(
        who, farm_id, state=state, before_id=before_id, limit=limit
    )
    return DeliveriesOut(deliveries=[DeliveryOut.of(d) for d in rows])
