"""Persistence behind one interface, `Store`, made of one protocol per aggregate."""

from farmbridge.store.base import (
    CommandStore,
    FarmStore,
    HistoryStore,
    NotificationStore,
    Store,
    UserStore,
)

__all__ = ["CommandStore", "FarmStore", "HistoryStore", "NotificationStore", "Store", "UserStore"]
