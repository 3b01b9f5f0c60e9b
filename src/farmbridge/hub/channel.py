"""A farm's channel: its subscribers, its recent changes (for resume), and its live state."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from farmbridge.domain import Change
from farmbridge.hub.state import FarmState
from farmbridge.protocol.const import Mode, Topic
from farmbridge.protocol.server_messages import batch_prefix

MAX_BATCH_CHANGES: Final = 200

Part = tuple[str, Sequence[Change]]


class Sink(Protocol):
    """Where a subscription's batches go: a connection's queue. Must not block."""

    def deliver(self, sub: Subscription, parts: Sequence[Part]) -> None:
        """`parts` is one flush: encoded batches with the changes each holds."""
        ...


@dataclass(eq=False)
class Subscription:
    sink: Sink
    farm_id: int
    topics: frozenset[Topic]
    mode: Mode
    # While a resume is read from the store, live changes wait here instead.
    held: list[Change] | None = None
    last_seq: int = 0
    delivered: int = field(default=0)


class Channel:
    """Changes of one farm, in seq order, to every subscriber; encoded once per topic set."""

    def __init__(self, farm_id: int, epoch: str, state: FarmState, *, recent_size: int) -> None:
        self.farm_id = farm_id
        self.epoch = epoch
        self.state = state
        self.subs: set[Subscription] = set()
        self.recent: deque[Change] = deque(maxlen=recent_size)
        # Every change after `covered_from` reached this channel; recent holds the newest.
        self.covered_from = state.seq
        self.pending: list[Change] = []

    @property
    def last_seq(self) -> int:
        return self.state.seq

    def publish(self, changes: Sequence[Change]) -> None:
        fresh = [c for c in changes if c.seq > self.state.seq]
        if not fresh:
            return
        self.state.apply(fresh)
        self.recent.extend(fresh)
        self.pending.extend(fresh)

    def recent_after(self, seq: int) -> list[Change] | None:
        """Changes after `seq` from memory, or None when memory no longer reaches back."""
        floor = self.covered_from
        if self.recent and len(self.recent) == self.recent.maxlen:
            floor = max(floor, self.recent[0].seq - 1)
        if seq < floor:
            return None
        return [c for c in self.recent if c.seq > seq]

    def flush(self) -> int:
        """Hands pending changes to every subscriber; returns the number of deliveries."""
        if not self.pending:
            return 0
        pending, self.pending = self.pending, []
        # Bounded batches keep every frame well under what clients accept (1 MiB is common).
        chunks = [
            pending[i : i + MAX_BATCH_CHANGES] for i in range(0, len(pending), MAX_BATCH_CHANGES)
        ]
        encoded: dict[frozenset[Topic], list[Part]] = {}
        deliveries = 0
        for sub in list(self.subs):
            parts = encoded.get(sub.topics)
            if parts is None:
                parts = encoded[sub.topics] = [
                    (prefix, chunk)
                    for chunk in chunks
                    if (prefix := batch_prefix(self.farm_id, chunk, sub.topics)) is not None
                ]
            if parts:
                sub.sink.deliver(sub, parts)
                deliveries += 1
        return deliveries
