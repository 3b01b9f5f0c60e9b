"""A connection's bounded send queue: what waits for the socket, and what to do when it piles up.

Data batches are shared strings (one encoding per farm); a send stamps and joins them
into one frame. When a subscription in latest-value mode backs up, its queued readings
collapse to the newest per sensor. When the queue passes its bound the connection is a
slow consumer: its queued data is dropped and its subscriptions must resync.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from farmbridge.domain import Change, Reading
from farmbridge.hub.channel import Part, Subscription
from farmbridge.protocol.const import Mode
from farmbridge.protocol.server_messages import batch_prefix, sent_tail, stored_ms


@dataclass(slots=True)
class _Data:
    sub: Subscription
    prefix: str
    changes: Sequence[Change]


MAX_FRAME_CHARS: Final = 256 * 1024
"""Joining stops here, so a frame stays far below the 1 MiB many clients accept."""


class SendQueue:
    def __init__(self, *, max_messages: int, max_bytes: int) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._items: list[_Data | str] = []
        self._bytes = 0
        self.ready = asyncio.Event()
        self.overflowed = False
        self.coalesced = 0
        # The store time of the oldest change in the last frame taken, for latency metrics.
        self.oldest_stored_ms = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def put_control(self, text: str) -> None:
        """Protocol messages (errors, pongs, resyncs) are small and never dropped."""
        self._items.append(text)
        self._bytes += len(text)
        self.ready.set()

    def put_data(self, sub: Subscription, parts: Sequence[Part], *, wake: bool = True) -> bool:
        """Queues one flush's batches; returns False (queueing nothing) when the queue is
        already at its bound. A whole flush always fits, so a fast client survives a large
        burst: a connection holds at most its bound plus one flush. With wake=False the
        caller takes the frame itself at once, so the writer is not woken for it."""
        if len(self._items) >= self.max_messages or self._bytes >= self.max_bytes:
            self.overflowed = True
            return False
        for prefix, changes in parts:
            if sub.mode is Mode.LATEST and any(
                isinstance(i, _Data) and i.sub is sub for i in self._items
            ):
                self._coalesce(sub, prefix, changes)
            else:
                self._items.append(_Data(sub, prefix, changes))
                self._bytes += len(prefix)
        if wake:
            self.ready.set()
        return True

    def drop_data(self) -> None:
        """Forgets every queued batch, keeping control messages (for a slow consumer)."""
        self._items = [i for i in self._items if isinstance(i, str)]
        self._bytes = sum(len(i) for i in self._items if isinstance(i, str))
        self.overflowed = False

    def take_frame(self, sent_ms: int) -> str | None:
        """What is queued as one text frame (a message, or a JSON array of them), up to
        MAX_FRAME_CHARS; the rest stays queued for the next frame."""
        items = self._items
        if not items:
            self.ready.clear()
            return None
        if self._bytes <= MAX_FRAME_CHARS:  # the usual case: everything fits
            self._items, self._bytes = [], 0
        else:
            n, size = 0, 0
            for item in items:
                size += len(item) if isinstance(item, str) else len(item.prefix)
                if n and size > MAX_FRAME_CHARS:
                    break
                n += 1
            items, self._items = items[:n], items[n:]
            self._bytes -= sum(len(i) if isinstance(i, str) else len(i.prefix) for i in items)
        if not self._items:
            self.ready.clear()
        self.oldest_stored_ms = 0
        tail = sent_tail(sent_ms)
        parts: list[str] = []
        for i in items:
            if isinstance(i, str):
                parts.append(i)
            else:
                if not self.oldest_stored_ms and i.changes:
                    self.oldest_stored_ms = stored_ms(i.changes[0])
                parts.append(i.prefix + tail)
        return parts[0] if len(parts) == 1 else "[" + ",".join(parts) + "]"

    def _coalesce(self, sub: Subscription, prefix: str, changes: Sequence[Change]) -> None:
        # Merge this subscription's queued batches with the new one, keeping only the newest
        # reading of each sensor; other changes (status, events, commands) all stay.
        merged: list[Change] = []
        kept: list[_Data | str] = []
        for item in self._items:
            if isinstance(item, _Data) and item.sub is sub:
                merged.extend(item.changes)
                self._bytes -= len(item.prefix)
            else:
                kept.append(item)
        merged.extend(changes)
        newest: dict[int, Reading] = {}
        for ch in merged:
            if isinstance(ch, Reading):
                newest[ch.sensor_id] = ch
        collapsed = [
            ch for ch in merged if not isinstance(ch, Reading) or newest[ch.sensor_id] is ch
        ]
        self.coalesced += len(merged) - len(collapsed)
        new_prefix = batch_prefix(sub.farm_id, collapsed, sub.topics) or prefix
        kept.append(_Data(sub, new_prefix, collapsed))
        self._items = kept
        self._bytes += len(new_prefix)
