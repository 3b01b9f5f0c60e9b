"""This instance's live stream figures: the rolling window the /ws layer records into, pushed
to the admins who watch it and exported to Prometheus, once per slot.

The /ws layer records each event into `window` (domain/live_window.py) as it happens: a
connect or disconnect, a resume, a slow consumer, and one latency per frame with data.
`run` closes a slot every `slot_s` seconds of the injected clock; each closed slot goes to
every watcher (a connection whose admin sent `subscribe_stats`) as one `stats` message and
into the Prometheus metrics. The figures are this instance's own: with several instances
behind a load balancer each reports its connections (docs/protocol.md, Live figures).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
from typing import Final, Protocol

from farmbridge import metrics
from farmbridge.domain.clock import Clock
from farmbridge.domain.live_window import LiveWindow, Slot
from farmbridge.hub.hub import Hub
from farmbridge.protocol import server_messages as out
from farmbridge.protocol.const import STATS_INTERVAL_S, STATS_WINDOW_S
from farmbridge.service.connections import ConnectionRegistry

log = logging.getLogger(__name__)

MAX_STATS_SLOTS: Final = 720
"""The most slots a window holds, whatever the settings (memory and the first message)."""
MAX_STATS_FARMS: Final = 100
"""Farms listed in a `stats` message (those with the most subscribers), so it stays small."""


class StatsWatcher(Protocol):
    def push_stats(self, text: str) -> None:
        """Queues a `stats` message for the client; must not block."""
        ...


class LiveStats:
    def __init__(
        self,
        *,
        registry: ConnectionRegistry,
        clock: Clock,
        hub: Hub | None = None,
        instance: str = "",
        slot_s: float = STATS_INTERVAL_S,
        window_s: float = STATS_WINDOW_S,
    ) -> None:
        """`hub` gives the subscribers per farm (none listed without it); `instance` names
        this bridge instance in every message; the window holds `window_s / slot_s` slots
        (at most MAX_STATS_SLOTS)."""
        self.window = LiveWindow(
            slot_s=slot_s, slots=min(MAX_STATS_SLOTS, max(1, round(window_s / slot_s))), clock=clock
        )
        self.instance = instance
        self._registry = registry
        self._hub = hub
        self._watchers: set[StatsWatcher] = set()
        self._exported_farms: set[str] = set()

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    def watch(self, watcher: StatsWatcher, ref: int | str | None) -> str:
        """Adds a watcher; returns its first `stats` message: the whole window."""
        self._watchers.add(watcher)
        return self._message(ref, self.window.closed)

    def unwatch(self, watcher: StatsWatcher) -> None:
        self._watchers.discard(watcher)

    def tick(self) -> Slot | None:
        """Closes the open slot when it is due, and hands it on; returns it (None: not due)."""
        slot = self.window.roll(len(self._registry))
        if slot is None:
            return None
        farms = self._farms()
        self._export(slot, farms)
        if self._watchers:
            text = self._message(None, [slot], farms)
            for watcher in list(self._watchers):
                watcher.push_stats(text)
        return slot

    async def run(self) -> None:
        """Closes a slot every `slot_s`, until cancelled."""
        while True:
            await asyncio.sleep(self.window.due_in())
            try:
                self.tick()
            except Exception:
                # The figures are for people; a bug in them must not stop the next slots.
                log.exception("live stats: closing a slot failed")

    def _farms(self) -> dict[int, int]:
        if self._hub is None:
            return {}
        counts = [(f, len(ch.subs)) for f, ch in self._hub.channels.items() if ch.subs]
        counts.sort(key=lambda fc: (-fc[1], fc[0]))
        return dict(counts[:MAX_STATS_FARMS])

    def _message(
        self, ref: int | str | None, slots: Iterable[Slot], farms: dict[int, int] | None = None
    ) -> str:
        return out.stats(
            ref,
            instance=self.instance,
            slot_s=self.window.slot_s,
            window_s=self.window.slot_s * (self.window.closed.maxlen or 1),
            connections=len(self._registry),
            farms=self._farms() if farms is None else farms,
            slots=slots,
        )

    def _export(self, slot: Slot, farms: dict[int, int]) -> None:
        metrics.WS_CONNECTS.inc(slot.connects)
        metrics.WS_DISCONNECTS.inc(slot.disconnects)
        metrics.WS_RESUMES.inc(slot.resumes)
        for q, value in (("0.5", slot.p50_ms), ("0.99", slot.p99_ms)):
            metrics.WS_DELIVERY_RECENT.labels(q).set(math.nan if value is None else value / 1000)
        labels = {str(f) for f in farms}
        for gone in self._exported_farms - labels:
            metrics.WS_FARM_SUBSCRIBERS.remove(gone)
        for farm, n in farms.items():
            metrics.WS_FARM_SUBSCRIBERS.labels(str(farm)).set(n)
        self._exported_farms = labels
