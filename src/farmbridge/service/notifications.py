"""A farm's notification targets (webhooks, e-mail recipients) and its delivery log, for
the farm's admins."""

from __future__ import annotations

import secrets
from typing import Final

from farmbridge.domain import Role
from farmbridge.domain.errors import NotFound
from farmbridge.domain.notifications import (
    Delivery,
    DeliveryState,
    Webhook,
    check_addresses,
    check_webhook_url,
)
from farmbridge.service.access import Principal
from farmbridge.service.farms import FarmService
from farmbridge.store import NotificationStore

WEBHOOK_SECRET_PREFIX: Final = "fbw_"  # noqa: S105 - a prefix; logs.py redacts what follows
WEBHOOK_SECRET_BYTES: Final = 32


def new_webhook_secret() -> str:
    """A fresh signing secret: `fbw_` and 43 URL-safe characters (256 random bits)."""
    return WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(WEBHOOK_SECRET_BYTES)


class NotificationService:
    def __init__(self, store: NotificationStore, farms: FarmService) -> None:
        self._store = store
        self._farms = farms

    async def create_webhook(
        self, who: Principal, farm_id: int, url: str, description: str, *, enabled: bool
    ) -> Webhook:
        """A new webhook with a fresh secret (the caller shows it once); 422 `url` unless
        an absolute http(s) URL."""
        await self._farms.require_farm(who, farm_id, Role.ADMIN)
        check_webhook_url(url)
        return await self._store.create_webhook(
            farm_id,
            url,
            new_webhook_secret(),
            description=description,
            enabled=enabled,
            created_by=who.user.id,
        )

    async def list_webhooks(self, who: Principal, farm_id: int) -> list[Webhook]:
        await self._farms.require_farm(who, farm_id, Role.ADMIN)
        return await self._store.list_webhooks(farm_id)

    async def delete_webhook(self, who: Principal, farm_id: int, webhook_id: int) -> None:
        """Deliveries still pending to it fail ("the webhook was deleted"); the log stays."""
        await self._farms.require_farm(who, farm_id, Role.ADMIN)
        hook = await self._store.get_webhook(webhook_id)
        if hook.farm_id != farm_id:
            raise NotFound("webhook not found")
        await self._store.delete_webhook(webhook_id)

    async def email_recipients(self, who: Principal, farm_id: int) -> list[str]:
        await self._farms.require_farm(who, farm_id, Role.ADMIN)
        return await self._store.email_recipients(farm_id)

    async def set_email_recipients(
        self, who: Principal, farm_id: int, addresses: list[str]
    ) -> list[str]:
        """Replaces the farm's recipients; 422 naming the first bad address."""
        await self._farms.require_farm(who, farm_id, Role.ADMIN)
        return await self._store.set_email_recipients(farm_id, check_addresses(addresses))

    async def deliveries(
        self,
        who: Principal,
        farm_id: int,
        *,
        state: DeliveryState | None,
        before_id: int | None,
        limit: int,
    ) -> list[Delivery]:
        await self._farms.require_farm(who, farm_id, Role.ADMIN)
        return await self._store.list_deliveries(
            farm_id, state=state, before_id=before_id, limit=limit
        )
