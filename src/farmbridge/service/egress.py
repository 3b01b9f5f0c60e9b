"""The egress worker: drains the outbox into deliveries and tries each until it is done.

One `step` (which a test calls directly, moving a FakeClock between steps) dispatches
undispatched outbox rows into deliveries, claims the deliveries due on the clock's wall
time, attempts them concurrently and records every outcome: delivered, failed after
`max_attempts`, or pending until the retry schedule's next time. `run` repeats steps on
its own task, so sending never waits in the ingest path; its writes are a few small jobs
on the store's writer per step, and none at all while nothing is due (a read says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final, Protocol

from farmbridge import metrics
from farmbridge.domain.clock import Clock
from farmbridge.domain.notifications import (
    Attempted,
    Delivery,
    DueDelivery,
    Outcome,
    RetryPolicy,
    TargetKind,
    Webhook,
)
from farmbridge.store import NotificationStore

log = logging.getLogger(__name__)

LEASE_MARGIN_S: Final = 30.0
"""A claimed delivery is not claimed again before its attempt's time-out plus this."""
DISPATCH_BATCH: Final = 100
WEBHOOK_DELETED: Final = "the webhook was deleted"


class WebhookPoster(Protocol):
    async def post(self, webhook: Webhook, delivery: Delivery, timestamp_ms: int) -> Outcome: ...
    async def aclose(self) -> None: ...


class MailSender(Protocol):
    async def send(self, address: str, delivery: Delivery, farm_name: str) -> Outcome: ...
    async def aclose(self) -> None: ...


class EgressWorker:
    def __init__(
        self,
        store: NotificationStore,
        *,
        webhooks: WebhookPoster,
        mail: MailSender,
        policy: RetryPolicy,
        clock: Clock,
        concurrency: int = 8,
        timeout_s: float = 5.0,
    ) -> None:
        """Attempts at most `concurrency` deliveries at once, each bounded by `timeout_s`
        (the senders' own time-out; here it sizes the claim's lease)."""
        self._store = store
        self._webhooks = webhooks
        self._mail = mail
        self._policy = policy
        self._clock = clock
        self._concurrency = concurrency
        self._lease_ms = round((timeout_s + LEASE_MARGIN_S) * 1000)
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Makes a running `run` take its next step now rather than after its poll."""
        self._wakeup.set()

    async def step(self) -> int:
        """One round: dispatch, claim what is due, attempt it, record it; returns how many
        deliveries were attempted."""
        now = self._clock.wall_ms()
        if not await self._store.notifications_due(now):
            return 0
        await self._store.dispatch_outbox(now, DISPATCH_BATCH)
        due = await self._store.claim_deliveries(now, self._lease_ms, self._concurrency)
        if not due:
            return 0
        try:
            outcomes = await asyncio.gather(*(self._attempt(d) for d in due))
        except asyncio.CancelledError:
            # Stopping mid-send: hand the claims back, so a restart tries them at once
            # instead of after the lease (a crash leaves them to the lease).
            await self._store.release_deliveries([d.delivery.id for d in due], now)
            raise
        done_ms = self._clock.wall_ms()
        await self._store.record_attempts(
            [self._recorded(d, o, done_ms) for d, o in zip(due, outcomes, strict=True)]
        )
        return len(due)

    async def run(self, poll_s: float) -> None:
        """Steps until cancelled: again at once while there was a full batch, else after
        `poll_s` (or a `wake`)."""
        while True:
            attempted = 0
            try:
                attempted = await self.step()
            except Exception:
                log.exception("notification egress step failed; trying again")
            if attempted >= self._concurrency:
                continue
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), poll_s)

    async def close(self) -> None:
        await self._webhooks.aclose()
        await self._mail.aclose()

    async def _attempt(self, due: DueDelivery) -> Outcome:
        d = due.delivery
        try:
            if d.kind is TargetKind.WEBHOOK:
                if due.webhook is None:
                    return Outcome(ok=False, error=WEBHOOK_DELETED, final=True)
                return await self._webhooks.post(due.webhook, d, self._clock.wall_ms())
            return await self._mail.send(d.target, d, due.farm_name)
        except Exception as exc:  # a sender's bug must not stop the others' outcomes
            log.exception("notification %d: sender failed", d.id)
            return Outcome(ok=False, error=f"internal error: {type(exc).__name__}")

    def _recorded(self, due: DueDelivery, outcome: Outcome, done_ms: int) -> Attempted:
        d = due.delivery
        failures = d.attempts + 1
        next_ms = None
        if not outcome.ok and not outcome.final:
            next_ms = self._policy.next_attempt_ms(failures, done_ms)
        result = "delivered" if outcome.ok else ("retry" if next_ms is not None else "failed")
        metrics.NOTIFICATIONS.labels(d.kind.value, result).inc()
        if not outcome.ok:
            # The target is a webhook id or an address, never the URL (it may hold a
            # token) nor the secret.
            log.warning(
                "notification %d to %s %s: attempt %d failed (%s); %s",
                d.id,
                d.kind.value,
                d.target,
                failures,
                outcome.error,
                "giving up" if next_ms is None else f"next attempt at {next_ms}",
            )
        return Attempted(d.id, outcome, done_ms, next_ms)
