"""A built-in device simulator: a demo greenhouse driven over the bridge's real HTTP ingest API.

It plays every device of one greenhouse (`greenhouse.Greenhouse`) as an HTTP client would:
readings every interval, a status when the device starts and when its actuator changes,
events as the model raises them, and, for actuators, a long-poll for commands that it
applies to the model and acknowledges. It uses no server internals, so what works here
works for a real device too.

A `Simulator` is one greenhouse; a load test builds many of them (one per farm) sharing
one `httpx.AsyncClient`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

import httpx

from farmbridge.domain.clock import SYSTEM_CLOCK, Clock
from farmbridge.sim.clock import SimClock
from farmbridge.sim.devices import DEMO_DEVICES, MAX_ACK_DETAIL_CHARS, DeviceSpec
from farmbridge.sim.events import EventOwners
from farmbridge.sim.greenhouse import Greenhouse

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S: Final = 10.0
MAX_ATTEMPTS: Final = 6
RETRY_BASE_DELAY_S: Final = 0.25
RETRY_MAX_DELAY_S: Final = 5.0
RETRY_AFTER_MAX_S: Final = 60.0
"""A server asking for a longer pause than this is treated as asking for this long."""
COMMAND_WAIT_S: Final = 20.0
COMMAND_RETRY_MAX_DELAY_S: Final = 10.0


def _retry_after_s(response: httpx.Response) -> float | None:
    # Only the delta-seconds form; no bridge sends an HTTP date.
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


class Simulator:
    """Plays the devices of one simulated greenhouse against a bridge.

    Args:
        base_url: the bridge's root, e.g. `http://127.0.0.1:8000`.
        device_keys: device name -> device key. Only devices with a key run; the model
            still simulates the others. A name not among `devices` raises ValueError.
        interval_s: real seconds between two readings of a device.
        time_scale: simulated seconds per real second; 720 shows a day in two minutes.
            Readings always carry wall-clock timestamps, which the bridge checks.
        seed: makes weather and noise repeatable; None picks one at random.
        client: an HTTP client to share (a load test runs many simulators on one);
            None makes one per `run` and closes it after.
        devices: the greenhouse's devices; the demo set by default.
        clock: the real clock, read for timestamps and to run simulated time.

    Counters, for tests and load tools: `sent` and `failed` count POSTs (reports and
    acknowledgements) that succeeded and that were given up on; `retries` counts requests
    sent again after a network error, 5xx or 429; `commands_applied` counts commands the
    model carried out.
    """

    def __init__(
        self,
        *,
        base_url: str,
        device_keys: Mapping[str, str],
        interval_s: float = 2.0,
        time_scale: float = 1.0,
        seed: int | None = None,
        client: httpx.AsyncClient | None = None,
        devices: Sequence[DeviceSpec] = DEMO_DEVICES,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self._clock = clock
        self._sim_clock = SimClock(clock=clock, time_scale=time_scale)
        names = {d.name for d in devices}
        unknown = sorted(set(device_keys) - names)
        if unknown:
            raise ValueError(f"no such simulated device: {', '.join(unknown)}")
        self._base_url = base_url.rstrip("/")
        self._keys = dict(device_keys)
        self._devices = tuple(devices)
        self._interval_s = interval_s
        self.seed = secrets.randbits(32) if seed is None else seed
        self._rng = random.Random(self.seed)
        self._client = client
        self.model = Greenhouse(
            seed=self.seed,
            start_s=self._sim_clock.now_s(),
            utc_offset_s=self._sim_clock.utc_offset_s(),
        )
        self._events = EventOwners(
            [d for d in self._devices if d.name in self._keys], clock=self._sim_clock
        )
        self._reported: dict[str, tuple[str, dict[str, Any]]] = {}
        self.sent = 0
        self.failed = 0
        self.retries = 0
        self.commands_applied = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Runs every keyed device until `stop` is set, then returns.

        Network trouble never ends the run: reports are retried, then dropped and counted.
        """
        client = self._client or httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S)
        self._sim_clock.anchor(self.model.time_s)
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = []
                for spec in self._devices:
                    key = self._keys.get(spec.name)
                    if key is None:
                        continue
                    tasks.append(
                        tg.create_task(
                            self._report_loop(client, spec, key), name=f"farmbridge.sim.{spec.name}"
                        )
                    )
                    if spec.actuator:
                        tasks.append(
                            tg.create_task(
                                self._command_loop(client, spec, spec.actuator, key),
                                name=f"farmbridge.sim.{spec.name}.commands",
                            )
                        )
                await stop.wait()
                for task in tasks:
                    task.cancel()
        finally:
            if self._client is None:
                await client.aclose()

    # -- time and model -----------------------------------------------------------------

    def _advance(self) -> None:
        self._events.collect(self.model.advance_to(self._sim_clock.now_s()))

    def _status(self, spec: DeviceSpec) -> tuple[str, dict[str, Any]]:
        actuator = self.model.actuator_state(spec.actuator) if spec.actuator else {}
        return ("online", dict(actuator))

    def _status_body(self, status: tuple[str, dict[str, Any]], now_ms: int) -> dict[str, Any]:
        return {"state": status[0], "actuator": status[1], "ts": now_ms}

    # -- device loops -------------------------------------------------------------------

    async def _report_loop(self, client: httpx.AsyncClient, spec: DeviceSpec, key: str) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        first = True
        while True:
            await self._report(client, spec, key)
            if first:
                # A random phase keeps a fleet started at once from posting in lockstep.
                next_at += self._rng.uniform(0, self._interval_s)
                first = False
            next_at += self._interval_s
            now = loop.time()
            if next_at < now:
                # Far behind (a long retry): skip the missed ticks rather than burst them.
                next_at = now
            await asyncio.sleep(next_at - now)

    async def _report(self, client: httpx.AsyncClient, spec: DeviceSpec, key: str) -> None:
        self._advance()
        now_ms = self._clock.wall_ms()
        body: dict[str, Any] = {}
        if spec.sensors:
            body["readings"] = [
                {
                    "sensor": s.name,
                    "value": min(
                        s.max_value, max(s.min_value, self.model.reading(spec.channel(s)))
                    ),
                    "ts": now_ms,
                }
                for s in spec.sensors
            ]
        status = self._status(spec)
        if status != self._reported.get(spec.name):
            body["status"] = self._status_body(status, now_ms)
        events = self._events.take(spec.name)
        if events:
            body["events"] = [
                {"level": e.level, "code": e.code, "message": e.message, "ts": e.ts_ms}
                for e in events
            ]
        if not body:
            return
        if await self._post_report(client, spec, key, body) and "status" in body:
            self._reported[spec.name] = status

    async def _command_loop(
        self, client: httpx.AsyncClient, spec: DeviceSpec, actuator: str, key: str
    ) -> None:
        url = f"{self._base_url}/api/v1/ingest/commands"
        # The read timeout must outlast the long poll itself.
        timeout = httpx.Timeout(REQUEST_TIMEOUT_S, read=COMMAND_WAIT_S + REQUEST_TIMEOUT_S)
        failures = 0
        while True:
            try:
                response = await client.get(
                    url, params={"wait": COMMAND_WAIT_S}, headers=self._auth(key), timeout=timeout
                )
                response.raise_for_status()
                commands = response.json()["commands"]
                if not isinstance(commands, list):
                    raise TypeError("commands is not a list")
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                failures += 1
                delay = self._backoff_s(failures, COMMAND_RETRY_MAX_DELAY_S)
                log.warning(
                    "%s: command poll failed (%r), retrying in %.1f s", spec.name, exc, delay
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            for command in commands:
                await self._execute(client, spec, actuator, key, command)

    async def _execute(
        self, client: httpx.AsyncClient, spec: DeviceSpec, actuator: str, key: str, command: Any
    ) -> None:
        if not isinstance(command, dict) or not isinstance(command.get("id"), int):
            log.warning("%s: ignoring a malformed command %r", spec.name, command)
            return
        action = command.get("action")
        params = command.get("params") or {}
        expires_ms = command.get("expires_ms")
        now_ms = self._clock.wall_ms()
        applied = False
        if isinstance(expires_ms, int) and expires_ms < now_ms:
            state, detail = "failed", "expired before it reached the device"
        elif not isinstance(action, str) or not isinstance(params, dict):
            state, detail = "failed", "action must be a string and params an object"
        else:
            # Catch up first, so a timed pump run is counted from now.
            self._advance()
            try:
                detail = self.model.apply(actuator, action, params)
            except ValueError as exc:
                state, detail = "failed", str(exc)
            else:
                state, applied = "acknowledged", True
                self.commands_applied += 1
        log.info("%s: command %d %s -> %s: %s", spec.name, command["id"], action, state, detail)
        ack_url = f"{self._base_url}/api/v1/ingest/commands/{command['id']}/ack"
        ack = {"state": state, "detail": detail[:MAX_ACK_DETAIL_CHARS]}
        if await self._send(client, ack_url, key, ack, f"{spec.name} ack {command['id']}"):
            self.sent += 1
        else:
            self.failed += 1
        if applied:
            status = self._status(spec)
            body = {"status": self._status_body(status, self._clock.wall_ms())}
            if await self._post_report(client, spec, key, body):
                self._reported[spec.name] = status

    # -- HTTP ---------------------------------------------------------------------------

    def _auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def _backoff_s(self, attempt: int, cap_s: float) -> float:
        # Full jitter: retries of many devices spread out instead of arriving together.
        return self._rng.uniform(0, min(cap_s, RETRY_BASE_DELAY_S * 2 ** (attempt - 1)))

    async def _post_report(
        self, client: httpx.AsyncClient, spec: DeviceSpec, key: str, body: dict[str, Any]
    ) -> bool:
        body["message_id"] = f"sim-{uuid.uuid4().hex}"
        ok = await self._send(client, f"{self._base_url}/api/v1/ingest", key, body, spec.name)
        if ok:
            self.sent += 1
        else:
            self.failed += 1
        return ok

    async def _send(
        self, client: httpx.AsyncClient, url: str, key: str, body: dict[str, Any], what: str
    ) -> bool:
        """POSTs `body`, resending it unchanged after a network error, 5xx or 429.

        The body is resent byte for byte, message_id included, so the bridge stores a
        report once even when only its answer was lost. Returns whether it got a 2xx.
        """
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = await client.post(url, json=body, headers=self._auth(key))
            except httpx.TransportError as exc:
                reason = repr(exc)
            else:
                if response.is_success:
                    return True
                if response.status_code != 429 and response.status_code < 500:
                    log.warning(
                        "%s: dropped, HTTP %d: %s",
                        what,
                        response.status_code,
                        response.text[:200],
                    )
                    return False
                reason = f"HTTP {response.status_code}"
                retry_after = _retry_after_s(response)
            if attempt >= MAX_ATTEMPTS:
                log.warning("%s: dropped after %d attempts, last %s", what, attempt, reason)
                return False
            delay = self._backoff_s(attempt, RETRY_MAX_DELAY_S)
            if retry_after is not None:
                delay = max(delay, min(retry_after, RETRY_AFTER_MAX_S))
            log.info("%s: %s, retrying in %.2f s", what, reason, delay)
            self.retries += 1
            await asyncio.sleep(delay)
