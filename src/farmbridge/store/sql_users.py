"""The SQL store's users aggregate: accounts, token versions (revocation), farm roles."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from farmbridge.domain import Membership, Role, User
from farmbridge.domain.errors import Conflict, NotFound
from farmbridge.store import rows
from farmbridge.store.database import SqlAggregate, one_row, updater
from farmbridge.store.schema import farms, memberships, users


class SqlUsers(SqlAggregate):
    """See farmbridge.store.base.UserStore for the contract of each method."""

    async def create_user(self, username: str, password_hash: str, *, is_admin: bool) -> User:
        created = self._db.clock.wall_ms()

        def fn(c: Connection) -> User:
            if c.execute(select(users.c.id).where(users.c.username == username)).first():
                raise Conflict(f"user {username!r} exists already")
            uid = c.execute(
                insert(users).values(
                    username=username,
                    password_hash=password_hash,
                    is_admin=is_admin,
                    token_version=0,
                    created_ms=created,
                )
            ).inserted_primary_key
            assert uid is not None
            return User(uid[0], username, is_admin, created, password_hash, 0)

        return await self._db.write(fn)

    async def get_user(self, user_id: int) -> User:
        return await self._db.read(
            lambda c: rows.user(one_row(c, users, users.c.id == user_id, "user"))
        )

    async def get_user_by_name(self, username: str) -> User:
        return await self._db.read(
            lambda c: rows.user(one_row(c, users, users.c.username == username, "user"))
        )

    async def list_users(self) -> list[User]:
        return await self._db.read(
            lambda c: [rows.user(r) for r in c.execute(select(users).order_by(users.c.id))]
        )

    async def set_password(self, user_id: int, password_hash: str) -> None:
        await self._db.write(
            updater(users, users.c.id == user_id, "user", password_hash=password_hash)
        )

    async def bump_token_version(self, user_id: int) -> None:
        await self._db.write(
            updater(users, users.c.id == user_id, "user", token_version=users.c.token_version + 1)
        )

    async def delete_user(self, user_id: int) -> None:
        def fn(c: Connection) -> None:
            c.execute(delete(memberships).where(memberships.c.user_id == user_id))
            if not c.execute(delete(users).where(users.c.id == user_id)).rowcount:
                raise NotFound(f"user {user_id} not found")

        await self._db.write(fn)

    async def set_membership(self, user_id: int, farm_id: int, role: Role) -> None:
        def fn(c: Connection) -> None:
            one_row(c, users, users.c.id == user_id, "user")
            one_row(c, farms, farms.c.id == farm_id, "farm")
            c.execute(
                delete(memberships).where(
                    memberships.c.user_id == user_id, memberships.c.farm_id == farm_id
                )
            )
            c.execute(insert(memberships).values(user_id=user_id, farm_id=farm_id, role=role.value))

        await self._db.write(fn)

    async def remove_membership(self, user_id: int, farm_id: int) -> None:
        def fn(c: Connection) -> None:
            res = c.execute(
                delete(memberships).where(
                    memberships.c.user_id == user_id, memberships.c.farm_id == farm_id
                )
            )
            if not res.rowcount:
                raise NotFound(f"user {user_id} has no role on farm {farm_id}")

        await self._db.write(fn)

    async def memberships_of_user(self, user_id: int) -> list[Membership]:
        q = select(memberships).where(memberships.c.user_id == user_id)
        return await self._db.read(lambda c: [rows.membership(r) for r in c.execute(q)])

    async def memberships_of_farm(self, farm_id: int) -> list[Membership]:
        q = select(memberships).where(memberships.c.farm_id == farm_id)
        return await self._db.read(lambda c: [rows.membership(r) for r in c.execute(q)])
