"""MqttSimulator: the demo greenhouse or a paced load, played over MQTT in one convention."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from farmbridge.domain.clock import SYSTEM_CLOCK, Clock
from farmbridge.domain.mqtt import BrokerUrl
from farmbridge.sim.clock import SimClock
from farmbridge.sim.devices import DEMO_DEVICES, DeviceSpec, SensorSpecIn, State, load_devices
from farmbridge.sim.events import EventOwners
from farmbridge.sim.greenhouse import Greenhouse
from farmbridge.sim.mqtt.client import KEEPALIVE_S, Client
from farmbridge.sim.mqtt.commands import Outcome, Request
from farmbridge.sim.mqtt.dialects import make_dialect
from farmbridge.sim.mqtt.fleet import Fleet

log = logging.getLogger(__name__)


HEARTBEAT_S: Final = 60.0
"""A device with nothing to report says it is alive this often, well inside the bridge's
liveness timeout (600 s by default)."""
CONNECT_WAIT_S: Final = 10.0
LOAD_DRAIN_S: Final = 10.0
BIRTH_DRAIN_S: Final = 2.0
PACE_TICK_S: Final = 0.001
MAX_BATCH_MESSAGES: Final = 200
MIN_MODEL_STEP_S: Final = 1.0
MAX_REMEMBERED_COMMANDS: Final = 256
MAX_OUTSTANDING_PER_CLIENT: Final = 2_000
"""Load mode waits rather than queue more unacknowledged messages than this per client."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a load run did: publishes counted as MQTT messages, acked by the broker."""

    convention: str
    devices: int
    clients: int
    connected: int
    target_rate: float
    seconds: float
    published: int
    acked: int
    dropped: int
    elapsed_s: float
    achieved_rate: float
    max_lag_s: float


class MqttSimulator:
    """Plays simulated devices against a broker in one convention.

    Args:
        url: the broker, `mqtt://[user:pass@]host[:port]` or `mqtts://...`.
        farm: the farm's name (native topics carry it; other conventions rely on the
            bridge's binding naming it).
        convention: one of DIALECTS.
        prefix: the binding's topic prefix; None for the convention's default.
        devices: the devices to play; the demo greenhouse by default.
        interval_s: real seconds between two reports of a device (`run` only).
        time_scale: simulated seconds per real second; readings keep wall-clock times.
        seed: makes weather and noise repeatable; None picks one at random.
        client_id_prefix: client ids are `{prefix}{farm}-{device}` (`-gateway` for
            ThingsBoard); they must stay the same across runs for the sessions to persist.
        ca_file: the CA bundle for mqtts.
        keepalive_s: MQTT keepalive.
        clock: the real clock, read for timestamps, heartbeats and to run simulated time.

    Counters: `published` and `acked` (by the broker) count messages; `commands_applied`
    and `commands_refused` count commands the model carried out and turned down.
    """

    def __init__(
        self,
        *,
        url: str,
        farm: str,
        convention: str = "native",
        prefix: str | None = None,
        devices: Sequence[DeviceSpec] = DEMO_DEVICES,
        interval_s: float = 2.0,
        time_scale: float = 1.0,
        seed: int | None = None,
        client_id_prefix: str = "fbsim-",
        ca_file: Path | None = None,
        keepalive_s: int = KEEPALIVE_S,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self._clock = clock
        self._sim_clock = SimClock(clock=clock, time_scale=time_scale)
        if len({d.name for d in devices}) != len(devices):
            raise ValueError("device names must be unique")
        self.dialect = make_dialect(convention, farm=farm, prefix=prefix)
        self.broker = BrokerUrl.parse(url)
        self._url = url
        self._devices = tuple(devices)
        self._interval_s = interval_s
        self._client_id_prefix = client_id_prefix
        self._ca_file = ca_file
        self._keepalive_s = keepalive_s
        self.seed = secrets.randbits(32) if seed is None else seed
        self._rng = random.Random(self.seed)
        self.model = Greenhouse(
            seed=self.seed,
            start_s=self._sim_clock.now_s(),
            utc_offset_s=self._sim_clock.utc_offset_s(),
        )
        self._events = EventOwners(self._devices, clock=self._sim_clock)
        self._reported: dict[str, State] = {}
        self._last_sent: dict[str, float] = {}
        self._seen: dict[str, OrderedDict[int, Outcome]] = {d.name: OrderedDict() for d in devices}
        self._run_id = secrets.token_hex(6)
        self._sequence = 0
        self._fleet: Fleet | None = None
        self.commands_applied = 0
        self.commands_refused = 0

    @property
    def published(self) -> int:
        return self._fleet.published if self._fleet else 0

    @property
    def acked(self) -> int:
        return self._fleet.acked if self._fleet else 0

    @property
    def sent(self) -> int:
        """Messages published (the HTTP simulator's counter of the same name)."""
        return self.published

    def sensor_name(self, device: DeviceSpec, sensor: SensorSpecIn) -> str:
        """What the bridge will call this sensor's readings (for registering them)."""
        return self.dialect.sensor_name(device, sensor)

    # -- running --------------------------------------------------------------------------

    def _start(self) -> Fleet:
        fleet = Fleet(
            url=self._url,
            dialect=self.dialect,
            devices=self._devices,
            client_id_prefix=self._client_id_prefix,
            keepalive_s=self._keepalive_s,
            ca_file=self._ca_file,
            on_up=self._came_up,
            on_command=self._command,
            state_of=self._state,
            clock=self._clock,
        )
        self._fleet = fleet
        self._sim_clock.anchor(self.model.time_s)
        fleet.start()
        return fleet

    async def run(self, stop: asyncio.Event) -> None:
        """Runs every device, a report each interval, until `stop` is set; then says
        goodbye and disconnects. A broker that is away is retried; QoS 1 messages wait."""
        fleet = self._start()
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self._report_loop(d), name=f"farmbridge.mqtt_sim.{d.name}")
                    for d in self._devices
                ]
                await stop.wait()
                for task in tasks:
                    task.cancel()
        finally:
            await fleet.stop(farewell=True)

    async def run_paced(
        self, *, rate: float, seconds: float, stop: asyncio.Event | None = None
    ) -> LoadResult:
        """Load mode: publishes `rate` messages a second in total, the devices taking
        turns, for `seconds` (or until `stop`), then waits for the broker's acks.

        Raises ValueError for a rate or duration that is not positive, ConnectionError
        when no client could connect within CONNECT_WAIT_S.
        """
        if rate <= 0 or seconds <= 0:
            raise ValueError(f"rate and seconds must be positive, got {rate} and {seconds}")
        fleet = self._start()
        loop = asyncio.get_running_loop()
        try:
            connected = await fleet.wait_connected(CONNECT_WAIT_S)
            if connected == 0:
                raise ConnectionError(f"no connection to {fleet.broker.safe()}")
            await self._drained(fleet, BIRTH_DRAIN_S)  # count only the paced messages' acks
            start = loop.time()
            cap = MAX_OUTSTANDING_PER_CLIENT * len(fleet.clients)
            first_published, first_acked = fleet.published, fleet.acked
            sent, turn, max_lag = 0, 0, 0.0
            while not (stop is not None and stop.is_set()):
                now = loop.time()
                if now - start >= seconds:
                    break
                # How late this turn starts on the schedule: sleep overshoot, a busy loop,
                # or waiting for the broker's acknowledgements.
                max_lag = max(max_lag, now - start - sent / rate)
                # Behind schedule, a turn still yields to the loop after a bounded batch.
                due = min(int((now - start) * rate) + 1, sent + MAX_BATCH_MESSAGES)
                while sent < due and fleet.published - fleet.acked < cap:
                    sent += self._report(self._devices[turn % len(self._devices)])
                    turn += 1
                await asyncio.sleep(max(PACE_TICK_S, start + (sent + 1) / rate - loop.time()))
            elapsed = loop.time() - start
            await self._drained(fleet, LOAD_DRAIN_S)
            published = fleet.published - first_published
            return LoadResult(
                convention=self.dialect.name,
                devices=len(self._devices),
                clients=len(fleet.clients),
                connected=connected,
                target_rate=rate,
                seconds=seconds,
                published=published,
                acked=fleet.acked - first_acked,
                dropped=fleet.dropped,
                elapsed_s=round(elapsed, 3),
                achieved_rate=round(published / elapsed, 1) if elapsed > 0 else 0.0,
                max_lag_s=round(max_lag, 3),
            )
        finally:
            await fleet.stop(farewell=True)

    @staticmethod
    async def _drained(fleet: Fleet, wait_s: float) -> None:
        """Waits up to `wait_s` for the broker to acknowledge every message published."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while loop.time() < deadline:
            if fleet.acked >= fleet.published:
                return
            await asyncio.sleep(0.01)

    async def _report_loop(self, spec: DeviceSpec) -> None:
        assert self._fleet is not None
        await self._fleet.client(spec).connected.wait()
        loop = asyncio.get_running_loop()
        # A random phase keeps a fleet started at once from publishing in lockstep.
        next_at = loop.time() + self._rng.uniform(0, self._interval_s)
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            self._report(spec)
            next_at += self._interval_s
            if next_at < loop.time():
                next_at = loop.time()  # far behind: skip the missed ticks, do not burst

    # -- time and model -----------------------------------------------------------------

    def _advance(self, *, force: bool = False) -> None:
        now_s = self._sim_clock.now_s()
        if not force and now_s - self.model.time_s < MIN_MODEL_STEP_S:
            return  # a load run reports far more often than the model needs a step
        self._events.collect(self.model.advance_to(now_s))

    def _state(self, spec: DeviceSpec) -> State:
        return self.model.actuator_state(spec.actuator) if spec.actuator else {}

    # -- publishing -------------------------------------------------------------------------

    def _came_up(self, client: Client) -> None:
        now_ms = self._clock.wall_ms()
        for d in client.devices:
            state = self._state(d)
            client.publish(self.dialect.birth(d, state, now_ms))
            self._reported[d.name] = state
            self._last_sent[d.name] = self._clock.monotonic()

    def _report(self, spec: DeviceSpec) -> int:
        """Publishes one report of the device; returns how many messages that took."""
        assert self._fleet is not None
        self._advance()
        now_ms = self._clock.wall_ms()
        state = self._state(spec)
        readings = {
            s.name: min(s.max_value, max(s.min_value, self.model.reading(spec.channel(s))))
            for s in spec.sensors
        }
        self._sequence += 1
        message_id = f"sim-{self._run_id}-{self._sequence}"
        messages = self.dialect.telemetry(spec, readings, state, now_ms, message_id)
        if state != self._reported.get(spec.name):
            messages += self.dialect.status(spec, state, now_ms)
            self._reported[spec.name] = state
        messages += self.dialect.events(spec, self._events.take(spec.name))
        mono = self._clock.monotonic()
        if not messages and mono - self._last_sent.get(spec.name, mono) >= HEARTBEAT_S:
            messages = self.dialect.heartbeat(spec, state, now_ms)
        if messages:
            self._fleet.client(spec).publish(messages)
            self._last_sent[spec.name] = mono
        return len(messages)

    def _command(self, spec: DeviceSpec, request: Request) -> None:
        assert self._fleet is not None
        seen = self._seen[spec.name]
        remembered = seen.get(request.id) if request.id is not None else None
        if remembered is not None:
            # Redelivered (QoS 1 is at least once): answer again, do not run it twice.
            outcome = remembered
        else:
            outcome = self._execute(spec, request)
            if request.id is not None:
                seen[request.id] = outcome
                while len(seen) > MAX_REMEMBERED_COMMANDS:
                    seen.popitem(last=False)
        log.info(
            "%s: command %s %s -> %s: %s",
            spec.name,
            request.target,
            request.action,
            "ok" if outcome.ok else "refused",
            outcome.detail,
        )
        now_ms = self._clock.wall_ms()
        state = self._state(spec)
        messages = self.dialect.reply(spec, request, outcome, state, now_ms)
        if state != self._reported.get(spec.name):
            if not (self.dialect.reply_reports_state and outcome.ok):
                messages += self.dialect.status(spec, state, now_ms)
            self._reported[spec.name] = state
        self._fleet.client(spec).publish(messages)
        self._last_sent[spec.name] = self._clock.monotonic()

    def _execute(self, spec: DeviceSpec, request: Request) -> Outcome:
        if request.error is not None:
            self.commands_refused += 1
            return Outcome(False, request.error)
        if request.action is None:
            return Outcome(True, "state reported")
        if spec.actuator is None:
            self.commands_refused += 1
            return Outcome(False, f"{spec.name} has no actuator to command")
        # Catch up first, so a timed pump run is counted from now.
        self._advance(force=True)
        try:
            detail = self.model.apply(spec.actuator, request.action, request.params)
        except ValueError as exc:
            self.commands_refused += 1
            return Outcome(False, str(exc))
        self.commands_applied += 1
        return Outcome(True, detail)


async def run_load(
    *,
    url: str,
    farm: str,
    devices: int,
    rate: float,
    seconds: float,
    convention: str = "native",
    prefix: str | None = None,
    sensors: int = 1,
    device_prefix: str = "d",
    client_id_prefix: str = "fbsim-",
    ca_file: Path | None = None,
    seed: int | None = None,
) -> LoadResult:
    """Runs `devices` sensor nodes (`load_devices`) publishing `rate` messages a second in
    total for `seconds`, and returns what was published and acknowledged.

    Raises ValueError for bad arguments and ConnectionError when the broker is out of reach.
    """
    sim = MqttSimulator(
        url=url,
        farm=farm,
        convention=convention,
        prefix=prefix,
        devices=load_devices(devices, sensors=sensors, name_prefix=device_prefix),
        seed=seed,
        client_id_prefix=client_id_prefix,
        ca_file=ca_file,
    )
    return await sim.run_paced(rate=rate, seconds=seconds)
