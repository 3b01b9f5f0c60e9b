"""Operator commands to devices: create, cancel, deliver to the device, complete, expire.

A new command wakes the device's long polls and the listeners (the MQTT bridge) on every
instance: each hears of it as a change from the backplane (`heard`), whichever instance
created it (while Redis is down, waiting polls read the store every DEGRADED_RECHECK_S).
Which one hands it out is decided by the store: a command moves from pending to sent
once, and a `take_pending` that loses that race skips it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Final

from farmbridge import metrics
from farmbridge.domain import Change, Command, CommandState, CommandUpdate, Role
from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import Conflict, Forbidden, ValidationFailed
from farmbridge.service.access import Principal
from farmbridge.service.directory import DeviceEntry
from farmbridge.service.farms import FarmService
from farmbridge.store import CommandStore

ACK_STATES = {CommandState.ACKNOWLEDGED, CommandState.FAILED}
DEGRADED_RECHECK_S: Final = 1.0


class CommandService:
    def __init__(
        self, store: CommandStore, farms: FarmService, *, ttl_s: int, clock: Clock
    ) -> None:
        """Commands expire `ttl_s` after creation, timed on `clock`'s wall time."""
        self._store = store
        self._farms = farms
        self._ttl_ms = ttl_s * 1000
        self._clock = clock
        self._wakeups: dict[int, asyncio.Event] = {}
        self._closing = False
        self._listeners: list[Callable[[int], None]] = []
        self._recheck_s: float | None = None

    def add_listener(self, listener: Callable[[int], None]) -> None:
        """Hears the device id of every new command of any instance (the MQTT bridge
        publishes it to its device, if it is the one that takes it)."""
        self._listeners.append(listener)

    def backplane_state(self, status: str) -> None:
        """While the backplane is "degraded" no other instance's command wakes a poll
        here: a waiting poll reads the store every DEGRADED_RECHECK_S instead."""
        self._recheck_s = DEGRADED_RECHECK_S if status == "degraded" else None

    def heard(self, changes: Sequence[Change]) -> None:
        """Every committed change of every instance (the backplane's listener)."""
        for ch in changes:
            if isinstance(ch, CommandUpdate) and ch.state is CommandState.PENDING:
                self._wake(ch.device_id)
                for listener in self._listeners:
                    listener(ch.device_id)

    def close(self) -> None:
        """Ends every long poll at once, so a stopping server need not wait for them."""
        self._closing = True
        for event in self._wakeups.values():
            event.set()

    async def create(
        self,
        who: Principal,
        device_id: int,
        action: str,
        params: dict[str, Any],
        ttl_s: int | None = None,
    ) -> Command:
        await self._farms.device(who, device_id, Role.OPERATOR)
        ttl_ms = self._ttl_ms if ttl_s is None else ttl_s * 1000
        cmd = (
            await self._store.create_command(
                device_id,
                action,
                params,
                created_by=who.user.id,
                expires_ms=self._clock.wall_ms() + ttl_ms,
            )
        ).command
        self._wake(device_id)  # at once here; `heard` wakes the other instances
        return cmd

    async def get(self, who: Principal, command_id: int) -> Command:
        cmd = await self._store.get_command(command_id)
        who.require(cmd.farm_id, Role.VIEWER, what="command")
        return cmd

    async def cancel(self, who: Principal, command_id: int) -> Command:
        cmd = await self._store.get_command(command_id)
        who.require(cmd.farm_id, Role.OPERATOR, what="command")
        return (
            await self._store.update_command(command_id, CommandState.CANCELLED, "cancelled")
        ).command

    async def list_for_device(self, who: Principal, device_id: int, limit: int) -> list[Command]:
        await self._farms.device(who, device_id)
        return await self._store.list_commands(device_id=device_id, limit=limit)

    async def list_for_farm(self, who: Principal, farm_id: int, limit: int) -> list[Command]:
        await self._farms.require_farm(who, farm_id, Role.VIEWER)
        return await self._store.list_commands(farm_id=farm_id, limit=limit)

    # The device's side.

    async def take_pending(self, entry: DeviceEntry, wait_s: float) -> list[Command]:
        """Hands a device its pending commands, marking them sent; waits up to wait_s for one."""
        device_id = entry.device.id
        deadline = self._clock.monotonic() + wait_s
        while True:
            event = self._wakeups.setdefault(device_id, asyncio.Event())
            event.clear()
            pending = await self._store.list_commands(
                device_id=device_id, states=[CommandState.PENDING]
            )
            now = self._clock.wall_ms()
            sent = []
            for cmd in sorted(pending, key=lambda c: c.id):
                if cmd.expires_ms <= now:
                    continue  # expired commands are dropped, never delivered late
                try:
                    taken = await self._store.update_command(cmd.id, CommandState.SENT)
                except Conflict:
                    continue  # taken (or cancelled) meanwhile, maybe by another instance
                sent.append(taken.command)
            remaining = deadline - self._clock.monotonic()
            if sent or remaining <= 0 or self._closing:
                return sent
            wait = remaining if self._recheck_s is None else min(remaining, self._recheck_s)
            metrics.COMMAND_POLLS_WAITING.inc()
            try:
                await asyncio.wait_for(event.wait(), wait)
            except TimeoutError:
                if wait >= remaining:
                    return []
            finally:
                metrics.COMMAND_POLLS_WAITING.dec()

    async def complete(
        self, entry: DeviceEntry, command_id: int, state: CommandState, detail: str
    ) -> Command:
        """Records a device's acknowledgement or failure report for its own command."""
        if state not in ACK_STATES:
            raise ValidationFailed("state must be acknowledged or failed", field="state")
        cmd = await self._store.get_command(command_id)
        if cmd.device_id != entry.device.id:
            raise Forbidden("command belongs to another device")
        return (await self._store.update_command(command_id, state, detail)).command

    async def expire_due(self) -> tuple[CommandUpdate, ...]:
        """Times out every open command whose expiry has passed on the clock."""
        return (await self._store.expire_commands(self._clock.wall_ms())).updates

    def _wake(self, device_id: int) -> None:
        event = self._wakeups.get(device_id)
        if event is not None:
            event.set()
