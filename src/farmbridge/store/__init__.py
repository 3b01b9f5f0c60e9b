"""Persistence behind one interface, `Store`, made of one protocol per aggregate."""

from farmbridge.store.base import (
    AlarmStore,
    CommandStore,
    DisplayStore,
    FarmStore,
    HistoryStore,
    NotificationStore,
    Store,
    UserStore,
)

__all__ = [
    "AlarmStore",
    "CommandStore",
    "DisplayStore",
    "FarmStore",
    "HistoryStore",
    "NotificationStore",
    "Store",
    "UserStore",
]
