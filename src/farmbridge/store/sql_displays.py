"""The SQL store's display credentials (wall screens)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select

from farmbridge.domain.displays import Display
from farmbridge.domain.errors import NotFound
from farmbridge.store.database import SqlAggregate, one_row
from farmbridge.store.schema import displays, farms


class SqlDisplays(SqlAggregate):
    """See farmbridge.store.base.DisplayStore for the contract of each method."""

    async def create_display(
        self,
        farm_id: int,
        name: str,
        *,
        secret_hash: str,
        token_key: str,
        created_by: int | None,
        expires_ms: int | None,
    ) -> Display:
        created = self._db.clock.wall_ms()

        def fn(c: Connection) -> Display:
            one_row(c, farms, farms.c.id == farm_id, "farm")
            key = c.execute(
                insert(displays).values(
                    farm_id=farm_id,
                    name=name,
                    secret_hash=secret_hash,
                    token_key=token_key,
                    created_ms=created,
                    created_by=created_by,
                    expires_ms=expires_ms,
                )
            ).inserted_primary_key
            assert key is not None
            return Display(
                key[0], farm_id, name, created, created_by, expires_ms, token_key, secret_hash
            )

        return await self._db.write(fn)

    async def get_display(self, display_id: int) -> Display:
        return await self._db.read(
            lambda c: _display(one_row(c, displays, displays.c.id == display_id, "display"))
        )

    async def display_by_secret(self, secret_hash: str) -> Display:
        return await self._db.read(
            lambda c: _display(
                one_row(c, displays, displays.c.secret_hash == secret_hash, "display")
            )
        )

    async def list_displays(self, farm_id: int) -> list[Display]:
        q = select(displays).where(displays.c.farm_id == farm_id).order_by(displays.c.id)
        return await self._db.read(lambda c: [_display(r) for r in c.execute(q)])

    async def delete_display(self, farm_id: int, display_id: int) -> Display:
        def fn(c: Connection) -> Display:
            where = (displays.c.id == display_id) & (displays.c.farm_id == farm_id)
            row = c.execute(select(displays).where(where)).first()
            if row is None:
                raise NotFound("display not found")
            c.execute(delete(displays).where(where))
            return _display(row)

        return await self._db.write(fn)


def _display(row: Any) -> Display:
    return Display(
        int(row.id),
        int(row.farm_id),
        str(row.name),
        int(row.created_ms),
        None if row.created_by is None else int(row.created_by),
        None if row.expires_ms is None else int(row.expires_ms),
        str(row.token_key),
        str(row.secret_hash),
    )
