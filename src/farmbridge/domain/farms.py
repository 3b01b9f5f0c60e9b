"""The farm: the unit of ownership, authorization and ordering."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Farm:
    """A farm; `last_seq` is the newest sequence number stored for it."""

    id: int
    name: str
    title: str
    created_ms: int
    last_seq: int = 0
    epoch: str = ""
