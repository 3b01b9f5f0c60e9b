"""The egress worker on a FakeClock: each step driven by the test, webhooks to a real
receiver on loopback, the store a real SQLite database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from farmbridge.domain import Role
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import Forbidden, NotFound, ValidationFailed
from farmbridge.domain.notifications import DeliveryState, TargetKind
from farmbridge.egress.mail import NOT_CONFIGURED
from farmbridge.egress.signature import verify
from farmbridge.service.access import Principal
from farmbridge.service.bundle import Services
from farmbridge.service.egress import WEBHOOK_DELETED
from farmbridge.store.schema import outbox
from farmbridge.store.sql import SqlStore
from tests.hook_receiver import HookReceiver, alarm_payload
from tests.unit.bridge_services import admin, running_services

BASE_S = 10.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def svc(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Services]:
    async with running_services(
        tmp_path,
        clock,
        notify_retry_base_s=BASE_S,
        notify_retry_max_s=1000.0,
        notify_max_attempts=4,
    ) as services:
        yield services
        await services.egress.close()


@pytest.fixture
def hook() -> Iterator[HookReceiver]:
    r = HookReceiver()
    yield r
    r.close()


async def farm_with_hook(svc: Services, url: str, name: str = "gh") -> tuple[int, str, Principal]:
    who = await admin(svc)
    farm = await svc.store.create_farm(name, "")
    created = await svc.notifications.create_webhook(who, farm.id, url, "", enabled=True)
    return farm.id, created.secret, who


async def log_of(svc: Services, who: Principal, farm_id: int) -> list[Any]:
    return await svc.notifications.deliveries(who, farm_id, state=None, before_id=None, limit=100)


async def test_webhook_gets_the_payload_signed_with_its_secret(
    svc: Services, clock: FakeClock, hook: HookReceiver
) -> None:
    """One step posts the payload as JSON, signed over the raw body, with its delivery id
    and the clock's time; the log shows it delivered on the first attempt."""
    farm_id, secret, who = await farm_with_hook(svc, hook.url)
    payload = alarm_payload(farm_id, "gh")
    await svc.store.enqueue_notification(farm_id, "alarm", payload)
    assert await svc.egress.step() == 1
    (req,) = hook.requests
    assert json.loads(req.body) == payload
    assert verify(secret, req.body, req.headers["X-FarmBridge-Signature"])
    assert req.headers["X-FarmBridge-Timestamp"] == str(clock.wall_ms())
    assert req.headers["X-FarmBridge-Topic"] == "alarm"
    assert req.headers["Content-Type"] == "application/json"
    (entry,) = await log_of(svc, who, farm_id)
    assert req.headers["X-FarmBridge-Delivery"] == str(entry.id)
    assert (entry.state, entry.attempts, entry.last_status) == (DeliveryState.DELIVERED, 1, 200)
    assert entry.delivered_ms == clock.wall_ms()
    assert await svc.egress.step() == 0


async def test_failed_webhook_is_retried_on_the_schedule_until_delivered(
    svc: Services, clock: FakeClock, hook: HookReceiver
) -> None:
    """500, 500, then 200: attempts at t, t+base, t+3*base, none earlier; the log counts 3."""
    hook.statuses = [500, 500]
    farm_id, _, who = await farm_with_hook(svc, hook.url)
    await svc.store.enqueue_notification(farm_id, "alarm", alarm_payload(farm_id, "gh"))
    start = clock.wall_ms()
    assert await svc.egress.step() == 1
    (entry,) = await log_of(svc, who, farm_id)
    assert (entry.state, entry.attempts, entry.last_status) == (DeliveryState.PENDING, 1, 500)
    assert entry.next_attempt_ms == start + BASE_S * 1000
    clock.advance(BASE_S - 0.001)
    assert await svc.egress.step() == 0  # not due yet
    clock.advance(0.001)
    assert await svc.egress.step() == 1
    (entry,) = await log_of(svc, who, farm_id)
    assert entry.next_attempt_ms == clock.wall_ms() + 2 * BASE_S * 1000
    assert entry.last_error == "HTTP 500"
    clock.advance(2 * BASE_S - 0.001)
    assert await svc.egress.step() == 0
    clock.advance(0.001)
    assert await svc.egress.step() == 1
    (entry,) = await log_of(svc, who, farm_id)
    assert (entry.state, entry.attempts, entry.last_status) == (DeliveryState.DELIVERED, 3, 200)
    assert entry.last_error == "HTTP 500"  # why it took three
    assert [r.answered for r in hook.requests] == [500, 500, 200]
    assert {r.headers["X-FarmBridge-Delivery"] for r in hook.requests} == {str(entry.id)}
    assert entry.delivered_ms == start + 3 * BASE_S * 1000


async def test_webhook_that_keeps_failing_fails_after_max_attempts(
    svc: Services, clock: FakeClock, hook: HookReceiver
) -> None:
    """Four failed attempts (the setting) and the delivery is failed, never tried again."""
    hook.then = 503
    farm_id, _, who = await farm_with_hook(svc, hook.url)
    await svc.store.enqueue_notification(farm_id, "alarm", alarm_payload(farm_id, "gh"))
    for _ in range(4):
        assert await svc.egress.step() == 1
        clock.advance(1000)
    assert await svc.egress.step() == 0
    (entry,) = await log_of(svc, who, farm_id)
    assert (entry.state, entry.attempts, entry.last_status) == (DeliveryState.FAILED, 4, 503)
    assert len(hook.requests) == 4


async def test_unreachable_webhook_is_a_retry_with_the_error_logged(
    svc: Services, clock: FakeClock
) -> None:
    """A connection refused is an attempt that failed, with no status and the error kept."""
    closed = HookReceiver()
    url = closed.url
    closed.close()
    farm_id, _, who = await farm_with_hook(svc, url)
    await svc.store.enqueue_notification(farm_id, "alarm", alarm_payload(farm_id, "gh"))
    assert await svc.egress.step() == 1
    (entry,) = await log_of(svc, who, farm_id)
    assert (entry.state, entry.attempts, entry.last_status) == (DeliveryState.PENDING, 1, None)
    assert entry.last_error.startswith("ConnectError")


async def test_dispatch_makes_one_delivery_per_target_and_never_twice(
    svc: Services, hook: HookReceiver
) -> None:
    """Enabled webhooks and every recipient get one delivery each; a disabled webhook and
    another farm's targets none; dispatching again adds nothing."""
    farm_id, _, who = await farm_with_hook(svc, hook.url)
    await svc.notifications.create_webhook(who, farm_id, hook.url, "second", enabled=True)
    await svc.notifications.create_webhook(who, farm_id, hook.url, "off", enabled=False)
    await svc.notifications.set_email_recipients(
        who, farm_id, ["b@farm.example", "a@farm.example", "a@farm.example"]
    )
    other = await svc.store.create_farm("other", "")
    await svc.notifications.create_webhook(who, other.id, hook.url, "", enabled=True)
    await svc.store.enqueue_notification(farm_id, "alarm", alarm_payload(farm_id, "gh"))
    assert await svc.store.dispatch_outbox(0, 100) == 1
    assert await svc.store.dispatch_outbox(0, 100) == 0
    entries = await log_of(svc, who, farm_id)
    targets = sorted((e.kind.value, e.target) for e in entries)
    hooks = [str(h.id) for h in await svc.store.list_webhooks(farm_id) if h.enabled]
    assert targets == sorted(
        [("email", "a@farm.example"), ("email", "b@farm.example")] + [("webhook", h) for h in hooks]
    )
    assert await log_of(svc, who, other.id) == []


async def test_claimed_delivery_is_not_claimed_again_until_its_lease_ends(
    svc: Services, clock: FakeClock, hook: HookReceiver
) -> None:
    """An attempt cut short (claimed, never recorded, as in a crash) is tried again once
    the lease runs out, and not before."""
    farm_id, _, _ = await farm_with_hook(svc, hook.url)
    await svc.store.enqueue_notification(farm_id, "alarm", alarm_payload(farm_id, "gh"))
    now = clock.wall_ms()
    await svc.store.dispatch_outbox(now, 10)
    (first,) = await svc.store.claim_deliveries(now, 60_000, 10)
    assert await svc.store.claim_deliveries(now + 59_999, 60_000, 10) == []
    (again,) = await svc.store.claim_deliveries(now + 60_000, 60_000, 10)
    assert again.delivery.id == first.delivery.id
    assert again.delivery.attempts == 0


async def test_stopping_mid_send_hands_the_claim_back(
    svc: Services, clock: FakeClock, hook: HookReceiver
) -> None:
    """A step cancelled while its POST is in flight (the bridge stopping) releases its
    claim: the delivery is due again at once, its attempt not counted."""
    hook.gate.clear()
    farm_id, _, who = await farm_with_hook(svc, hook.url)
    await svc.store.enqueue_notification(farm_id, "alarm", alarm_payload(farm_id, "gh"))
    step = asyncio.create_task(svc.egress.step())
    await asyncio.to_thread(hook.wait_for, 1)
    step.cancel()
    with pytest.raises(asyncio.CancelledError):
        await step
    (entry,) = await log_of(svc, who, farm_id)
    assert (entry.state, entry.attempts) == (DeliveryState.PENDING, 0)
    (again,) = await svc.store.claim_deliveries(clock.wall_ms(), 60_000, 10)
    assert again.delivery.id == entry.id


async def test_delivery_to_a_deleted_webhook_fails_at_once(
    svc: Services, hook: HookReceiver
) -> None:
    """Deleting a webhook ends its pending deliveries (failed, saying why); the log stays."""
    farm_id, _, who = await farm_with_hook(svc, hook.url)
    (created,) = await svc.store.list_webhooks(farm_id)
    await svc.store.enqueue_notification(farm_id, "alarm", alarm_payload(farm_id, "gh"))
    await svc.store.dispatch_outbox(0, 10)
    await svc.notifications.delete_webhook(who, farm_id, created.id)
    assert await svc.egress.step() == 1
    (entry,) = await log_of(svc, who, farm_id)
    assert (entry.state, entry.last_error) == (DeliveryState.FAILED, WEBHOOK_DELETED)
    assert hook.requests == []


async def test_email_without_an_smtp_server_fails_saying_so(svc: Services) -> None:
    """With no FARMBRIDGE_SMTP_HOST an e-mail delivery fails on its first attempt."""
    who = await admin(svc)
    farm = await svc.store.create_farm("mailless", "")
    await svc.notifications.set_email_recipients(who, farm.id, ["ann@farm.example"])
    await svc.store.enqueue_notification(farm.id, "alarm", alarm_payload(farm.id, "mailless"))
    assert await svc.egress.step() == 1
    (entry,) = await log_of(svc, who, farm.id)
    assert (entry.kind, entry.state, entry.attempts) == (TargetKind.EMAIL, DeliveryState.FAILED, 1)
    assert entry.last_error == NOT_CONFIGURED


async def test_delivery_log_is_newest_first_filtered_and_paged(
    svc: Services, clock: FakeClock, hook: HookReceiver
) -> None:
    """The log lists newest first; `state` filters it and `before_id` pages back."""
    hook.statuses = [500]
    farm_id, _, who = await farm_with_hook(svc, hook.url)
    for i in range(3):
        await svc.store.enqueue_notification(
            farm_id, "alarm", alarm_payload(farm_id, "gh", alarm_id=i)
        )
    assert await svc.egress.step() == 3
    entries = await log_of(svc, who, farm_id)
    assert [e.id for e in entries] == sorted((e.id for e in entries), reverse=True)
    pending = await svc.notifications.deliveries(
        who, farm_id, state=DeliveryState.PENDING, before_id=None, limit=10
    )
    (refused,) = [json.loads(r.body)["id"] for r in hook.requests if r.answered == 500]
    assert [e.payload["id"] for e in pending] == [refused]  # sent at once: any may be first
    older = await svc.notifications.deliveries(
        who, farm_id, state=None, before_id=entries[0].id, limit=1
    )
    assert [e.id for e in older] == [entries[1].id]


async def test_only_farm_admins_manage_notifications(svc: Services) -> None:
    """An operator is Forbidden; a user without a role on the farm finds nothing there;
    a bad URL is refused naming the field."""
    root = await admin(svc)
    farm = await svc.store.create_farm("guarded", "")
    user = await svc.store.create_user("op", "not-a-hash", is_admin=False)
    operator = Principal(user, {farm.id: Role.OPERATOR})
    stranger = Principal(user, {})
    with pytest.raises(Forbidden):
        await svc.notifications.create_webhook(
            operator, farm.id, "http://a.example", "", enabled=True
        )
    with pytest.raises(Forbidden):
        await svc.notifications.email_recipients(operator, farm.id)
    with pytest.raises(NotFound):
        await svc.notifications.list_webhooks(stranger, farm.id)
    with pytest.raises(ValidationFailed) as err:
        await svc.notifications.create_webhook(root, farm.id, "ftp://a.example", "", enabled=True)
    assert err.value.field == "url"
    other = await svc.store.create_farm("elsewhere", "")
    hook = await svc.notifications.create_webhook(
        root, other.id, "http://a.example", "", enabled=True
    )
    with pytest.raises(NotFound):
        await svc.notifications.delete_webhook(root, farm.id, hook.id)


async def test_pruning_forgets_finished_deliveries_and_keeps_pending_ones(
    svc: Services, clock: FakeClock, hook: HookReceiver
) -> None:
    """Old delivered rows (and their outbox rows) go; a pending one of the same age stays,
    and so does everything newer than the cut."""
    hook.statuses = [200, 500]
    farm_id, _, who = await farm_with_hook(svc, hook.url)
    for i in range(2):
        await svc.store.enqueue_notification(
            farm_id, "alarm", alarm_payload(farm_id, "gh", alarm_id=i)
        )
    assert await svc.egress.step() == 2
    clock.advance(3600)
    await svc.store.enqueue_notification(farm_id, "alarm", alarm_payload(farm_id, "gh", alarm_id=9))
    (refused,) = [json.loads(r.body)["id"] for r in hook.requests if r.answered == 500]
    assert await svc.store.prune_notifications(clock.wall_ms() - 1) == 1
    left = await log_of(svc, who, farm_id)
    assert [(e.payload["id"], e.state.value) for e in left] == [(refused, "pending")]
    assert isinstance(svc.store, SqlStore)
    with svc.store.engine.connect() as conn:
        kept = sorted(p["id"] for p in conn.execute(select(outbox.c.payload)).scalars())
    assert kept == sorted([refused, 9])
    assert await svc.egress.step() == 2  # the new row is dispatched and sent, the retry too
    assert sorted(e.payload["id"] for e in await log_of(svc, who, farm_id)) == sorted([refused, 9])


async def test_a_redirect_is_not_followed_but_retried(svc: Services, hook: HookReceiver) -> None:
    """A 3xx is not a delivery: the POST is not followed elsewhere, and it is retried."""
    hook.statuses = [302]
    farm_id, _, who = await farm_with_hook(svc, hook.url)
    await svc.store.enqueue_notification(farm_id, "alarm", alarm_payload(farm_id, "gh"))
    assert await svc.egress.step() == 1
    (entry,) = await log_of(svc, who, farm_id)
    assert (entry.state, entry.last_status, len(hook.requests)) == (DeliveryState.PENDING, 302, 1)


async def test_an_idle_worker_puts_nothing_on_the_writer(svc: Services, clock: FakeClock) -> None:
    """With nothing to dispatch and nothing due, a step is a read alone: no write job."""
    assert isinstance(svc.store, SqlStore)
    before = svc.store.writer_stats
    for _ in range(3):
        assert await svc.egress.step() == 0
        clock.advance(60)
    assert svc.store.writer_stats == before
