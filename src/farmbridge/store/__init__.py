"""Persistence behind one interface, `Store`, made of one protocol per aggregate."""

from farmbridge.store.base import (
    AlarmStore,
    CommandStore,
    FarmStore,
    HistoryStore,
    Store,
    UserStore,
)

__all__ = ["AlarmStore", "CommandStore", "FarmStore", "HistoryStore", "Store", "UserStore"]
