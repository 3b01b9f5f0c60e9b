"""A change: anything stored with a farm sequence number, and so streamed to dashboards."""

from __future__ import annotations

from farmbridge.domain.alarms import AlarmUpdate
from farmbridge.domain.commands import CommandUpdate
from farmbridge.domain.telemetry import Event, Reading, StatusRecord

Change = Reading | StatusRecord | Event | CommandUpdate | AlarmUpdate
"""Every Change has `farm_id` and `seq`; a farm's changes are totally ordered by seq."""
