"""Liveness for every transport: a device silent for longer than its interval allows is
marked offline, a stored and streamed status change.

The sweep's decisions read the injected clock; `sweep()` is one tick, callable directly
(tests drive it on a FakeClock). Coming back online is the ingest write path's part
(store/ingest_writes.py): a device's next data, whatever its transport.
"""

from __future__ import annotations

import asyncio
import logging

from farmbridge import metrics
from farmbridge.domain import StatusRecord
from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import DomainError
from farmbridge.domain.liveness import LivenessPolicy
from farmbridge.store import Store
from farmbridge.store.results import OfflineCandidate

log = logging.getLogger(__name__)


class LivenessService:
    def __init__(self, store: Store, *, policy: LivenessPolicy, clock: Clock) -> None:
        """`policy` says how long a silence is too long; silence is measured on `clock`'s
        wall time against each device's stored last-seen (epoch ms, the store's unit)."""
        self._store = store
        self.policy = policy
        self._clock = clock

    async def sweep(self) -> list[StatusRecord]:
        """One tick: marks offline every online device silent for longer than its
        `offline_after_s`; returns the status changes this call stored. A device heard of
        between the read and the write, or marked by another instance, is left alone."""
        now_ms = self._clock.wall_ms()
        due = [
            OfflineCandidate(d.id, d.farm_id, d.status.state, d.last_seen_ms)
            for d in await self._store.watched_devices()
            if d.last_seen_ms is not None
            and self.policy.silent_too_long(d.interval_s, d.last_seen_ms, now_ms)
        ]
        if not due:
            return []
        marked = (await self._store.mark_offline(due, now_ms)).records
        if marked:
            metrics.DEVICES_MARKED_OFFLINE.inc(len(marked))
        return list(marked)

    async def run(self, every_s: float) -> None:
        """Sweeps every `every_s` seconds until cancelled; a failed sweep is logged and the
        next one tries again (a store that is down now may be back then)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.sweep()
            except DomainError as exc:
                log.warning("liveness sweep failed: %s", exc.message)
            except Exception:
                log.exception("liveness sweep failed")
