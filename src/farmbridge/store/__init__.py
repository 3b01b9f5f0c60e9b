"""Persistence behind one interface (`Store`): SQLite by default, any SQLAlchemy engine later."""

from farmbridge.store.base import Store

__all__ = ["Store"]
