"""Credentials: device keys, passwords and tokens."""

from __future__ import annotations

import pytest

from farmbridge.domain.errors import Unauthenticated
from farmbridge.service.security import Secrets

KEY = "k" * 32


def test_device_key_hash_is_keyed_by_the_server_secret() -> None:
    """The same key hashes alike under one secret and differently under another."""
    a, b = Secrets("one" * 11, token_ttl_s=60), Secrets("two" * 11, token_ttl_s=60)
    key = a.new_device_key()
    assert key.startswith("fbd_")
    assert len(key) > 40
    assert a.device_key_hash(key) == a.device_key_hash(key)
    assert a.device_key_hash(key) != b.device_key_hash(key)


def test_password_hash_verifies_only_the_right_password() -> None:
    """Argon2 hashes verify the password they were made from and nothing else."""
    s = Secrets(KEY, token_ttl_s=60)
    h = s.hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert s.verify_password(h, "correct horse")
    assert not s.verify_password(h, "wrong horse")
    assert not s.verify_password("not-a-hash", "correct horse")


def test_token_round_trip_and_rejections() -> None:
    """A token reads back its claims; another secret's, a mangled or an expired one fails."""
    s = Secrets(KEY, token_ttl_s=60)
    token, exp = s.issue_token(7, 3)
    claims = s.read_token(token)
    assert (claims.user_id, claims.token_version, claims.expires_s) == (7, 3, exp)
    with pytest.raises(Unauthenticated, match="invalid"):
        Secrets("other" * 7, token_ttl_s=60).read_token(token)
    with pytest.raises(Unauthenticated, match="invalid"):
        s.read_token(token[:-3] + "abc")
    expired, _ = Secrets(KEY, token_ttl_s=-10).issue_token(7, 3)
    with pytest.raises(Unauthenticated, match="expired"):
        s.read_token(expired)


def test_short_secret_is_refused() -> None:
    """A secret under 32 bytes is refused at start, not used to sign weak tokens."""
    with pytest.raises(ValueError, match="32 bytes"):
        Secrets("short", token_ttl_s=60)
