"""Two stores on one SQLite file, as two bridge instances: a command read by both moves
once; the one that read it before the other moved it gets Conflict and takes no seq."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Connection, select

from farmbridge.domain import CommandState, DeviceKind
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import Conflict
from farmbridge.store.results import CommandChanged
from farmbridge.store.schema import farms
from farmbridge.store.sql import SqlStore
from farmbridge.store.sql_commands import _transition


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    clock = FakeClock()
    url = database_url
    a, b = SqlStore(url, clock=clock), SqlStore(url, clock=clock)
    await a.start()
    await b.start()
    yield a, b
    await b.close()
    await a.close()


async def _last_seq(store: SqlStore, farm_id: int) -> int:
    with store.engine.connect() as c:
        return int(c.execute(select(farms.c.last_seq).where(farms.c.id == farm_id)).scalar_one())


async def test_a_stale_read_of_a_command_cannot_move_it_again(
    stores: tuple[SqlStore, SqlStore],
) -> None:
    """B read the command pending; A sent it meanwhile; B's move from pending fails with
    Conflict, and the farm's seqs stay without a hole."""
    a, b = stores
    farm = await a.create_farm("f", "")
    dev = await a.create_device(farm.id, "pump", DeviceKind.ACTUATOR, "", "hash")
    cmd = (await a.create_command(dev.id, "on", {}, created_by=None, expires_ms=1)).command
    stale = await b.get_command(cmd.id)
    await a.update_command(cmd.id, CommandState.SENT)
    seq = await _last_seq(a, farm.id)

    def move(c: Connection) -> CommandChanged:
        return _transition(c, stale, CommandState.SENT, "", 2, b._db.alarm_cache)

    with pytest.raises(Conflict, match="is sent"):
        await b._db.write_streamed(move)
    assert await _last_seq(b, farm.id) == seq
    assert (await b.get_command(cmd.id)).state is CommandState.SENT


async def test_two_stores_expiring_at_once_time_a_command_out_once(
    stores: tuple[SqlStore, SqlStore],
) -> None:
    """Both sweep the same due commands: each is timed out by one of them."""
    a, b = stores
    farm = await a.create_farm("f", "")
    dev = await a.create_device(farm.id, "pump", DeviceKind.ACTUATOR, "", "hash")
    for _ in range(5):
        await a.create_command(dev.id, "on", {}, created_by=None, expires_ms=1)
    first, second = await asyncio.gather(a.expire_commands(10), b.expire_commands(10))
    ids = [u.command_id for u in first.updates + second.updates]
    assert sorted(ids) == sorted(set(ids))
    assert len(ids) == 5
