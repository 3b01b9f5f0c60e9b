"""Credentials: device keys, passwords and tokens."""

from __future__ import annotations

import pytest

from farmbridge.domain.clock import SYSTEM_CLOCK, FakeClock
from farmbridge.domain.errors import TokenExpired, Unauthenticated
from farmbridge.service.security import Secrets

KEY = "k" * 32
TTL_S = 60


def test_device_key_hash_is_keyed_by_the_server_secret() -> None:
    """The same key hashes alike under one secret and differently under another."""
    a = Secrets("one" * 11, token_ttl_s=60, clock=SYSTEM_CLOCK)
    b = Secrets("two" * 11, token_ttl_s=60, clock=SYSTEM_CLOCK)
    key = a.new_device_key()
    assert key.startswith("fbd_")
    assert len(key) > 40
    assert a.device_key_hash(key) == a.device_key_hash(key)
    assert a.device_key_hash(key) != b.device_key_hash(key)


def test_password_hash_verifies_only_the_right_password() -> None:
    """Argon2 hashes verify the password they were made from and nothing else."""
    s = Secrets(KEY, token_ttl_s=60, clock=SYSTEM_CLOCK)
    h = s.hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert s.verify_password(h, "correct horse")
    assert not s.verify_password(h, "wrong horse")
    assert not s.verify_password("not-a-hash", "correct horse")


def test_token_round_trip_and_rejections() -> None:
    """A token reads back its claims; another secret's, a mangled or an expired one fails."""
    s = Secrets(KEY, token_ttl_s=60, clock=SYSTEM_CLOCK)
    token, exp = s.issue_token(7, 3)
    claims = s.read_token(token)
    assert (claims.user_id, claims.token_version, claims.expires_s) == (7, 3, exp)
    with pytest.raises(Unauthenticated, match="invalid"):
        Secrets("other" * 7, token_ttl_s=60, clock=SYSTEM_CLOCK).read_token(token)
    with pytest.raises(Unauthenticated, match="invalid"):
        s.read_token(token[:-3] + "abc")
    expired, _ = Secrets(KEY, token_ttl_s=-10, clock=SYSTEM_CLOCK).issue_token(7, 3)
    with pytest.raises(Unauthenticated, match="expired"):
        s.read_token(expired)


def test_short_secret_is_refused() -> None:
    """A secret under 32 bytes is refused at start, not used to sign weak tokens."""
    with pytest.raises(ValueError, match="32 bytes"):
        Secrets("short", token_ttl_s=60, clock=SYSTEM_CLOCK)


def test_token_expires_after_its_ttl_on_the_clock() -> None:
    """A token issued at t reads back until t + ttl and fails with TokenExpired after."""
    clock = FakeClock()
    s = Secrets(KEY, token_ttl_s=TTL_S, clock=clock)
    token, exp = s.issue_token(7, 3)
    assert exp == int(clock.wall_s()) + TTL_S
    clock.advance(TTL_S - 1)
    assert s.read_token(token).user_id == 7
    clock.advance(2)
    with pytest.raises(TokenExpired, match="expired"):
        s.read_token(token)


def test_token_expiry_follows_the_wall_clock_not_the_monotonic_one() -> None:
    """Expiry is a wall time (JWT `exp`): a wall-clock step past it expires the token."""
    clock = FakeClock()
    s = Secrets(KEY, token_ttl_s=TTL_S, clock=clock)
    token, exp = s.issue_token(7, 3)
    clock.set_wall_ms(exp * 1000)
    with pytest.raises(TokenExpired):
        s.read_token(token)


def test_expired_token_with_a_bad_signature_is_invalid_not_expired() -> None:
    """The signature is checked before the expiry: a forged old token is just invalid."""
    clock = FakeClock()
    token, _ = Secrets("other" * 7, token_ttl_s=TTL_S, clock=clock).issue_token(7, 3)
    clock.advance(TTL_S + 1)
    with pytest.raises(Unauthenticated, match="invalid") as info:
        Secrets(KEY, token_ttl_s=TTL_S, clock=clock).read_token(token)
    assert not isinstance(info.value, TokenExpired)
