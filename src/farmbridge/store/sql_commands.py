"""The SQL store's commands aggregate: operator commands and their lifecycle.

Every state change takes the farm's next sequence number and is recorded in
`command_updates`, so it streams and resumes like any other change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, insert, select, update

from farmbridge.domain import Command, CommandState, CommandUpdate
from farmbridge.domain.commands import can_transition
from farmbridge.domain.errors import Conflict
from farmbridge.store import rows
from farmbridge.store.alarm_cache import AlarmCache
from farmbridge.store.alarm_writes import evaluate_command
from farmbridge.store.database import SqlAggregate, one_row
from farmbridge.store.ingest_writes import allocate_seqs
from farmbridge.store.results import CommandChanged, CommandsExpired
from farmbridge.store.schema import command_updates, commands, devices, farms

OPEN_STATES = (CommandState.PENDING, CommandState.SENT)


class SqlCommands(SqlAggregate):
    """See farmbridge.store.base.CommandStore for the contract of each method."""

    async def create_command(
        self,
        device_id: int,
        action: str,
        params: dict[str, Any],
        *,
        created_by: int | None,
        expires_ms: int,
    ) -> CommandChanged:
        created = self._db.clock.wall_ms()

        def fn(c: Connection) -> CommandChanged:
            dev = one_row(c, devices, devices.c.id == device_id, "device")
            seq = allocate_seqs(c, {dev.farm_id: 1})[dev.farm_id] + 1
            pk = c.execute(
                insert(commands).values(
                    farm_id=dev.farm_id,
                    device_id=device_id,
                    action=action,
                    params=params,
                    state=CommandState.PENDING.value,
                    created_ms=created,
                    updated_ms=created,
                    expires_ms=expires_ms,
                    created_by=created_by,
                    detail="",
                    seq=seq,
                )
            ).inserted_primary_key
            assert pk is not None
            cmd = rows.command(one_row(c, commands, commands.c.id == pk[0], "command"))
            return CommandChanged(cmd, _record_update(c, cmd))

        return await self._db.write_streamed(fn)

    async def get_command(self, command_id: int) -> Command:
        return await self._db.read(
            lambda c: rows.command(one_row(c, commands, commands.c.id == command_id, "command"))
        )

    async def list_commands(
        self,
        *,
        device_id: int | None = None,
        farm_id: int | None = None,
        states: Iterable[CommandState] | None = None,
        limit: int = 100,
    ) -> list[Command]:
        q = select(commands).order_by(commands.c.id.desc()).limit(limit)
        if device_id is not None:
            q = q.where(commands.c.device_id == device_id)
        if farm_id is not None:
            q = q.where(commands.c.farm_id == farm_id)
        if states is not None:
            q = q.where(commands.c.state.in_([s.value for s in states]))
        return await self._db.read(lambda c: [rows.command(r) for r in c.execute(q)])

    async def update_command(
        self, command_id: int, state: CommandState, detail: str = ""
    ) -> CommandChanged:
        at = self._db.clock.wall_ms()

        def fn(c: Connection) -> CommandChanged:
            cur = rows.command(one_row(c, commands, commands.c.id == command_id, "command"))
            return _transition(c, cur, state, detail, at, self._db.alarm_cache)

        return await self._db.write_streamed(fn)

    async def expire_commands(self, now_ms: int) -> CommandsExpired:
        def fn(c: Connection) -> CommandsExpired:
            due = c.execute(
                select(commands)
                .where(
                    commands.c.state.in_([s.value for s in OPEN_STATES]),
                    commands.c.expires_ms <= now_ms,
                )
                .order_by(commands.c.id)  # oldest first: a sweep's seqs follow creation
            ).all()
            cache = self._db.alarm_cache
            changed = []
            for r in due:
                try:
                    changed.append(
                        _transition(
                            c, rows.command(r), CommandState.TIMED_OUT, "expired", now_ms, cache
                        )
                    )
                except Conflict:
                    continue  # moved on since the read, maybe expired by another instance
            return CommandsExpired(
                tuple(ch.update for ch in changed), tuple(a for ch in changed for a in ch.alarms)
            )

        return await self._db.write_streamed(fn)


def _transition(
    c: Connection, cur: Command, state: CommandState, detail: str, at: int, cache: AlarmCache
) -> CommandChanged:
    """Moves a command to `state`; its command_failed rules are evaluated in the same
    transaction, under the farm row lock the seq allocation took."""
    if not can_transition(cur.state, state):
        raise Conflict(f"command {cur.id} is {cur.state.value}; it cannot become {state.value}")
    # The farm row first (the lock order of every writer), then a move only from the state
    # read: of two instances (or sweeps) that read the same state, one moves it, the other
    # gets Conflict, before either takes a seq. SQLite serializes the writes anyway.
    c.execute(select(farms.c.id).where(farms.c.id == cur.farm_id).with_for_update())
    moved = c.execute(
        update(commands)
        .where(commands.c.id == cur.id, commands.c.state == cur.state.value)
        .values(state=state.value, updated_ms=at, detail=detail)
    ).rowcount
    if not moved:
        now = rows.command(one_row(c, commands, commands.c.id == cur.id, "command"))
        raise Conflict(f"command {cur.id} is {now.state.value}; it cannot become {state.value}")
    versions: dict[int, int] = {}
    seq = allocate_seqs(c, {cur.farm_id: 1}, versions)[cur.farm_id] + 1
    c.execute(update(commands).where(commands.c.id == cur.id).values(seq=seq))
    cmd = rows.command(one_row(c, commands, commands.c.id == cur.id, "command"))
    upd = _record_update(c, cmd)
    raised = evaluate_command(c, cache, versions[cur.farm_id], upd)
    return CommandChanged(cmd, upd, tuple(raised))


def _record_update(c: Connection, cmd: Command) -> CommandUpdate:
    upd = rows.command_update(cmd)
    c.execute(
        insert(command_updates).values(
            farm_id=upd.farm_id,
            seq=upd.seq,
            command_id=upd.command_id,
            device_id=upd.device_id,
            state=upd.state.value,
            detail=upd.detail,
            ts_ms=upd.ts_ms,
            action=upd.action,
        )
    )
    return upd
