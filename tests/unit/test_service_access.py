"""Logging in and token lifetimes in the service layer, on a FakeClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import RateLimited, TokenExpired, Unauthenticated
from farmbridge.service.bundle import Services
from tests.unit.bridge_services import running_services

TOKEN_TTL_S = 3_600
LOGIN_RATE_PER_MIN = 6  # the service allows bursts of a third of that: 2 attempts
LOGIN_BURST = LOGIN_RATE_PER_MIN // 3
PASSWORD = "right-password"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def svc(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Services]:
    async with running_services(
        tmp_path, clock, token_ttl_s=TOKEN_TTL_S, login_rate_per_min=LOGIN_RATE_PER_MIN
    ) as services:
        await services.users.create_user_unchecked("admin", PASSWORD, is_admin=True)
        yield services


async def test_token_is_accepted_until_its_expiry(svc: Services, clock: FakeClock) -> None:
    """A token issued at t is good at t + ttl - 1 and expired at t + ttl + 1."""
    token, expires_s = await svc.access.login("admin", PASSWORD, client="a")
    assert expires_s == int(clock.wall_s()) + TOKEN_TTL_S
    clock.advance(TOKEN_TTL_S - 1)
    who = await svc.access.principal(token)
    assert (who.user.username, who.token_expires_s) == ("admin", expires_s)
    clock.advance(2)
    with pytest.raises(TokenExpired, match="token expired"):
        await svc.access.principal(token)


async def test_login_flood_is_rate_limited_per_client(svc: Services, clock: FakeClock) -> None:
    """Past the burst a client's logins are refused with the wait, the right password too;
    another client is not limited."""
    for _ in range(LOGIN_BURST):
        with pytest.raises(Unauthenticated, match="wrong username or password"):
            await svc.access.login("admin", "wrong-password", client="flooder")
    with pytest.raises(RateLimited, match="too many login attempts") as info:
        await svc.access.login("admin", PASSWORD, client="flooder")
    assert info.value.retry_after_s == pytest.approx(60 / LOGIN_RATE_PER_MIN)
    assert (await svc.access.login("admin", PASSWORD, client="other"))[0]


async def test_login_limit_lets_one_attempt_through_per_refill(
    svc: Services, clock: FakeClock
) -> None:
    """After 1/rate seconds one more attempt is allowed, and only one."""
    for _ in range(LOGIN_BURST):
        with pytest.raises(Unauthenticated):
            await svc.access.login("admin", "wrong-password", client="flooder")
    clock.advance(60 / LOGIN_RATE_PER_MIN)
    token, _ = await svc.access.login("admin", PASSWORD, client="flooder")
    assert (await svc.access.principal(token)).user.username == "admin"
    with pytest.raises(RateLimited):
        await svc.access.login("admin", PASSWORD, client="flooder")
