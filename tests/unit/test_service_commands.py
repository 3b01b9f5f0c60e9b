"""Command expiry and delivery in the service layer, on a FakeClock: no waiting for a TTL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from farmbridge.domain import CommandState, CommandUpdate
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import Conflict
from farmbridge.service.bundle import Services
from tests.unit.bridge_services import Heard, admin, device, running_services

TTL_S = 30


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def svc(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Services]:
    async with running_services(tmp_path, clock, command_ttl_s=TTL_S) as services:
        yield services


async def test_command_expiry_is_its_creation_time_plus_ttl(
    svc: Services, clock: FakeClock
) -> None:
    """A command expires the configured TTL after it was created, or after its own ttl_s."""
    who = await admin(svc)
    pump, _ = await device(svc, "pump")
    default = await svc.commands.create(who, pump.id, "on", {})
    own = await svc.commands.create(who, pump.id, "off", {}, ttl_s=5)
    assert default.created_ms == clock.wall_ms()
    assert default.expires_ms == clock.wall_ms() + TTL_S * 1000
    assert own.expires_ms == clock.wall_ms() + 5_000


async def test_command_times_out_once_its_ttl_has_passed(svc: Services, clock: FakeClock) -> None:
    """Before its expiry a command stays pending; at it, one sweep times it out and streams
    the update; a later sweep finds nothing more."""
    heard = Heard(svc)
    who = await admin(svc)
    pump, _ = await device(svc, "pump")
    cmd = await svc.commands.create(who, pump.id, "on", {})
    clock.advance(TTL_S - 1)
    assert await svc.commands.expire_due() == ()
    clock.advance(1)
    (update,) = await svc.commands.expire_due()
    assert (update.command_id, update.state, update.detail) == (
        cmd.id,
        CommandState.TIMED_OUT,
        "expired",
    )
    assert update.ts_ms == clock.wall_ms()
    assert (await svc.commands.get(who, cmd.id)).state is CommandState.TIMED_OUT
    assert [c for c in heard.changes if isinstance(c, CommandUpdate)][-1] == update
    assert await svc.commands.expire_due() == ()


async def test_expired_command_is_never_delivered_late(svc: Services, clock: FakeClock) -> None:
    """Past its expiry a pending command is not handed to the device, even before the sweep."""
    who = await admin(svc)
    pump, key = await device(svc, "pump")
    entry = await svc.ingest.authenticate(key)
    cmd = await svc.commands.create(who, pump.id, "on", {}, ttl_s=1)
    clock.advance(1)
    assert await svc.commands.take_pending(entry, wait_s=0) == []
    assert (await svc.commands.get(who, cmd.id)).state is CommandState.PENDING
    (update,) = await svc.commands.expire_due()
    assert update.command_id == cmd.id


async def test_sent_command_not_acknowledged_times_out(svc: Services, clock: FakeClock) -> None:
    """A command the device took but never acknowledged times out; a late ack conflicts."""
    who = await admin(svc)
    pump, key = await device(svc, "pump")
    entry = await svc.ingest.authenticate(key)
    cmd = await svc.commands.create(who, pump.id, "on", {}, ttl_s=1)
    (sent,) = await svc.commands.take_pending(entry, wait_s=0)
    assert (sent.id, sent.state) == (cmd.id, CommandState.SENT)
    clock.advance(1)
    assert [u.command_id for u in await svc.commands.expire_due()] == [cmd.id]
    with pytest.raises(Conflict):
        await svc.commands.complete(entry, cmd.id, CommandState.ACKNOWLEDGED, "")


async def test_acknowledged_command_does_not_time_out(svc: Services, clock: FakeClock) -> None:
    """Only open commands expire: an acknowledged one keeps its state past its expiry."""
    who = await admin(svc)
    pump, key = await device(svc, "pump")
    entry = await svc.ingest.authenticate(key)
    cmd = await svc.commands.create(who, pump.id, "on", {}, ttl_s=1)
    await svc.commands.take_pending(entry, wait_s=0)
    await svc.commands.complete(entry, cmd.id, CommandState.ACKNOWLEDGED, "done")
    clock.advance(TTL_S)
    assert await svc.commands.expire_due() == ()
    assert (await svc.commands.get(who, cmd.id)).state is CommandState.ACKNOWLEDGED
