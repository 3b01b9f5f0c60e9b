"""The farms a client watches and where it stands in each (pure, no I/O).

Positions move only as the caller consumes messages: a change received but not yet
consumed when a connection drops is asked for again on resume, and whichever copy
comes second is dropped as a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from farmbridge.client.messages import Change, Message, Resynced, Snapshot
from farmbridge.protocol.const import Mode


class Subscriptions:
    def __init__(self, *, topics: list[str] | None, mode: Mode) -> None:
        """
        Args:
            topics: the topics of every subscription, sorted; None for all.
            mode: the mode of every subscription.
        """
        self._topics = topics
        self._mode = mode
        self._farms: dict[int, None] = {}  # an ordered set: subscribed in the caller's order
        self.last_seq: dict[int, int] = {}
        self.epoch: dict[int, str] = {}
        self._needs_snapshot: set[int] = set()
        self.duplicates_dropped = 0

    def __contains__(self, farm: int) -> bool:
        return farm in self._farms

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._farms))

    def add(self, farm: int, since: int | None) -> None:
        """Watches a farm from a snapshot, or from the changes after `since`."""
        self._farms[farm] = None
        if since is None:
            self._needs_snapshot.add(farm)
        else:
            self._needs_snapshot.discard(farm)
            self.last_seq[farm] = since
            self.epoch.pop(farm, None)

    def remove(self, farm: int) -> bool:
        """Forgets a farm; False when it was not watched."""
        if farm not in self._farms:
            return False
        del self._farms[farm]
        self.last_seq.pop(farm, None)
        self.epoch.pop(farm, None)
        self._needs_snapshot.discard(farm)
        return True

    def request(self, farm: int, ref: int) -> dict[str, Any]:
        """The `subscribe` message for a farm: resuming from its position when it has one."""
        msg: dict[str, Any] = {"type": "subscribe", "id": ref, "farm": farm, "mode": self._mode}
        if self._topics is not None:
            msg["topics"] = self._topics
        since = None if farm in self._needs_snapshot else self.last_seq.get(farm)
        if since is not None:
            msg["since"] = since
            epoch = self.epoch.get(farm)
            if epoch:
                msg["epoch"] = epoch
        return msg

    def resync(self, farm: int) -> None:
        """The server ended the farm's subscription: the next subscribe asks for a snapshot."""
        self._needs_snapshot.add(farm)

    def subscribed(self, farm: int, epoch: str) -> None:
        self.epoch[farm] = epoch

    def consume(self, message: Message) -> bool:
        """Moves positions as the caller gets `message`; False to drop it (a duplicate)."""
        if isinstance(message, Change):
            if message.farm not in self._farms:
                return False
            last = self.last_seq.get(message.farm)
            if last is not None and message.seq <= last:
                self.duplicates_dropped += 1
                return False
            self.last_seq[message.farm] = message.seq
        elif isinstance(message, Snapshot):
            if message.farm not in self._farms:
                return False
            self.last_seq[message.farm] = message.seq
            self.epoch[message.farm] = message.epoch
            self._needs_snapshot.discard(message.farm)
        elif isinstance(message, Resynced):
            self.last_seq.pop(message.farm, None)
        return True
