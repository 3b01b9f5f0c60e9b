"""SqlStore: the Store on SQLAlchemy Core, SQLite by default, PostgreSQL by URL.

One class per aggregate (`sql_users`, `sql_devices`, `sql_history`, `sql_commands`,
`sql_alarms`, `sql_liveness`, `sql_notifications`, `sql_retention`, `sql_lorawan`,
`sql_displays`), each over the one shared `SqlDatabase` (engine, group-commit writer, clock,
listeners); this class is all of them at once plus the lifecycle. What depends on the
database behind the URL is in `dialect`.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from farmbridge.domain.clock import SYSTEM_CLOCK, Clock
from farmbridge.store import migrate
from farmbridge.store.base import ChangeListener
from farmbridge.store.database import SqlDatabase
from farmbridge.store.dialect import SQLITE_BUSY_TIMEOUT_MS
from farmbridge.store.sql_alarms import SqlAlarms
from farmbridge.store.sql_commands import SqlCommands
from farmbridge.store.sql_devices import SqlDevices
from farmbridge.store.sql_displays import SqlDisplays
from farmbridge.store.sql_history import SqlHistory
from farmbridge.store.sql_liveness import SqlLiveness
from farmbridge.store.sql_lorawan import SqlLorawanProfiles
from farmbridge.store.sql_notifications import SqlNotifications
from farmbridge.store.sql_retention import SqlRetention
from farmbridge.store.sql_users import SqlUsers


class SqlStore(
    SqlUsers,
    SqlDevices,
    SqlHistory,
    SqlCommands,
    SqlAlarms,
    SqlLiveness,
    SqlNotifications,
    SqlRetention,
    SqlLorawanProfiles,
    SqlDisplays,
):
    """See farmbridge.store.base.Store for the contract of each method."""

    def __init__(
        self,
        url: str,
        *,
        clock: Clock = SYSTEM_CLOCK,
        commit_window_s: float = 0.0,
        commit_max_jobs: int = 512,
        sqlite_synchronous: str = "FULL",
        sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    ) -> None:
        super().__init__(
            SqlDatabase(
                url,
                clock=clock,
                commit_window_s=commit_window_s,
                commit_max_jobs=commit_max_jobs,
                sqlite_synchronous=sqlite_synchronous,
                sqlite_busy_timeout_ms=sqlite_busy_timeout_ms,
            )
        )
        self.engine = self._db.engine

    def add_listener(self, listener: ChangeListener) -> None:
        """Calls `listener(changes)` on the event loop after each commit, in commit order."""
        self._db.add_listener(listener)

    async def start(self) -> None:
        self._db.bind_loop(asyncio.get_running_loop())
        await asyncio.to_thread(migrate.upgrade, self.engine)
        self._db.writer.start()

    async def close(self) -> None:
        await asyncio.to_thread(self._db.writer.stop)
        self.engine.dispose()

    async def ping(self) -> None:
        await self._db.read(lambda c: c.execute(text("SELECT 1")).scalar_one())

    async def probe_write(self) -> None:
        await self._db.probe_write()

    @property
    def writer_stats(self) -> tuple[int, int]:
        """(groups committed, jobs committed): their ratio is the group-commit factor."""
        return self._db.writer.groups, self._db.writer.jobs
