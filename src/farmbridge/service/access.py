"""Who the caller is and what they may do on which farm."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from farmbridge.domain import Role, User
from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import Forbidden, NotFound, RateLimited, Unauthenticated
from farmbridge.service.ratelimit import RateLimiter
from farmbridge.service.security import Secrets
from farmbridge.store import UserStore


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user with their roles, as of this request."""

    user: User
    roles: dict[int, Role] = field(default_factory=dict)
    token_expires_s: int = 0

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin

    def role_on(self, farm_id: int) -> Role | None:
        return Role.ADMIN if self.user.is_admin else self.roles.get(farm_id)

    def require(self, farm_id: int, needed: Role, *, what: str | None = None) -> None:
        """Raises Forbidden unless the user holds `needed` (or more) on the farm.

        With `what` (the kind of object asked for), a caller with no role on the farm gets
        NotFound(`<what> not found`), the store's answer for an id that does not exist, so
        other farms' ids cannot be told from free ones; a role too weak stays Forbidden.
        """
        role = self.role_on(farm_id)
        if role is None:
            if what is not None:
                raise NotFound(f"{what} not found")
            raise Forbidden(f"no access to farm {farm_id}")
        if not role.allows(needed):
            raise Forbidden(f"{needed.value} role needed on farm {farm_id}, you are {role.value}")

    def require_admin(self) -> None:
        if not self.user.is_admin:
            raise Forbidden("administrator role needed")

    def visible_farms(self) -> list[int] | None:
        """Farm ids the user may see, or None for all (a global admin)."""
        return None if self.user.is_admin else sorted(self.roles)


class AccessWatch:
    """Tells listeners (live connections) that a user's access changed: roles, tokens, account."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[int], None]] = []

    def add_listener(self, listener: Callable[[int], None]) -> None:
        self._listeners.append(listener)

    def changed(self, user_id: int) -> None:
        for listener in self._listeners:
            listener(user_id)


class AccessService:
    """Logs users in and turns tokens into principals."""

    def __init__(
        self,
        store: UserStore,
        secrets: Secrets,
        watch: AccessWatch,
        *,
        login_rate_per_min: int,
        clock: Clock,
    ) -> None:
        """Login attempts per client are limited on `clock`'s monotonic time."""
        self._store = store
        self._secrets = secrets
        self.watch = watch
        # A real hash of a throwaway secret, so a missing user costs a full verify too.
        self._dummy_hash = secrets.hash_password(secrets.new_device_key())
        self._login_limit = RateLimiter(
            rate_per_s=login_rate_per_min / 60, burst=max(1, login_rate_per_min // 3), clock=clock
        )

    async def login(self, username: str, password: str, *, client: str) -> tuple[str, int]:
        """Returns (token, expiry epoch s); a wrong name or password is one same error."""
        try:
            self._login_limit.take(("login", client))
        except RateLimited as exc:
            raise RateLimited("too many login attempts", retry_after_s=exc.retry_after_s) from exc
        try:
            user = await self._store.get_user_by_name(username)
        except NotFound:
            # Hash anyway so a missing user takes as long as a wrong password.
            self._secrets.verify_password(self._dummy_hash, password)
            raise Unauthenticated("wrong username or password") from None
        if not self._secrets.verify_password(user.password_hash, password):
            raise Unauthenticated("wrong username or password")
        return self._secrets.issue_token(user.id, user.token_version)

    async def principal(self, token: str) -> Principal:
        """Raises Unauthenticated for a bad, expired or revoked token or a deleted user."""
        claims = self._secrets.read_token(token)
        try:
            user = await self._store.get_user(claims.user_id)
        except NotFound:
            raise Unauthenticated("user no longer exists") from None
        if user.token_version != claims.token_version:
            raise Unauthenticated("token revoked")
        roles = {m.farm_id: m.role for m in await self._store.memberships_of_user(user.id)}
        return Principal(user, roles, claims.expires_s)

    async def reload(self, principal: Principal) -> Principal:
        """The same session with fresh roles; Unauthenticated if revoked or deleted since."""
        try:
            user = await self._store.get_user(principal.user.id)
        except NotFound:
            raise Unauthenticated("user no longer exists") from None
        if user.token_version != principal.user.token_version:
            raise Unauthenticated("token revoked")
        roles = {m.farm_id: m.role for m in await self._store.memberships_of_user(user.id)}
        return Principal(user, roles, principal.token_expires_s)

    async def revoke_tokens(self, principal: Principal, user_id: int) -> None:
        """Invalidates every token issued to a user so far (self or, for admins, anyone)."""
        if principal.user.id != user_id:
            principal.require_admin()
        await self._store.bump_token_version(user_id)
        self.watch.changed(user_id)
