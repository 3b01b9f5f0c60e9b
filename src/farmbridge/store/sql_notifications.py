"""The SQL store's notifications aggregate: webhooks, e-mail recipients, the delivery log.

The outbox (store/outbox.py) is written by the changes themselves; here it is drained:
`dispatch_outbox` turns each undispatched row into one delivery per target of its farm
and marks the row dispatched in the same transaction, so a crash leaves a row either
untouched or fully dispatched, never half. Deliveries are then claimed with a lease (a
claimed delivery's next attempt is pushed past the lease), so an attempt cut short by a
crash is tried again once the lease runs out, and two workers never claim one delivery.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from farmbridge.domain.errors import NotFound
from farmbridge.domain.notifications import (
    Attempted,
    Delivery,
    DeliveryState,
    DueDelivery,
    TargetKind,
    Webhook,
)
from farmbridge.store import outbox as outbox_rows
from farmbridge.store.database import SqlAggregate, one_row
from farmbridge.store.schema import deliveries, email_recipients, farms, outbox, webhooks


class SqlNotifications(SqlAggregate):
    """See farmbridge.store.base.NotificationStore for the contract of each method."""

    # Targets.

    async def create_webhook(
        self,
        farm_id: int,
        url: str,
        secret: str,
        *,
        description: str,
        enabled: bool,
        created_by: int | None,
    ) -> Webhook:
        created = self._db.clock.wall_ms()

        def fn(c: Connection) -> Webhook:
            one_row(c, farms, farms.c.id == farm_id, "farm")
            pk = c.execute(
                insert(webhooks).values(
                    farm_id=farm_id,
                    url=url,
                    secret=secret,
                    description=description,
                    enabled=enabled,
                    created_by=created_by,
                    created_ms=created,
                )
            ).inserted_primary_key
            assert pk is not None
            return _webhook(one_row(c, webhooks, webhooks.c.id == pk[0], "webhook"))

        return await self._db.write(fn)

    async def get_webhook(self, webhook_id: int) -> Webhook:
        return await self._db.read(
            lambda c: _webhook(one_row(c, webhooks, webhooks.c.id == webhook_id, "webhook"))
        )

    async def list_webhooks(self, farm_id: int) -> list[Webhook]:
        q = select(webhooks).where(webhooks.c.farm_id == farm_id).order_by(webhooks.c.id)
        return await self._db.read(lambda c: [_webhook(r) for r in c.execute(q)])

    async def delete_webhook(self, webhook_id: int) -> None:
        def fn(c: Connection) -> None:
            if not c.execute(delete(webhooks).where(webhooks.c.id == webhook_id)).rowcount:
                raise NotFound("webhook not found")

        await self._db.write(fn)

    async def set_email_recipients(self, farm_id: int, addresses: Iterable[str]) -> list[str]:
        wanted = sorted(set(addresses))

        def fn(c: Connection) -> list[str]:
            one_row(c, farms, farms.c.id == farm_id, "farm")
            c.execute(delete(email_recipients).where(email_recipients.c.farm_id == farm_id))
            if wanted:
                c.execute(
                    insert(email_recipients),
                    [{"farm_id": farm_id, "address": a} for a in wanted],
                )
            return wanted

        return await self._db.write(fn)

    async def email_recipients(self, farm_id: int) -> list[str]:
        q = (
            select(email_recipients.c.address)
            .where(email_recipients.c.farm_id == farm_id)
            .order_by(email_recipients.c.address)
        )
        return await self._db.read(lambda c: list(c.execute(q).scalars()))

    # The outbox and the delivery log.

    async def enqueue_notification(self, farm_id: int, topic: str, payload: dict[str, Any]) -> None:
        now = self._db.clock.wall_ms()
        await self._db.write(lambda c: outbox_rows.enqueue(c, farm_id, topic, payload, now))

    async def notifications_due(self, now_ms: int) -> bool:
        def fn(c: Connection) -> bool:
            undispatched = c.execute(
                select(outbox.c.id).where(outbox.c.dispatched_ms.is_(None)).limit(1)
            ).first()
            if undispatched is not None:
                return True
            due = c.execute(
                select(deliveries.c.id)
                .where(
                    deliveries.c.state == DeliveryState.PENDING.value,
                    deliveries.c.next_attempt_ms <= now_ms,
                )
                .limit(1)
            ).first()
            return due is not None

        return await self._db.read(fn)

    async def dispatch_outbox(self, now_ms: int, limit: int) -> int:
        def fn(c: Connection) -> int:
            rows = c.execute(
                select(outbox.c.id, outbox.c.farm_id)
                .where(outbox.c.dispatched_ms.is_(None))
                .order_by(outbox.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                targets = _targets(c, row.farm_id)
                if targets:
                    c.execute(
                        insert(deliveries),
                        [
                            {
                                "outbox_id": row.id,
                                "farm_id": row.farm_id,
                                "kind": kind.value,
                                "target": target,
                                "state": DeliveryState.PENDING.value,
                                "attempts": 0,
                                "next_attempt_ms": now_ms,
                                "last_error": "",
                                "created_ms": now_ms,
                            }
                            for kind, target in targets
                        ],
                    )
            if rows:
                c.execute(
                    update(outbox)
                    .where(outbox.c.id.in_([r.id for r in rows]))
                    .values(dispatched_ms=now_ms)
                )
            return len(rows)

        return await self._db.write(fn)

    async def claim_deliveries(self, now_ms: int, lease_ms: int, limit: int) -> list[DueDelivery]:
        def fn(c: Connection) -> list[DueDelivery]:
            ids = list(
                c.execute(
                    select(deliveries.c.id)
                    .where(
                        deliveries.c.state == DeliveryState.PENDING.value,
                        deliveries.c.next_attempt_ms <= now_ms,
                    )
                    .order_by(deliveries.c.next_attempt_ms, deliveries.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if not ids:
                return []
            c.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(ids))
                .values(next_attempt_ms=now_ms + lease_ms)
            )
            claimed = _delivery_rows(c, deliveries.c.id.in_(ids))
            hook_ids = [int(r.target) for r in claimed if r.kind == TargetKind.WEBHOOK.value]
            hooks = {
                r.id: _webhook(r)
                for r in c.execute(select(webhooks).where(webhooks.c.id.in_(hook_ids)))
            }
            return [
                DueDelivery(
                    delivery=_delivery(r),
                    farm_name=r.farm_name,
                    webhook=hooks.get(int(r.target))
                    if r.kind == TargetKind.WEBHOOK.value
                    else None,
                )
                for r in sorted(claimed, key=lambda r: ids.index(r.id))
            ]

        return await self._db.write(fn)

    async def release_deliveries(self, delivery_ids: Sequence[int], due_ms: int) -> None:
        def fn(c: Connection) -> None:
            c.execute(
                update(deliveries)
                .where(
                    deliveries.c.id.in_(list(delivery_ids)),
                    deliveries.c.state == DeliveryState.PENDING.value,
                )
                .values(next_attempt_ms=due_ms)
            )

        if delivery_ids:
            await self._db.write(fn)

    async def record_attempts(self, attempts: Sequence[Attempted]) -> None:
        def fn(c: Connection) -> None:
            for a in attempts:
                if a.outcome.ok:
                    state, delivered = DeliveryState.DELIVERED, a.at_ms
                elif a.next_attempt_ms is None:
                    state, delivered = DeliveryState.FAILED, None
                else:
                    state, delivered = DeliveryState.PENDING, None
                values: dict[str, Any] = {
                    "attempts": deliveries.c.attempts + 1,
                    "state": state.value,
                    "last_status": a.outcome.status,
                    "next_attempt_ms": a.at_ms if a.next_attempt_ms is None else a.next_attempt_ms,
                    "delivered_ms": delivered,
                }
                if not a.outcome.ok:
                    # A success keeps the error of the last failure: the log still says
                    # why it took more than one attempt.
                    values["last_error"] = a.outcome.error
                c.execute(
                    update(deliveries)
                    .where(
                        deliveries.c.id == a.delivery_id,
                        deliveries.c.state == DeliveryState.PENDING.value,
                    )
                    .values(**values)
                )

        if attempts:
            await self._db.write(fn)

    async def prune_notifications(self, older_than_ms: int) -> int:
        def fn(c: Connection) -> int:
            done = c.execute(
                delete(deliveries).where(
                    deliveries.c.state != DeliveryState.PENDING.value,
                    deliveries.c.created_ms < older_than_ms,
                )
            ).rowcount
            open_ = select(deliveries.c.id).where(deliveries.c.outbox_id == outbox.c.id)
            c.execute(
                delete(outbox).where(
                    outbox.c.dispatched_ms.is_not(None),
                    outbox.c.dispatched_ms < older_than_ms,
                    ~open_.exists(),
                )
            )
            return int(done)

        return await self._db.write(fn)

    async def list_deliveries(
        self,
        farm_id: int,
        *,
        state: DeliveryState | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        where = [deliveries.c.farm_id == farm_id]
        if state is not None:
            where.append(deliveries.c.state == state.value)
        if before_id is not None:
            where.append(deliveries.c.id < before_id)

        def fn(c: Connection) -> list[Delivery]:
            q = _delivery_query().where(*where).order_by(deliveries.c.id.desc()).limit(limit)
            return [_delivery(r) for r in c.execute(q)]

        return await self._db.read(fn)


def _targets(c: Connection, farm_id: int) -> list[tuple[TargetKind, str]]:
    """The farm's targets now: its enabled webhooks, then its e-mail recipients."""
    hooks = c.execute(
        select(webhooks.c.id)
        .where(webhooks.c.farm_id == farm_id, webhooks.c.enabled.is_(True))
        .order_by(webhooks.c.id)
    ).scalars()
    mails = c.execute(
        select(email_recipients.c.address)
        .where(email_recipients.c.farm_id == farm_id)
        .order_by(email_recipients.c.address)
    ).scalars()
    return [(TargetKind.WEBHOOK, str(h)) for h in hooks] + [
        (TargetKind.EMAIL, str(m)) for m in mails
    ]


def _delivery_query() -> Any:
    return (
        select(
            deliveries,
            outbox.c.topic,
            outbox.c.payload,
            farms.c.name.label("farm_name"),
        )
        .join(outbox, outbox.c.id == deliveries.c.outbox_id)
        .join(farms, farms.c.id == deliveries.c.farm_id)
    )


def _delivery_rows(c: Connection, where: Any) -> list[Row[Any]]:
    return list(c.execute(_delivery_query().where(where)))


def _delivery(r: Row[Any]) -> Delivery:
    return Delivery(
        id=r.id,
        outbox_id=r.outbox_id,
        farm_id=r.farm_id,
        topic=r.topic,
        kind=TargetKind(r.kind),
        target=r.target,
        state=DeliveryState(r.state),
        attempts=r.attempts,
        next_attempt_ms=r.next_attempt_ms,
        last_status=r.last_status,
        last_error=r.last_error,
        created_ms=r.created_ms,
        delivered_ms=r.delivered_ms,
        payload=dict(r.payload),
    )


def _webhook(r: Row[Any]) -> Webhook:
    return Webhook(
        id=r.id,
        farm_id=r.farm_id,
        url=r.url,
        description=r.description,
        enabled=bool(r.enabled),
        created_by=r.created_by,
        created_ms=r.created_ms,
        secret=r.secret,
    )
