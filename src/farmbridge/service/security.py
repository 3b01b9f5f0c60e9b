"""Secrets: user passwords (Argon2id), device keys (HMAC-SHA256), user tokens (signed JWT)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import TokenExpired, Unauthenticated, ValidationFailed

DEVICE_KEY_PREFIX: Final = "fbd_"
MIN_SECRET_BYTES: Final = 32
TOKEN_ALGORITHM: Final = "HS256"  # noqa: S105 - an algorithm name, not a secret
MIN_PASSWORD_CHARS: Final = 8


def require_strong_password(password: str, *, field: str = "password") -> None:
    """Raises ValidationFailed (naming `field`) for a password under MIN_PASSWORD_CHARS."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValidationFailed(
            f"password needs at least {MIN_PASSWORD_CHARS} characters", field=field
        )


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    token_version: int
    expires_s: int


class Secrets:
    """Hashes and checks every credential, keyed by the server's secret."""

    def __init__(self, secret_key: str, *, token_ttl_s: int, clock: Clock) -> None:
        """Raises ValueError for a secret under 32 bytes: too short to sign tokens safely.

        Tokens are issued and checked for expiry on `clock`'s wall time.
        """
        if len(secret_key.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"the secret key needs at least {MIN_SECRET_BYTES} bytes")
        self._key = secret_key.encode()
        self._token_ttl_s = token_ttl_s
        self._clock = clock
        self._passwords = PasswordHasher()

    # Device keys are long random secrets, so a keyed fast hash resists guessing
    # and keeps the per-request check in microseconds.
    def new_device_key(self) -> str:
        return DEVICE_KEY_PREFIX + secrets.token_urlsafe(32)

    def device_key_hash(self, key: str) -> str:
        return hmac.new(self._key, key.encode(), hashlib.sha256).hexdigest()

    def hash_password(self, password: str) -> str:
        return self._passwords.hash(password)

    def verify_password(self, password_hash: str, password: str) -> bool:
        try:
            return self._passwords.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def issue_token(self, user_id: int, token_version: int) -> tuple[str, int]:
        """Returns a signed token and its expiry (epoch seconds)."""
        exp = int(self._clock.wall_s()) + self._token_ttl_s
        claims = {"sub": str(user_id), "ver": token_version, "exp": exp}
        return jwt.encode(claims, self._key, algorithm=TOKEN_ALGORITHM), exp

    def read_token(self, token: str) -> TokenClaims:
        """Raises Unauthenticated for a bad signature or a malformed token, TokenExpired
        (an Unauthenticated) for one whose expiry is not after the clock's now."""
        try:
            # Expiry is checked below on the injected clock, not on PyJWT's own.
            claims = jwt.decode(
                token, self._key, algorithms=[TOKEN_ALGORITHM], options={"verify_exp": False}
            )
            read = TokenClaims(int(claims["sub"]), int(claims["ver"]), int(claims["exp"]))
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError, OverflowError) as exc:
            raise Unauthenticated("invalid token") from exc
        if read.expires_s <= self._clock.wall_s():
            raise TokenExpired("token expired")
        return read
