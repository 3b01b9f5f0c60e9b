"""Who the caller is and what they may do on which farm."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from farmbridge.domain import Role, User
from farmbridge.domain.clock import Clock
from farmbridge.domain.displays import Display, display_subject
from farmbridge.domain.errors import Forbidden, NotFound, RateLimited, Unauthenticated
from farmbridge.service.addresses import client_address, trusted_networks
from farmbridge.service.ratelimit import LoginDelay, RateLimiter
from farmbridge.service.security import DisplayClaims, Secrets, require_strong_password
from farmbridge.store import DisplayStore, UserStore


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user with their roles, as of this request.

    A display credential (wall screen) is a principal too: `display` is set, `user` is
    a stand-in whose id is `display_subject(display_id)` (so sessions, the connection
    registry and the access watch count it like a user) and whose name is
    `display:<name>`, and `roles` is viewer on the display's one farm."""

    user: User
    roles: dict[int, Role] = field(default_factory=dict)
    token_expires_s: int = 0
    display: Display | None = None

    @property
    def display_id(self) -> int | None:
        return None if self.display is None else self.display.id

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

    def require_user(self) -> None:
        """Raises Forbidden for a display credential: what only a user account can do."""
        if self.display_id is not None:
            raise Forbidden("a display credential cannot do this")

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


DEVICE_KEY_FAILURES_PER_MIN: Final = 30.0
DEVICE_KEY_FAILURE_BURST: Final = 20


class AccessStore(UserStore, DisplayStore, Protocol):
    """What the access service reads: users and their roles, display credentials."""


def display_principal(display: Display, token_expires_s: int) -> Principal:
    """The principal of a display credential: viewer on its farm, nothing else."""
    stand_in = User(
        display_subject(display.id), f"display:{display.name}", False, display.created_ms
    )
    public = dataclasses.replace(display, secret_hash="")
    return Principal(stand_in, {display.farm_id: Role.VIEWER}, token_expires_s, display=public)


class AccessService:
    """Logs users in and turns tokens (of users and of displays) into principals."""

    def __init__(
        self,
        store: AccessStore,
        secrets: Secrets,
        watch: AccessWatch,
        *,
        login_rate_per_min: int,
        clock: Clock,
        trusted_proxies: Sequence[str] = (),
        device_key_failures_per_min: float = DEVICE_KEY_FAILURES_PER_MIN,
        device_key_failure_burst: int = DEVICE_KEY_FAILURE_BURST,
    ) -> None:
        """Login attempts are limited per client address and per account (LoginDelay), and
        wrong device keys per address, all on `clock`'s monotonic time. X-Forwarded-For is
        believed only from `trusted_proxies` (addresses or CIDRs)."""
        self._store = store
        self._secrets = secrets
        self.watch = watch
        self._clock = clock
        # A real hash of a throwaway secret, so a missing user costs a full verify too.
        self._dummy_hash = secrets.hash_password(secrets.new_device_key())
        self._login_limit = RateLimiter(
            rate_per_s=login_rate_per_min / 60, burst=max(1, login_rate_per_min // 3), clock=clock
        )
        self.login_delay = LoginDelay(clock=clock)
        self._trusted = trusted_networks(trusted_proxies)
        self._key_failures = RateLimiter(
            rate_per_s=device_key_failures_per_min / 60,
            burst=max(1, device_key_failure_burst),
            clock=clock,
        )

    def client_address(self, peer: str, forwarded_for: Sequence[str]) -> str:
        """The client's address for the limits (see service.addresses.client_address)."""
        return client_address(peer, forwarded_for, self._trusted)

    def device_key_gate(self, client: str) -> None:
        """Raises RateLimited while `client` has spent its budget of wrong device keys."""
        wait = self._key_failures.wait_s(client)
        if wait > 0:
            raise RateLimited("too many wrong device keys", retry_after_s=wait)

    def device_key_failed(self, client: str) -> None:
        """Counts a wrong device key (or integration secret) from `client`."""
        self._key_failures.charge(client)

    async def _check_password(self, username: str, password: str, *, client: str) -> User:
        """The user, if `password` is theirs; every attempt counts against both limits.

        Raises RateLimited while the address's budget or the account's delay for this
        address runs (the password is then not checked), Unauthenticated when wrong.
        """
        try:
            self._login_limit.take(("login", client))
        except RateLimited as exc:
            raise RateLimited("too many login attempts", retry_after_s=exc.retry_after_s) from exc
        self.login_delay.check(username, client)
        try:
            user = await self._store.get_user_by_name(username)
        except NotFound:
            # Hash anyway so a missing user takes as long as a wrong password.
            self._secrets.verify_password(self._dummy_hash, password)
            self.login_delay.failed(username, client)
            raise Unauthenticated("wrong username or password") from None
        if not self._secrets.verify_password(user.password_hash, password):
            self.login_delay.failed(username, client)
            raise Unauthenticated("wrong username or password")
        self.login_delay.succeeded(username)
        return user

    async def login(self, username: str, password: str, *, client: str) -> tuple[str, int]:
        """Returns (token, expiry epoch s); a wrong name or password is one same error."""
        user = await self._check_password(username, password, client=client)
        return self._secrets.issue_token(user.id, user.token_version)

    async def change_password(
        self, principal: Principal, current: str, new: str, *, client: str
    ) -> tuple[str, int]:
        """Sets the caller's password after checking the current one (under the login
        limits); every token and open socket of the user ends. Returns a fresh token.

        Raises ValidationFailed for a too short new password, Forbidden for a wrong
        current one, RateLimited like a login.
        """
        principal.require_user()
        require_strong_password(new, field="new_password")
        try:
            user = await self._check_password(principal.user.username, current, client=client)
        except Unauthenticated:
            # Not 401: the caller's token is good, and a client would log out on 401.
            raise Forbidden("the current password is wrong") from None
        await self._store.set_password(user.id, self._secrets.hash_password(new))
        await self._store.bump_token_version(user.id)
        self.watch.changed(user.id)
        fresh = await self._store.get_user(user.id)
        return self._secrets.issue_token(fresh.id, fresh.token_version)

    async def principal(self, token: str) -> Principal:
        """Raises Unauthenticated for a bad, expired or revoked token, a deleted user, or a
        revoked or expired display credential."""
        claims = self._secrets.read_token(token)
        if isinstance(claims, DisplayClaims):
            display = await self._live_display(claims.display_id, claims.token_key)
            return display_principal(display, claims.expires_s)
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
        if principal.display is not None:
            display = await self._live_display(principal.display.id, principal.display.token_key)
            return display_principal(display, principal.token_expires_s)
        try:
            user = await self._store.get_user(principal.user.id)
        except NotFound:
            raise Unauthenticated("user no longer exists") from None
        if user.token_version != principal.user.token_version:
            raise Unauthenticated("token revoked")
        roles = {m.farm_id: m.role for m in await self._store.memberships_of_user(user.id)}
        return Principal(user, roles, principal.token_expires_s)

    async def _live_display(self, display_id: int, token_key: str) -> Display:
        """The display credential, unless revoked (or re-created under the same id) or
        expired since: then Unauthenticated."""
        try:
            display = await self._store.get_display(display_id)
        except NotFound:
            raise Unauthenticated("display credential revoked") from None
        if display.token_key != token_key:
            raise Unauthenticated("display credential revoked")
        if display.expires_ms is not None and display.expires_ms <= self._clock.wall_ms():
            raise Unauthenticated("display credential expired")
        return display

    async def revoke_tokens(self, principal: Principal, user_id: int) -> None:
        """Invalidates every token issued to a user so far (self or, for admins, anyone)."""
        principal.require_user()
        if principal.user.id != user_id:
            principal.require_admin()
        await self._store.bump_token_version(user_id)
        self.watch.changed(user_id)
