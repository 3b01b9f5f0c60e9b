"""Users and their farm roles: global admins manage users, farm admins their farm's members."""

from __future__ import annotations

from farmbridge.domain import Membership, Role, User
from farmbridge.domain.errors import Conflict, ValidationFailed
from farmbridge.service.access import AccessWatch, Principal
from farmbridge.service.security import Secrets
from farmbridge.store import Store

MIN_PASSWORD_CHARS = 8


class UserService:
    def __init__(self, store: Store, secrets: Secrets, watch: AccessWatch) -> None:
        self._store = store
        self._secrets = secrets
        self._watch = watch

    async def create_user_unchecked(self, username: str, password: str, *, is_admin: bool) -> User:
        """For the CLI and the demo, which act as the machine's owner."""
        if len(password) < MIN_PASSWORD_CHARS:
            raise ValidationFailed(
                f"password needs at least {MIN_PASSWORD_CHARS} characters", field="password"
            )
        return await self._store.create_user(
            username, self._secrets.hash_password(password), is_admin=is_admin
        )

    async def create_user(
        self, who: Principal, username: str, password: str, *, is_admin: bool
    ) -> User:
        who.require_admin()
        return await self.create_user_unchecked(username, password, is_admin=is_admin)

    async def list_users(self, who: Principal) -> list[User]:
        who.require_admin()
        return await self._store.list_users()

    async def delete_user(self, who: Principal, user_id: int) -> None:
        who.require_admin()
        if user_id == who.user.id:
            raise Conflict("you cannot delete yourself")
        await self._store.delete_user(user_id)
        self._watch.changed(user_id)

    async def set_role(self, who: Principal, farm_id: int, user_id: int, role: Role) -> None:
        who.require(farm_id, Role.ADMIN, what="farm")
        await self._store.set_membership(user_id, farm_id, role)
        self._watch.changed(user_id)

    async def remove_role(self, who: Principal, farm_id: int, user_id: int) -> None:
        who.require(farm_id, Role.ADMIN, what="farm")
        await self._store.remove_membership(user_id, farm_id)
        self._watch.changed(user_id)

    async def members(self, who: Principal, farm_id: int) -> list[Membership]:
        who.require(farm_id, Role.ADMIN, what="farm")
        await self._store.get_farm(farm_id)  # a missing farm is 404, not an empty list
        return await self._store.memberships_of_farm(farm_id)
