"""Request and response bodies of the notification routes (webhooks, e-mail, deliveries)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from farmbridge.api.schemas import Body
from farmbridge.domain.notifications import (
    MAX_ADDRESS_CHARS,
    MAX_RECIPIENTS,
    MAX_URL_CHARS,
    Delivery,
    DeliveryState,
    TargetKind,
    Webhook,
)


class WebhookIn(Body):
    url: str = Field(min_length=1, max_length=MAX_URL_CHARS, description="http(s) only")
    description: str = Field(default="", max_length=200)
    enabled: bool = True


class WebhookOut(BaseModel):
    """A webhook as listed: never its secret."""

    id: int
    farm_id: int
    url: str
    description: str
    enabled: bool
    created_by: int | None
    created_ms: int

    @classmethod
    def of(cls, w: Webhook) -> WebhookOut:
        return cls(
            id=w.id,
            farm_id=w.farm_id,
            url=w.url,
            description=w.description,
            enabled=w.enabled,
            created_by=w.created_by,
            created_ms=w.created_ms,
        )


class WebhookCreated(WebhookOut):
    """The new webhook with its signing secret, shown this once."""

    secret: str

    @classmethod
    def created(cls, w: Webhook) -> WebhookCreated:
        return cls(**WebhookOut.of(w).model_dump(), secret=w.secret)


class WebhooksOut(BaseModel):
    webhooks: list[WebhookOut]


class EmailRecipientsIn(Body):
    addresses: list[Annotated[str, Field(max_length=MAX_ADDRESS_CHARS)]] = Field(
        max_length=MAX_RECIPIENTS
    )


class EmailRecipientsOut(BaseModel):
    addresses: list[str]


class DeliveryOut(BaseModel):
    """One row of the delivery log: a notification to one target and how it went."""

    id: int
    outbox_id: int
    farm_id: int
    topic: str
    kind: TargetKind
    target: str = Field(description="the webhook id (as text) or the e-mail address")
    state: DeliveryState
    attempts: int
    next_attempt_ms: int
    last_status: int | None
    last_error: str
    created_ms: int
    delivered_ms: int | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            id=d.id,
            outbox_id=d.outbox_id,
            farm_id=d.farm_id,
            topic=d.topic,
            kind=d.kind,
            target=d.target,
            state=d.state,
            attempts=d.attempts,
            next_attempt_ms=d.next_attempt_ms,
            last_status=d.last_status,
            last_error=d.last_error,
            created_ms=d.created_ms,
            delivered_ms=d.delivered_ms,
            payload=d.payload,
        )


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut]
