"""Connection churn and a reconnect storm against a real bridge: every cycle and every
client gets its subscription back; success rate and times are printed, not asserted.

The long runs (10,000 cycles, 2,000 clients) are `bench/churn.py`.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from dataclasses import dataclass, field
from typing import Final

import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.conftest import Bridge
from tests.integration.api_client import Api
from tests.integration.ws_probe import Probe

CI_CYCLES: Final = 500
CI_STORM_CLIENTS: Final = 200
CONCURRENCY: Final = 10
BACKOFF_MAX_S: Final = 1.0
STORM_TIMEOUT_S: Final = 120.0
STEP_TIMEOUT_S: Final = 30.0
ENV: Final = {"FARMBRIDGE_WS_MAX_CONNECTIONS_PER_USER": "5000"}


async def _subscribed(url: str, token: str, farm: int) -> Probe:
    """A probe authenticated and subscribed to `farm`."""
    probe = await Probe.open(url)
    try:
        await probe.auth(token)
        await probe.send({"type": "subscribe", "farm": farm})
        await probe.expect("subscribed", STEP_TIMEOUT_S)
    except BaseException:
        probe.ws.transport.abort()
        raise
    return probe


async def churn(url: str, token: str, farm: int, cycles: int) -> tuple[int, float]:
    """`cycles` connect-auth-subscribe-close cycles, CONCURRENCY at a time; the number that
    succeeded and the seconds it took."""
    ok = 0
    gate = asyncio.Semaphore(CONCURRENCY)

    async def cycle() -> None:
        nonlocal ok
        async with gate:
            try:
                probe = await _subscribed(url, token, farm)
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                return
            await probe.close()
            ok += 1

    started = time.monotonic()
    await asyncio.gather(*(cycle() for _ in range(cycles)))
    return ok, time.monotonic() - started


@dataclass
class Storm:
    """When each client of a reconnect storm was subscribed again (s after the restart)."""

    back_s: list[float] = field(default_factory=list)

    def until(self, share: float, clients: int) -> float | None:
        needed = max(1, round(share * clients))
        done = sorted(self.back_s)
        return done[needed - 1] if len(done) >= needed else None


async def storm(bridge: Bridge, token: str, farm: int, clients: int, seed: int = 1) -> Storm:
    """Subscribes `clients`, restarts the bridge (SIGTERM) and lets every client reconnect
    with full-jitter backoff (capped at BACKOFF_MAX_S), as farmbridge.client does."""
    probes = [await _subscribed(bridge.url, token, farm) for _ in range(clients)]
    rng = random.Random(seed)
    result = Storm()
    await asyncio.to_thread(bridge.stop, signal.SIGTERM)
    for p in probes:
        p.ws.transport.abort()
    restarted = time.monotonic()
    await asyncio.to_thread(bridge.launch)

    async def reconnect() -> None:
        attempt = 0
        while time.monotonic() - restarted < STORM_TIMEOUT_S:
            await asyncio.sleep(rng.uniform(0, min(BACKOFF_MAX_S, 0.05 * 2**attempt)))
            attempt += 1
            try:
                probe = await _subscribed(bridge.url, token, farm)
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                continue
            result.back_s.append(time.monotonic() - restarted)
            await probe.close()
            return

    await asyncio.gather(*(reconnect() for _ in range(clients)))
    return result


@pytest.mark.bridge_env(**ENV)
async def test_connection_churn_every_cycle_subscribes(bridge: Bridge, admin_api: Api) -> None:
    """500 connect-auth-subscribe-close cycles all succeed, and the bridge still answers."""
    farm = admin_api.farm("churn")
    ok, took_s = await churn(bridge.url, admin_api.token, farm["id"], CI_CYCLES)
    print(f"churn: {ok}/{CI_CYCLES} in {took_s:.1f} s")
    assert ok == CI_CYCLES
    probe = await _subscribed(bridge.url, admin_api.token, farm["id"])
    await probe.close()


@pytest.mark.bridge_env(**ENV)
@pytest.mark.timeout(STORM_TIMEOUT_S + 120)
async def test_reconnect_storm_every_client_comes_back(bridge: Bridge, admin_api: Api) -> None:
    """After a restart, 200 clients reconnecting with jittered backoff are all subscribed
    again."""
    farm = admin_api.farm("storm")
    result = await storm(bridge, admin_api.token, farm["id"], CI_STORM_CLIENTS)
    print(
        f"storm: {len(result.back_s)}/{CI_STORM_CLIENTS} back;"
        f" 99 % after {result.until(0.99, CI_STORM_CLIENTS)} s,"
        f" 100 % after {result.until(1.0, CI_STORM_CLIENTS)} s"
    )
    assert len(result.back_s) == CI_STORM_CLIENTS
