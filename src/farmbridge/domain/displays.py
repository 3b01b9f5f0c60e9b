"""Display credentials: a wall screen's long-lived secret, with viewer rights on one farm."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Display:
    """A farm's display credential. `token_key` (random, not secret) is signed into every
    token the credential is exchanged for, so a token never outlives its credential, even
    when a later credential gets the same id. `expires_ms` None: valid until revoked."""

    id: int
    farm_id: int
    name: str
    created_ms: int
    created_by: int | None
    expires_ms: int | None
    token_key: str
    secret_hash: str = ""


def display_subject(display_id: int) -> int:
    """The id a display's sessions count under, where user ids are expected (connection
    registry, access watch, the "user" backplane signal): the negated display id, which no
    user id (1 and up) can be."""
    return -display_id
