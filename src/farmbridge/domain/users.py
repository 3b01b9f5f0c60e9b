"""Users and their role on each farm."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    is_admin: bool
    created_ms: int
    password_hash: str = ""
    token_version: int = 0


@dataclass(frozen=True, slots=True)
class Membership:
    user_id: int
    farm_id: int
    role: Role
