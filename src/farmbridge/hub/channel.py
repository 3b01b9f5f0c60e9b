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
    """One client's subscription to one farm.

    `last_seq` is the seq of the last change handed to it, by its replay or live: a flush
    hands it only the changes above, so whatever a replay already carried is never sent
    again, however the store's read, its commit listener and the flush interleave. While
    `held` is a list (a resume being read from the store) a flush puts the changes there
    instead of the sink; the resume appends them after its replay.
    """

    sink: Sink
    farm_id: int
    topics: frozenset[Topic]
    mode: Mode
    held: list[Change] | None = None
    last_seq: int = 0
    delivered: int = field(default=0)


def _seq(change: Change) -> int:
    return change.seq


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
        # Sorted (the store hears them in seq order already), so flush can rely on it.
        fresh = sorted((c for c in changes if c.seq > self.state.seq), key=_seq)
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
        """Hands each subscriber the pending changes above its last_seq; returns the number
        of deliveries. Pending changes are in seq order (publish keeps only fresh ones)."""
        if not self.pending:
            return 0
        pending, self.pending = self.pending, []
        first, last = pending[0].seq, pending[-1].seq
        encoded: dict[frozenset[Topic], list[Part]] = {}
        deliveries = 0
        for sub in list(self.subs):
            if sub.last_seq >= last:
                continue  # its replay already carried all of these
            if sub.held is not None:
                sub.held.extend(c for c in pending if c.seq > sub.last_seq)
                sub.last_seq = last
                continue
            if sub.last_seq < first:
                parts = encoded.get(sub.topics)
                if parts is None:
                    parts = encoded[sub.topics] = self._parts(pending, sub.topics)
            else:  # just after a resume whose replay reached into this flush: rare
                parts = self._parts([c for c in pending if c.seq > sub.last_seq], sub.topics)
            sub.last_seq = last
            if parts:
                sub.sink.deliver(sub, parts)
                deliveries += 1
        return deliveries

    def _parts(self, changes: list[Change], topics: frozenset[Topic]) -> list[Part]:
        # Bounded batches keep every frame well under what clients accept (1 MiB is common).
        chunks = (
            changes[i : i + MAX_BATCH_CHANGES] for i in range(0, len(changes), MAX_BATCH_CHANGES)
        )
        return [
            (prefix, chunk)
            for chunk in chunks
            if (prefix := batch_prefix(self.farm_id, chunk, topics)) is not None
        ]
