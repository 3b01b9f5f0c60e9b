"""Persistence behind one interface, `Store`, made of one protocol per aggregate."""

from farmbridge.store.base import CommandStore, FarmStore, HistoryStore, Store, UserStore

__all__ = ["CommandStore", "FarmStore", "HistoryStore", "Store", "UserStore"]
