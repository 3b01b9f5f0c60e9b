"""Secrets: user passwords (Argon2id), device keys and display secrets (HMAC-SHA256), user and
display tokens (signed JWT)."""

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
DISPLAY_SECRET_PREFIX: Final = "fbw_"  # noqa: S105 - a prefix, not a secret
DISPLAY_TOKEN_TYPE: Final = "display"  # noqa: S105 - a claim value, not a secret
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


@dataclass(frozen=True, slots=True)
class DisplayClaims:
    """A display token's claims: the credential's id and its token key (see Display)."""

    display_id: int
    token_key: str
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

    def new_display_secret(self) -> str:
        """A display credential's secret; hashed like a device key (`device_key_hash`)."""
        return DISPLAY_SECRET_PREFIX + secrets.token_urlsafe(32)

    def new_token_key(self) -> str:
        return secrets.token_hex(16)

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

    def issue_display_token(
        self, display_id: int, token_key: str, *, ttl_s: int, not_after_s: int | None
    ) -> tuple[str, int]:
        """A display token for `ttl_s`, never past `not_after_s` (the credential's expiry)
        when given; returns the token and its expiry (epoch seconds)."""
        exp = int(self._clock.wall_s()) + ttl_s
        if not_after_s is not None:
            exp = min(exp, not_after_s)
        claims: dict[str, str | int] = {
            "sub": f"display:{display_id}",
            "typ": DISPLAY_TOKEN_TYPE,
            "key": token_key,
            "exp": exp,
        }
        return jwt.encode(claims, self._key, algorithm=TOKEN_ALGORITHM), exp

    def read_token(self, token: str) -> TokenClaims | DisplayClaims:
        """Raises Unauthenticated for a bad signature or a malformed token, TokenExpired
        (an Unauthenticated) for one whose expiry is not after the clock's now."""
        read: TokenClaims | DisplayClaims
        try:
            # Expiry is checked below on the injected clock, not on PyJWT's own.
            claims = jwt.decode(
                token, self._key, algorithms=[TOKEN_ALGORITHM], options={"verify_exp": False}
            )
            if claims.get("typ") == DISPLAY_TOKEN_TYPE:
                kind, _, number = str(claims["sub"]).partition(":")
                if kind != DISPLAY_TOKEN_TYPE:
                    raise ValueError("not a display subject")
                read = DisplayClaims(int(number), str(claims["key"]), int(claims["exp"]))
            else:
                read = TokenClaims(int(claims["sub"]), int(claims["ver"]), int(claims["exp"]))
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError, OverflowError) as exc:
            raise Unauthenticated("invalid token") from exc
        if read.expires_s <= self._clock.wall_s():
            raise TokenExpired("token expired")
        return read
