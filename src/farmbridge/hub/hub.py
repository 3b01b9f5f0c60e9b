"""The hub: routes committed changes to farm channels and flushes them on a short tick.

Flushing waits at most one tick after the previous flush, so at low rates a change
goes out on the next loop iteration, and under load many changes share one frame. The
tick is measured on the injected clock's monotonic time; the wait itself is a loop timer.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Final

from farmbridge.domain import Change
from farmbridge.domain.clock import SYSTEM_CLOCK, Clock
from farmbridge.hub.channel import Channel, Subscription
from farmbridge.hub.state import FarmState

HUB_TICK_S: Final = 0.005
"""The most a change waits for the next flush while changes keep coming."""
RECENT_SIZE: Final = 20_000
"""Changes per farm kept in memory for resumes; older ones come from the store."""


class Hub:
    def __init__(
        self,
        *,
        tick_s: float = HUB_TICK_S,
        recent_size: int = RECENT_SIZE,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._tick_s = tick_s
        self._clock = clock
        self._recent_size = recent_size
        self.channels: dict[int, Channel] = {}
        self._dirty: set[int] = set()
        self._scheduled: asyncio.TimerHandle | asyncio.Handle | None = None
        self._last_flush = -math.inf  # never flushed: the first flush goes at once
        self.deliveries = 0
        # Changes that arrive while a farm's channel is being opened wait here.
        self._opening: dict[int, list[Change]] = {}

    def publish(self, changes: Sequence[Change]) -> None:
        """Takes committed changes in commit order; must run on the event loop."""
        by_farm: dict[int, list[Change]] = defaultdict(list)
        for ch in changes:
            by_farm[ch.farm_id].append(ch)
        for farm_id, farm_changes in by_farm.items():
            channel = self.channels.get(farm_id)
            if channel is not None:
                channel.publish(farm_changes)
                self._dirty.add(farm_id)
            elif farm_id in self._opening:
                self._opening[farm_id].extend(farm_changes)
        if self._dirty and self._scheduled is None:
            self._schedule()

    def begin_open(self, farm_id: int) -> None:
        """Starts collecting a farm's changes before its state is read from the store."""
        self._opening.setdefault(farm_id, [])

    def head(self, farm_id: int) -> int | None:
        """The seq up to which the farm's channel has every change; None with no channel."""
        channel = self.channels.get(farm_id)
        return None if channel is None else channel.state.seq

    def opening_gap(self, farm_id: int, after_seq: int) -> bool:
        """Whether what arrived since begin_open starts later than right after `after_seq`
        (with several instances, a lower seq may still be on its way)."""
        early = self._opening.get(farm_id)
        return early is not None and bool(early) and min(c.seq for c in early) > after_seq + 1

    def finish_open(
        self, farm_id: int, epoch: str, state: FarmState, stored: Sequence[Change] = ()
    ) -> Channel:
        """Opens the channel from state read after begin_open; applies what arrived meanwhile,
        with `stored`: changes after state.seq read from the store to close a gap."""
        merged = {c.seq: c for c in stored}
        merged.update((c.seq, c) for c in self._opening.pop(farm_id, []))
        early = sorted(merged.values(), key=lambda c: c.seq)
        # Every change after state.seq was published after begin_open, so it is in `early`
        # or still to come: the channel covers history from state.seq on.
        channel = Channel(farm_id, epoch, state, recent_size=self._recent_size)
        channel.state.apply(early)
        channel.recent.extend(c for c in early if c.seq > channel.covered_from)
        self.channels[farm_id] = channel
        return channel

    def abandon_open(self, farm_id: int) -> None:
        self._opening.pop(farm_id, None)

    def close_channel(self, farm_id: int) -> None:
        """Forgets a farm's channel (history reset, farm gone): its subscribers must resync."""
        self.channels.pop(farm_id, None)

    def attach(self, sub: Subscription) -> Channel:
        channel = self.channels[sub.farm_id]
        channel.subs.add(sub)
        return channel

    def detach(self, sub: Subscription) -> None:
        channel = self.channels.get(sub.farm_id)
        if channel is not None:
            channel.subs.discard(sub)

    def flush_farm(self, farm_id: int) -> None:
        channel = self.channels.get(farm_id)
        if channel is not None and channel.pending:
            self.deliveries += channel.flush()

    def flush(self) -> None:
        self._scheduled = None
        self._last_flush = self._clock.monotonic()
        dirty, self._dirty = self._dirty, set()
        for farm_id in dirty:
            channel = self.channels.get(farm_id)
            if channel is not None:
                self.deliveries += channel.flush()

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self._last_flush + self._tick_s - self._clock.monotonic()
        self._scheduled = (
            loop.call_later(wait, self.flush) if wait > 0 else loop.call_soon(self.flush)
        )
