"""Domain rules: role ladder and command lifecycle."""

from __future__ import annotations

import pytest

from farmbridge.domain import CommandState, Role
from farmbridge.domain.commands import can_transition


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        (Role.VIEWER, Role.VIEWER, True),
        (Role.VIEWER, Role.OPERATOR, False),
        (Role.OPERATOR, Role.VIEWER, True),
        (Role.OPERATOR, Role.ADMIN, False),
        (Role.ADMIN, Role.OPERATOR, True),
    ],
)
def test_role_allows_follows_the_ladder(held: Role, needed: Role, allowed: bool) -> None:
    """A role allows what it needs or less: viewer < operator < admin."""
    assert held.allows(needed) is allowed


def test_command_final_states_allow_no_transition() -> None:
    """Once acknowledged, failed, timed out or cancelled, a command never changes again."""
    finals = [s for s in CommandState if s.final]
    assert set(finals) == {
        CommandState.ACKNOWLEDGED,
        CommandState.FAILED,
        CommandState.TIMED_OUT,
        CommandState.CANCELLED,
    }
    for state in finals:
        assert not any(can_transition(state, other) for other in CommandState)


def test_command_sent_cannot_be_cancelled_or_go_back() -> None:
    """A sent command may only complete: no cancel, no return to pending."""
    assert can_transition(CommandState.PENDING, CommandState.CANCELLED)
    assert not can_transition(CommandState.SENT, CommandState.CANCELLED)
    assert not can_transition(CommandState.SENT, CommandState.PENDING)
    assert can_transition(CommandState.SENT, CommandState.TIMED_OUT)
