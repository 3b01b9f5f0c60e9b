"""Commands sent by operators to devices, and their lifecycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class CommandState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self not in (CommandState.PENDING, CommandState.SENT)


# Which state may follow which: a command never leaves a final state.
ALLOWED_TRANSITIONS: dict[CommandState, frozenset[CommandState]] = {
    CommandState.PENDING: frozenset(
        {
            CommandState.SENT,
            CommandState.ACKNOWLEDGED,
            CommandState.FAILED,
            CommandState.TIMED_OUT,
            CommandState.CANCELLED,
        }
    ),
    CommandState.SENT: frozenset(
        {CommandState.ACKNOWLEDGED, CommandState.FAILED, CommandState.TIMED_OUT}
    ),
}


def can_transition(current: CommandState, new: CommandState) -> bool:
    return new in ALLOWED_TRANSITIONS.get(current, frozenset())


@dataclass(frozen=True, slots=True)
class Command:
    id: int
    farm_id: int
    device_id: int
    action: str
    params: dict[str, Any]
    state: CommandState
    created_ms: int
    updated_ms: int
    expires_ms: int
    created_by: int | None = None
    detail: str = ""
    seq: int = 0


@dataclass(frozen=True, slots=True)
class CommandUpdate:
    """One step of a command's lifecycle, stored with its farm sequence number."""

    command_id: int
    farm_id: int
    device_id: int
    state: CommandState
    ts_ms: int
    detail: str = ""
    seq: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    action: str = ""
