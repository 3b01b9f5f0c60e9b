"""The clients of a set of simulated devices, one each or one shared, and who handles what."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from farmbridge.domain.clock import Clock
from farmbridge.domain.mqtt import BrokerUrl
from farmbridge.sim.devices import DeviceSpec, State
from farmbridge.sim.mqtt.client import Client
from farmbridge.sim.mqtt.commands import Request
from farmbridge.sim.mqtt.dialects import Dialect

STOP_DRAIN_S: Final = 3.0


def _join(clients: Sequence[Client]) -> None:
    for c in clients:
        c.paho.loop_stop()


class Fleet:
    """The clients of a set of devices, one each or one shared, and who handles what."""

    def __init__(
        self,
        *,
        url: str,
        dialect: Dialect,
        devices: Sequence[DeviceSpec],
        client_id_prefix: str,
        keepalive_s: int,
        ca_file: Path | None,
        on_up: Callable[[Client], None],
        on_command: Callable[[DeviceSpec, Request], None],
        state_of: Callable[[DeviceSpec], State],
        clock: Clock,
    ) -> None:
        self.broker = BrokerUrl.parse(url)
        self._dialect = dialect
        self._on_command = on_command
        self._state_of = state_of
        self._clock = clock
        farm = dialect.farm
        groups = [tuple(devices)] if dialect.shared else [(d,) for d in devices]
        self.clients: list[Client] = []
        self._client_of: dict[str, Client] = {}
        for group in groups:
            single = None if dialect.shared else group[0]
            client = Client(
                url=self.broker,
                client_id=f"{client_id_prefix}{farm}-{single.name if single else 'gateway'}",
                devices=group,
                will=dialect.will(single) if single else None,
                subscriptions=sorted({f for d in group for f in dialect.subscriptions(d)}),
                keepalive_s=keepalive_s,
                ca_file=ca_file,
                on_up=on_up,
                on_message=self._message,
            )
            self.clients.append(client)
            for d in group:
                self._client_of[d.name] = client

    def start(self) -> None:
        for c in self.clients:
            c.start()

    def client(self, device: DeviceSpec) -> Client:
        return self._client_of[device.name]

    async def wait_connected(self, wait_s: float) -> int:
        """Waits up to `wait_s` for every client's first connection; returns how many are up."""
        waits = [asyncio.ensure_future(c.connected.wait()) for c in self.clients if not c.up]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=wait_s)
            for w in pending:
                w.cancel()
        return sum(c.up for c in self.clients)

    @property
    def published(self) -> int:
        return sum(c.published for c in self.clients)

    @property
    def acked(self) -> int:
        return sum(c.acked for c in self.clients)

    @property
    def dropped(self) -> int:
        return sum(c.dropped for c in self.clients)

    def _message(self, client: Client, topic: str, payload: bytes) -> None:
        now_ms = self._clock.wall_ms()
        for d in client.devices:
            request = self._dialect.command(d, topic, payload, self._state_of(d), now_ms)
            if request is not None:
                self._on_command(d, request)
                return

    async def stop(self, *, farewell: bool, drain_s: float = STOP_DRAIN_S) -> None:
        """Says goodbye (unless told not to), waits a little for the broker's
        acknowledgements, then disconnects every client cleanly (no will)."""
        now_ms = self._clock.wall_ms()
        if farewell:
            for c in self.clients:
                if c.up:
                    for d in c.devices:
                        c.publish(self._dialect.farewell(d, self._state_of(d), now_ms))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_s
        while loop.time() < deadline:
            if not any(c.up and c.outstanding > 0 for c in self.clients):
                break
            await asyncio.sleep(0.02)
        for c in self.clients:
            c.paho.disconnect()
        # loop_stop joins paho's threads: not on the loop.
        await asyncio.to_thread(_join, self.clients)
