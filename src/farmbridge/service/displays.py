"""Display credentials for wall screens: created and revoked by farm admins, exchanged by the
screen for short-lived viewer tokens on one farm."""

from __future__ import annotations

from farmbridge.domain import Role
from farmbridge.domain.clock import Clock
from farmbridge.domain.displays import Display, display_subject
from farmbridge.domain.errors import NotFound, Unauthenticated, ValidationFailed
from farmbridge.service.access import AccessService, AccessWatch, Principal
from farmbridge.service.security import Secrets
from farmbridge.store import DisplayStore, FarmStore


class DisplayService:
    def __init__(
        self,
        store: DisplayStore,
        farms: FarmStore,
        secrets: Secrets,
        access: AccessService,
        watch: AccessWatch,
        *,
        token_ttl_s: int,
        clock: Clock,
    ) -> None:
        """Exchanged tokens last `token_ttl_s` (never past the credential's own expiry)."""
        self._store = store
        self._farms = farms
        self._secrets = secrets
        self._access = access
        self._watch = watch
        self._token_ttl_s = token_ttl_s
        self._clock = clock

    async def create(
        self, who: Principal, farm_id: int, name: str, *, expires_ms: int | None
    ) -> tuple[Display, str]:
        """A new credential and its secret, which is shown this once (only its hash is
        kept). Farm admins only; NotFound for a farm the caller cannot see, ValidationFailed
        for an expiry not in the future."""
        who.require(farm_id, Role.ADMIN, what="farm")
        if expires_ms is not None and expires_ms <= self._clock.wall_ms():
            raise ValidationFailed("expires_ms must be in the future", field="expires_ms")
        secret = self._secrets.new_display_secret()
        display = await self._store.create_display(
            farm_id,
            name,
            secret_hash=self._secrets.device_key_hash(secret),
            token_key=self._secrets.new_token_key(),
            created_by=who.user.id,
            expires_ms=expires_ms,
        )
        return display, secret

    async def list(self, who: Principal, farm_id: int) -> list[Display]:
        who.require(farm_id, Role.ADMIN, what="farm")
        await self._farms.get_farm(farm_id)  # a missing farm is 404, not an empty list
        return await self._store.list_displays(farm_id)

    async def revoke(self, who: Principal, farm_id: int, display_id: int) -> None:
        """Deletes the credential: its tokens stop working and every socket opened with them,
        on every instance, closes (4001). NotFound when the farm has no such display."""
        who.require(farm_id, Role.ADMIN, what="farm")
        await self._store.delete_display(farm_id, display_id)
        self._watch.changed(display_subject(display_id))

    async def token(self, secret: str, *, client: str) -> tuple[str, int]:
        """Exchanges a display secret for a token and its expiry (epoch s); the screen does
        so again before the token expires. Raises Unauthenticated for an unknown, revoked or
        expired credential, RateLimited while `client` has spent its budget of wrong
        secrets (shared with wrong device keys)."""
        self._access.device_key_gate(client)
        try:
            display = await self._store.display_by_secret(self._secrets.device_key_hash(secret))
        except NotFound:
            self._access.device_key_failed(client)
            raise Unauthenticated("unknown display secret") from None
        if display.expires_ms is not None and display.expires_ms <= self._clock.wall_ms():
            raise Unauthenticated("display credential expired")
        not_after = None if display.expires_ms is None else display.expires_ms // 1000
        return self._secrets.issue_display_token(
            display.id, display.token_key, ttl_s=self._token_ttl_s, not_after_s=not_after
        )
