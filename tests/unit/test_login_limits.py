"""Login limits per account and per address, trusted proxies, device-key failure limits and
password changes, in the service layer on a FakeClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from farmbridge.config import Settings
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import Forbidden, RateLimited, Unauthenticated, ValidationFailed
from farmbridge.ingest.http import keyed_device
from farmbridge.service.addresses import client_address, trusted_networks
from farmbridge.service.bundle import Services
from farmbridge.service.ratelimit import (
    FREE_LOGIN_FAILURES,
    LOGIN_DELAY_BASE_S,
    LOGIN_DELAY_CAP_S,
    LoginDelay,
    RateLimiter,
)
from tests.unit.bridge_services import device, running_services

PASSWORD = "right-password"
KEY_FAILURE_BURST = 5
KEY_FAILURES_PER_MIN = 6.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def svc(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Services]:
    async with running_services(
        tmp_path,
        clock,
        login_rate_per_min=60_000,  # the per-address bucket out of the way
        device_key_failure_burst=KEY_FAILURE_BURST,
        device_key_failures_per_min=KEY_FAILURES_PER_MIN,
    ) as services:
        await services.users.create_user_unchecked("admin", PASSWORD, is_admin=True)
        yield services


async def fail(svc: Services, client: str, username: str = "admin") -> None:
    with pytest.raises(Unauthenticated, match="wrong username or password"):
        await svc.access.login(username, "wrong-password", client=client)


def test_login_delay_grows_exponentially_after_the_free_failures() -> None:
    """No delay for the first failures, then base * 2**n, never above the cap."""
    delay = LoginDelay(clock=FakeClock())
    assert [delay.delay_s(n) for n in range(FREE_LOGIN_FAILURES)] == [0.0] * FREE_LOGIN_FAILURES
    grown = [delay.delay_s(FREE_LOGIN_FAILURES + n) for n in range(4)]
    assert grown == [LOGIN_DELAY_BASE_S * 2**n for n in range(4)]
    assert delay.delay_s(FREE_LOGIN_FAILURES + 10) == LOGIN_DELAY_CAP_S
    assert delay.delay_s(10_000) == LOGIN_DELAY_CAP_S


def test_login_delay_runs_from_the_addresses_own_last_failure() -> None:
    """An address that failed waits the delay from its last failure; one that did not, never."""
    clock = FakeClock()
    delay = LoginDelay(clock=clock)
    for _ in range(FREE_LOGIN_FAILURES):
        delay.failed("admin", "attacker")
    assert delay.wait_s("admin", "attacker") == pytest.approx(LOGIN_DELAY_BASE_S)
    assert delay.wait_s("admin", "home") == 0.0
    assert delay.wait_s("other-account", "attacker") == 0.0
    clock.advance(LOGIN_DELAY_BASE_S / 2)
    with pytest.raises(RateLimited) as info:
        delay.check("admin", "attacker")
    assert info.value.retry_after_s == pytest.approx(LOGIN_DELAY_BASE_S / 2)
    clock.advance(LOGIN_DELAY_BASE_S / 2)
    delay.check("admin", "attacker")  # the delay has run out


async def test_login_delay_refuses_unchecked_while_it_runs(svc: Services, clock: FakeClock) -> None:
    """While an address's delay runs even the right password is 429, and retrying does not
    lengthen the wait; once it has run out the right password gets in."""
    for _ in range(FREE_LOGIN_FAILURES + 2):
        clock.advance(LOGIN_DELAY_CAP_S)
        await fail(svc, "typo")
    expected = svc.access.login_delay.delay_s(FREE_LOGIN_FAILURES + 2)
    for _ in range(3):
        with pytest.raises(RateLimited, match="too many failed logins") as info:
            await svc.access.login("admin", PASSWORD, client="typo")
        assert info.value.retry_after_s == pytest.approx(expected)
    clock.advance(expected)
    token, _ = await svc.access.login("admin", PASSWORD, client="typo")
    assert (await svc.access.principal(token)).user.username == "admin"


async def test_login_delay_is_capped_however_many_failures(svc: Services, clock: FakeClock) -> None:
    """After many failures the wait is the cap, not more."""
    for _ in range(FREE_LOGIN_FAILURES + 12):
        clock.advance(LOGIN_DELAY_CAP_S)
        await fail(svc, "attacker")
    assert svc.access.login_delay.wait_s("admin", "attacker") == pytest.approx(LOGIN_DELAY_CAP_S)


async def test_login_right_password_gets_in_while_attackers_keep_failing(
    svc: Services, clock: FakeClock
) -> None:
    """Attackers failing from other addresses, as fast as their delays allow, neither keep
    out a user who never failed nor keep one who mistyped out past the cap."""
    attackers = [f"10.0.0.{i}" for i in range(8)]

    async def attack_round() -> None:
        for address in attackers:
            if svc.access.login_delay.wait_s("admin", address) == 0:
                await fail(svc, address)

    await attack_round()
    await fail(svc, "home")  # the real user mistypes once
    for _ in range(int(LOGIN_DELAY_CAP_S)):
        clock.advance(1)
        await attack_round()
    assert svc.access.login_delay.delay_s(len(attackers)) > 0  # the account is under attack
    token, _ = await svc.access.login("admin", PASSWORD, client="home")
    assert (await svc.access.principal(token)).user.username == "admin"
    assert (await svc.access.login("admin", PASSWORD, client="office"))[0]


async def test_login_success_clears_the_accounts_streak(svc: Services, clock: FakeClock) -> None:
    """After the right password the account's failures start from zero again."""
    for _ in range(FREE_LOGIN_FAILURES):
        await fail(svc, "home")
    clock.advance(LOGIN_DELAY_BASE_S)
    await svc.access.login("admin", PASSWORD, client="home")
    for _ in range(FREE_LOGIN_FAILURES - 1):
        await fail(svc, "home")
    assert svc.access.login_delay.wait_s("admin", "home") == 0.0


async def test_login_delay_counts_unknown_users_alike(svc: Services, clock: FakeClock) -> None:
    """A name that does not exist is delayed like one that does, so the limit reveals none."""
    for _ in range(FREE_LOGIN_FAILURES):
        await fail(svc, "guesser", username="nobody")
    with pytest.raises(RateLimited, match="too many failed logins"):
        await svc.access.login("nobody", "wrong-password", client="guesser")


def test_rate_limiter_charge_and_wait_spend_and_peek() -> None:
    """`wait_s` spends nothing; `charge` spends without raising and the bucket refills."""
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=2, clock=clock)
    assert limiter.wait_s("k") == 0.0
    limiter.charge("k")
    limiter.charge("k")
    limiter.charge("k")  # an empty bucket stays empty, no error
    assert limiter.wait_s("k") == pytest.approx(1.0)
    assert limiter.wait_s("k") == pytest.approx(1.0)
    clock.advance(1.0)
    assert limiter.wait_s("k") == 0.0
    assert limiter.wait_s("other") == 0.0


TRUSTED = trusted_networks(["10.0.0.0/8", "192.168.1.1", "fd00::/8"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("127.0.0.1", ["6.6.6.6"], (), "127.0.0.1"),  # nothing trusted by default
        ("203.0.113.9", ["6.6.6.6"], TRUSTED, "203.0.113.9"),  # an untrusted peer
        ("10.1.2.3", [], TRUSTED, "10.1.2.3"),  # a proxy that forwarded nothing
        ("10.1.2.3", ["203.0.113.9"], TRUSTED, "203.0.113.9"),
        ("10.1.2.3", ["6.6.6.6, 203.0.113.9"], TRUSTED, "203.0.113.9"),  # spoofed left part
        ("10.1.2.3", ["6.6.6.6, 203.0.113.9, 192.168.1.1"], TRUSTED, "203.0.113.9"),
        ("10.1.2.3", ["6.6.6.6", "203.0.113.9"], TRUSTED, "203.0.113.9"),  # two headers
        ("10.1.2.3", ["10.9.9.9, 192.168.1.1"], TRUSTED, "10.9.9.9"),  # every hop trusted
        ("10.1.2.3", ["6.6.6.6, junk"], TRUSTED, "10.1.2.3"),  # no address: stop there
        ("fd00::1", ["2001:db8::5"], TRUSTED, "2001:db8::5"),
        ("unknown", ["6.6.6.6"], TRUSTED, "unknown"),
    ],
)
def test_client_address_believes_only_trusted_proxies(
    peer: str, forwarded: list[str], trusted: tuple[object, ...], expected: str
) -> None:
    """X-Forwarded-For counts only from a trusted peer, read from the right to the first
    untrusted hop."""
    assert client_address(peer, forwarded, TRUSTED if trusted else ()) == expected


def test_settings_refuse_a_trusted_proxy_that_is_no_address() -> None:
    """A typo in FARMBRIDGE_TRUSTED_PROXIES stops the bridge rather than trusting nothing."""
    assert Settings(trusted_proxies=("10.0.0.0/8",)).trusted_proxies == ("10.0.0.0/8",)
    assert Settings().trusted_proxies == ()
    with pytest.raises(ValidationError, match="does not appear to be an IPv4 or IPv6"):
        Settings(trusted_proxies=("10.0.0.0/33",))


async def test_device_key_failures_are_limited_per_address(svc: Services) -> None:
    """Past a burst of wrong keys an address gets 429 even with a good key; a good key from
    another address is unaffected, and good keys never spend the budget."""
    _, key = await device(svc)
    for _ in range(KEY_FAILURE_BURST * 3):
        entry = await keyed_device(svc, key, client="device")
    assert entry.device.name == "node"
    for _ in range(KEY_FAILURE_BURST):
        with pytest.raises(Unauthenticated, match="unknown device key"):
            await keyed_device(svc, "fbd_wrong", client="guesser")
    with pytest.raises(RateLimited, match="too many wrong device keys") as info:
        await keyed_device(svc, "fbd_wrong", client="guesser")
    assert info.value.retry_after_s == pytest.approx(60 / KEY_FAILURES_PER_MIN)
    with pytest.raises(RateLimited):
        await keyed_device(svc, key, client="guesser")
    with pytest.raises(RateLimited):
        await keyed_device(svc, None, client="guesser")
    assert (await keyed_device(svc, key, client="device")).device.name == "node"


async def test_device_key_limit_refills(svc: Services, clock: FakeClock) -> None:
    """One more wrong key is looked at per refill interval."""
    for _ in range(KEY_FAILURE_BURST):
        with pytest.raises(Unauthenticated):
            await keyed_device(svc, None, client="guesser")
    clock.advance(60 / KEY_FAILURES_PER_MIN)
    with pytest.raises(Unauthenticated):
        await keyed_device(svc, "fbd_wrong", client="guesser")
    with pytest.raises(RateLimited):
        await keyed_device(svc, "fbd_wrong", client="guesser")


async def test_password_change_ends_old_tokens_and_returns_a_new_one(svc: Services) -> None:
    """After a change the old token is revoked, the fresh one works, and only the new
    password logs in."""
    old, _ = await svc.access.login("admin", PASSWORD, client="home")
    who = await svc.access.principal(old)
    fresh, _ = await svc.access.change_password(who, PASSWORD, "a-new-password", client="home")
    with pytest.raises(Unauthenticated, match="token revoked"):
        await svc.access.principal(old)
    assert (await svc.access.principal(fresh)).user.username == "admin"
    await fail(svc, "home")
    assert (await svc.access.login("admin", "a-new-password", client="home"))[0]


async def test_password_change_refuses_a_wrong_current_password(svc: Services) -> None:
    """A wrong current password is Forbidden, counts as a failed login and changes nothing."""
    token, _ = await svc.access.login("admin", PASSWORD, client="home")
    who = await svc.access.principal(token)
    for _ in range(FREE_LOGIN_FAILURES):
        with pytest.raises(Forbidden, match="the current password is wrong"):
            await svc.access.change_password(who, "wrong", "a-new-password", client="thief")
    with pytest.raises(RateLimited):
        await svc.access.change_password(who, PASSWORD, "a-new-password", client="thief")
    with pytest.raises(ValidationFailed, match="at least 8") as info:
        await svc.access.change_password(who, PASSWORD, "short", client="home")
    assert info.value.field == "new_password"
    assert (await svc.access.principal(token)).user.username == "admin"


async def test_admin_password_reset_ends_the_users_tokens(svc: Services) -> None:
    """An admin's reset revokes the user's tokens; a non-admin may not reset anyone."""
    await svc.users.create_user_unchecked("grower", PASSWORD, is_admin=False)
    admin = await svc.access.principal((await svc.access.login("admin", PASSWORD, client="a"))[0])
    token, _ = await svc.access.login("grower", PASSWORD, client="b")
    grower = await svc.access.principal(token)
    with pytest.raises(Forbidden):
        await svc.users.reset_password(grower, admin.user.id, "a-new-password")
    await svc.users.reset_password(admin, grower.user.id, "a-new-password")
    with pytest.raises(Unauthenticated, match="token revoked"):
        await svc.access.principal(token)
    assert (await svc.access.login("grower", "a-new-password", client="b"))[0]
