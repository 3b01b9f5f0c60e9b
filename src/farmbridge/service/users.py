"""Users and their farm roles: global admins manage users, farm admins their farm's members."""

from __future__ import annotations

from farmbridge.domain import Membership, Role, User
from farmbridge.domain.errors import Conflict
from farmbridge.service.access import AccessWatch, Principal
from farmbridge.service.security import Secrets, require_strong_password
from farmbridge.store import Store


class UserService:
    def __init__(self, store: Store, secrets: Secrets, watch: AccessWatch) -> None:
        self._store = store
        self._secrets = secrets
        self._watch = watch

    async def create_user_unchecked(self, username: str, password: str, *, is_admin: bool) -> User:
        """For the CLI and the demo, which act as the machine's owner."""
        require_strong_password(password)
        return await self._store.create_user(
            username, self._secrets.hash_password(password), is_admin=is_admin
        )

    async def create_user(
        self, who: Principal, username: str, password: str, *, is_admin: bool
    ) -> User:
        who.require_admin()
        return await self.create_user_unchecked(username, password, is_admin=is_admin)

    async def set_password_unchecked(self, user_id: int, password: str) -> None:
        """Sets a user's password and ends every token and open socket of theirs (for the
        CLI, which acts as the machine's owner, and for admins). Raises ValidationFailed for
        a too short password, NotFound for no such user."""
        require_strong_password(password)
        await self._store.get_user(user_id)  # a missing user is 404
        await self._store.set_password(user_id, self._secrets.hash_password(password))
        await self._store.bump_token_version(user_id)
        self._watch.changed(user_id)

    async def reset_password(self, who: Principal, user_id: int, password: str) -> None:
        """A global admin sets another user's password; their tokens and sockets end."""
        who.require_admin()
        await self.set_password_unchecked(user_id, password)

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
