"""Retention: which stored history is deleted after how long (docs/design.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

DAY_MS: Final = 86_400_000


class History(StrEnum):
    """The kinds of stored history that retention deletes, each after its own period."""

    READINGS = "readings"
    ROLLUPS_5M = "rollups_5m"
    ROLLUPS_1H = "rollups_1h"
    EVENTS = "events"
    COMMAND_UPDATES = "command_updates"
    COMMANDS = "commands"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days each kind of history is kept; None keeps it for ever.

    Raw readings are deleted only once rolled up, rollups of 5 minutes only with their
    hour rollups written, so a chart of any age still has its hourly numbers.
    """

    readings_days: float | None = 30.0
    rollups_5m_days: float | None = 400.0
    rollups_1h_days: float | None = None
    events_days: float | None = 365.0
    commands_days: float | None = 90.0

    def days(self, what: History) -> float | None:
        return {
            History.READINGS: self.readings_days,
            History.ROLLUPS_5M: self.rollups_5m_days,
            History.ROLLUPS_1H: self.rollups_1h_days,
            History.EVENTS: self.events_days,
            History.COMMAND_UPDATES: self.commands_days,
            History.COMMANDS: self.commands_days,
        }[what]

    def cutoff_ms(self, what: History, now_ms: int) -> int | None:
        """What of `what` was stored before this wall time may go; None: nothing goes."""
        days = self.days(what)
        return None if days is None else now_ms - round(days * DAY_MS)
