"""Display credentials on a FakeClock: the exchange for short-lived viewer tokens, their
refresh on the open socket, expiry, and revocation of tokens and sockets.

The sessions are played by the `Peer` of test_ws_session (the sans-I/O session with a test
shell), answered by the real access and display services of one bridge.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest

from farmbridge.domain import Role
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.displays import display_subject
from farmbridge.domain.errors import (
    Forbidden,
    NotFound,
    TokenExpired,
    Unauthenticated,
    ValidationFailed,
)
from farmbridge.protocol.const import CloseCode
from farmbridge.service.access import Principal
from farmbridge.service.bundle import Services
from farmbridge.service.security import Secrets
from farmbridge.ws.limits import WsLimits
from tests.unit.bridge_services import SECRET_KEY, admin, running_services
from tests.unit.test_ws_session import Peer

TTL_S = 900
AUTH_TIMEOUT_S = 5.0
HEARTBEAT_S = 30.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def svc(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Services]:
    async with running_services(tmp_path, clock, display_token_ttl_s=TTL_S) as s:
        yield s


async def farm_and_owner(svc: Services, name: str = "wall") -> tuple[int, Principal]:
    """A farm and a principal who is its farm admin (not a global admin)."""
    farm = await svc.store.create_farm(name, "")
    user = await svc.store.create_user(f"owner-{name}", "not-a-hash", is_admin=False)
    await svc.store.set_membership(user.id, farm.id, Role.ADMIN)
    return farm.id, await svc.access.reload(Principal(user))


async def test_display_secret_is_stored_hashed_and_exchanged_for_a_viewer_token(
    svc: Services, clock: FakeClock
) -> None:
    """The secret is shown once and only its hash kept; its token is viewer on that farm only,
    expires after the display token TTL, and cannot manage its own credential."""
    farm_id, owner = await farm_and_owner(svc)
    display, secret = await svc.displays.create(
        owner, farm_id, "greenhouse 2 wall", expires_ms=None
    )
    assert secret.startswith("fbw_")
    assert len(secret) > 40
    stored = await svc.store.get_display(display.id)
    assert secret not in stored.secret_hash
    token, exp = await svc.displays.token(secret, client="screen")
    assert exp == int(clock.wall_s()) + TTL_S
    who = await svc.access.principal(token)
    assert (who.display_id, who.roles, who.is_admin) == (display.id, {farm_id: Role.VIEWER}, False)
    assert who.user.id == display_subject(display.id) < 0
    assert who.user.username == "display:greenhouse 2 wall"
    with pytest.raises(Forbidden):
        await svc.displays.list(who, farm_id)
    with pytest.raises(Forbidden):
        await svc.access.revoke_tokens(who, who.user.id)
    with pytest.raises(Unauthenticated):
        await svc.displays.token("fbw_" + "x" * 43, client="screen")


async def test_display_token_stops_at_once_when_revoked(svc: Services) -> None:
    """After revocation, a token exchanged before is refused, and so is the secret."""
    farm_id, owner = await farm_and_owner(svc)
    display, secret = await svc.displays.create(owner, farm_id, "wall", expires_ms=None)
    token, _ = await svc.displays.token(secret, client="screen")
    await svc.displays.revoke(owner, farm_id, display.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        await svc.access.principal(token)
    with pytest.raises(Unauthenticated):
        await svc.displays.token(secret, client="screen")
    with pytest.raises(NotFound):
        await svc.displays.revoke(owner, farm_id, display.id)


async def test_display_token_of_a_revoked_credential_never_passes_for_a_newer_one(
    svc: Services,
) -> None:
    """A credential created after a revocation (SQLite may give it the same id) does not
    accept the revoked one's tokens: each credential signs its own token key in."""
    farm_id, owner = await farm_and_owner(svc)
    first, secret = await svc.displays.create(owner, farm_id, "wall", expires_ms=None)
    token, _ = await svc.displays.token(secret, client="screen")
    await svc.displays.revoke(owner, farm_id, first.id)
    second, _ = await svc.displays.create(owner, farm_id, "wall", expires_ms=None)
    assert second.token_key != first.token_key
    with pytest.raises(Unauthenticated):
        await svc.access.principal(token)


async def test_display_credential_expiry_bounds_its_tokens(svc: Services, clock: FakeClock) -> None:
    """A credential with an expiry gives tokens that end with it at the latest, and none
    once expired; an expiry in the past is refused."""
    farm_id, owner = await farm_and_owner(svc)
    ends_ms = clock.wall_ms() + 60_000
    display, secret = await svc.displays.create(owner, farm_id, "wall", expires_ms=ends_ms)
    token, exp = await svc.displays.token(secret, client="screen")
    assert exp == ends_ms // 1000
    clock.advance(60)
    with pytest.raises(TokenExpired):
        await svc.access.principal(token)
    with pytest.raises(Unauthenticated, match="expired"):
        await svc.displays.token(secret, client="screen")
    with pytest.raises(ValidationFailed):
        await svc.displays.create(owner, farm_id, "late", expires_ms=clock.wall_ms())
    assert display.expires_ms == ends_ms


async def test_only_farm_admins_manage_displays(svc: Services) -> None:
    """Viewers and operators of the farm are refused, members of other farms see nothing,
    global admins may."""
    farm_id, _ = await farm_and_owner(svc)
    for role in (Role.VIEWER, Role.OPERATOR):
        user = await svc.store.create_user(f"m-{role.value}", "h", is_admin=False)
        await svc.store.set_membership(user.id, farm_id, role)
        member = await svc.access.reload(Principal(user))
        with pytest.raises(Forbidden):
            await svc.displays.create(member, farm_id, "wall", expires_ms=None)
    _, stranger = await farm_and_owner(svc, "other")
    with pytest.raises(NotFound):
        await svc.displays.create(stranger, farm_id, "wall", expires_ms=None)
    boss = await admin(svc)
    display, _ = await svc.displays.create(boss, farm_id, "wall", expires_ms=None)
    assert [d.id for d in await svc.displays.list(boss, farm_id)] == [display.id]


async def principal_of(svc: Services, token: str) -> Principal | Unauthenticated:
    try:
        return await svc.access.principal(token)
    except Unauthenticated as exc:
        return exc


def live(peer: Peer, clock: FakeClock, seconds: float) -> list[dict[str, object]]:
    """Lets `seconds` pass the way a live screen does: ticking at each heartbeat and
    answering each ping. Returns every other frame the screen received meanwhile."""
    got: list[dict[str, object]] = []
    left = seconds
    while left > 0:
        step = min(HEARTBEAT_S, left)
        clock.advance(step)
        left -= step
        peer.tick()
        for frame in peer.take():
            if frame["type"] == "ping":
                peer.send({"type": "pong", "t": frame["t"]})
            else:
                got.append(frame)
    return got


async def test_display_token_refreshed_before_expiry_keeps_the_open_socket(
    svc: Services, clock: FakeClock
) -> None:
    """The screen exchanges its secret again before the token expires and sends the new
    token in `auth` on the open socket: it stays authenticated and subscribed past the first
    token's expiry, with no reconnect; once a token expires unrenewed, subscriptions end with
    `token_expired`, and without a fresh auth within the auth timeout the socket closes with
    4003 (the protocol's expiry rule, as for user tokens)."""
    farm_id, owner = await farm_and_owner(svc)
    _, secret = await svc.displays.create(owner, farm_id, "wall", expires_ms=None)
    first, first_exp = await svc.displays.token(secret, client="screen")
    peer = Peer(
        clock,
        limits=WsLimits(auth_timeout_s=AUTH_TIMEOUT_S, heartbeat_s=HEARTBEAT_S),
        tokens={first: await principal_of(svc, first)},
        registry=svc.connections,
    )
    peer.take()
    assert peer.auth(first)["expires_at"] == first_exp
    peer.send({"type": "subscribe", "farm": farm_id})
    assert peer.take()[0]["type"] == "subscribed"

    assert live(peer, clock, TTL_S - 60) == []  # a minute before expiry: the screen refreshes
    second, second_exp = await svc.displays.token(secret, client="screen")
    assert second_exp == first_exp + TTL_S - 60
    peer.tokens[second] = await principal_of(svc, second)
    renewed = peer.auth(second)
    assert (renewed["type"], renewed["expires_at"]) == ("authenticated", second_exp)
    assert live(peer, clock, 120) == []  # past the first token's expiry
    assert (peer.close_code, list(peer.session.subs)) == (None, [farm_id])

    unsubscribed, err = live(peer, clock, TTL_S - 120)  # the second expires, not renewed
    assert (unsubscribed["type"], unsubscribed["reason"]) == ("unsubscribed", "token_expired")
    assert err["code"] == "token_expired"
    assert peer.close_code is None
    expired = await principal_of(svc, second)
    assert isinstance(expired, TokenExpired)
    clock.advance(AUTH_TIMEOUT_S)
    peer.tick()
    assert peer.close_code == CloseCode.TOKEN_EXPIRED


async def test_display_revocation_closes_its_open_sockets_with_4001(
    svc: Services, clock: FakeClock
) -> None:
    """Revoking a display makes every session authenticated with it re-check its access,
    which fails: the session ends with `unauthenticated` and close code 4001. Another
    display's session is not touched."""
    farm_id, owner = await farm_and_owner(svc)
    display, secret = await svc.displays.create(owner, farm_id, "wall", expires_ms=None)
    _, other_secret = await svc.displays.create(owner, farm_id, "barn", expires_ms=None)
    tokens: dict[str, Principal | Unauthenticated] = {}
    for s in (secret, secret, other_secret):
        token, _ = await svc.displays.token(s, client="screen")
        tokens[token] = await principal_of(svc, token)
        clock.advance(1)  # two screens of one display: two tokens
    assert len(tokens) == 3
    peers = []
    for token in tokens:
        peer = Peer(clock, tokens=dict(tokens), registry=svc.connections)
        peer.take()
        assert peer.auth(token)["type"] == "authenticated"
        peers.append(peer)
    await svc.displays.revoke(owner, farm_id, display.id)
    for peer in peers[:2]:
        (ask,) = peer.rechecks
        try:
            fresh = await svc.access.reload(ask.principal)
        except Unauthenticated as exc:
            peer.carry_out(peer.session.recheck_failed(ask, exc))
        else:
            peer.carry_out(peer.session.recheck_done(ask, fresh))
        (err,) = peer.take()
        assert (err["code"], peer.close_code) == ("unauthenticated", CloseCode.UNAUTHENTICATED)
        assert peer.close_code == 4001
    assert (peers[2].rechecks, peers[2].close_code) == ([], None)


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "5", "typ": "display", "key": "k"},
        {"sub": "display:x", "typ": "display", "key": "k"},
        {"sub": "display:1", "typ": "display"},
        {"sub": "user:1", "typ": "display", "key": "k"},
    ],
)
def test_display_token_with_malformed_claims_is_unauthenticated(
    clock: FakeClock, claims: dict[str, object]
) -> None:
    """A display token signed with the right key but with a bad subject or no token key is
    refused as invalid, never read as some other credential."""
    secrets = Secrets(SECRET_KEY, token_ttl_s=TTL_S, clock=clock)
    token = jwt.encode(
        {**claims, "exp": int(clock.wall_s()) + 60}, SECRET_KEY.encode(), algorithm="HS256"
    )
    with pytest.raises(Unauthenticated, match="invalid token"):
        secrets.read_token(token)


async def test_a_display_socket_cannot_become_a_user_or_another_display(
    svc: Services, clock: FakeClock
) -> None:
    """On a socket authenticated as a display, an `auth` with a user's token or another
    display's token is refused like any change of identity (4001)."""
    farm_id, owner = await farm_and_owner(svc)
    _, secret = await svc.displays.create(owner, farm_id, "wall", expires_ms=None)
    _, other = await svc.displays.create(owner, farm_id, "barn", expires_ms=None)
    tokens: dict[str, Principal | Unauthenticated] = {}
    mine, _ = await svc.displays.token(secret, client="screen")
    theirs, _ = await svc.displays.token(other, client="screen")
    user_token, _ = Secrets(SECRET_KEY, token_ttl_s=TTL_S, clock=clock).issue_token(
        owner.user.id, owner.user.token_version
    )
    for token in (mine, theirs, user_token):
        tokens[token] = await principal_of(svc, token)
    for intruder in (theirs, user_token):
        peer = Peer(clock, tokens=tokens, registry=svc.connections)
        peer.take()
        assert peer.auth(mine)["type"] == "authenticated"
        refused = peer.auth(intruder)
        assert (refused["type"], refused["code"]) == ("error", "unauthenticated")
        assert peer.close_code == CloseCode.UNAUTHENTICATED
