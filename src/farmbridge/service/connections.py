"""The registry of live WebSocket connections: who, from where, watching what, how busy."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol

from farmbridge.service.access import Principal


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    id: str
    user: str | None
    remote: str
    farms: list[int]
    connected_ms: int
    messages_in: int
    messages_out: int
    bytes_out: int
    queue_depth: int
    queue_bytes: int
    mode: dict[int, str]


class LiveConnection(Protocol):
    id: str

    @property
    def user_id(self) -> int | None: ...

    def info(self) -> ConnectionInfo: ...

    def access_changed(self) -> None:
        """Re-check the user's token and roles; end what is no longer allowed."""
        ...

    def close_soon(self, code: int, reason: str) -> None: ...

    def farm_deleted(self, farm_id: int) -> None:
        """End the subscription to that farm, if any, saying the farm is gone."""
        ...


class ConnectionRegistry:
    def __init__(self) -> None:
        self._all: dict[str, LiveConnection] = {}
        self._by_user: dict[int, set[str]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._all)

    def add(self, conn: LiveConnection) -> None:
        self._all[conn.id] = conn

    def authenticated(self, conn: LiveConnection, user_id: int) -> int:
        """Records the connection's user; returns how many connections that user now has."""
        self._by_user[user_id].add(conn.id)
        return len(self._by_user[user_id])

    def remove(self, conn: LiveConnection) -> None:
        self._all.pop(conn.id, None)
        uid = conn.user_id
        if uid is not None:
            ids = self._by_user.get(uid)
            if ids is not None:
                ids.discard(conn.id)
                if not ids:
                    del self._by_user[uid]

    def user_count(self, user_id: int) -> int:
        return len(self._by_user.get(user_id, ()))

    def access_changed(self, user_id: int) -> None:
        for cid in list(self._by_user.get(user_id, ())):
            conn = self._all.get(cid)
            if conn is not None:
                conn.access_changed()

    def farm_dropped(self, farm_id: int, deleted: bool) -> None:
        """A farm handler (FarmService.add_drop_handler): a deleted farm's subscribers are
        told and unsubscribed; a renamed farm changes nothing here."""
        if deleted:
            for conn in list(self._all.values()):
                conn.farm_deleted(farm_id)

    def close_all(self, code: int, reason: str) -> None:
        for conn in list(self._all.values()):
            conn.close_soon(code, reason)

    def list(self, who: Principal) -> list[ConnectionInfo]:
        """Every live connection, for global admins only."""
        who.require_admin()
        return [c.info() for c in self._all.values()]
