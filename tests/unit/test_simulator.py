"""The demo greenhouse: its physics (pure), simulated time and event owners on a fake clock,
and the simulator against a fake bridge on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from farmbridge.domain.clock import FakeClock
from farmbridge.sim.clock import SimClock
from farmbridge.sim.devices import DEMO_DEVICES, DeviceSpec
from farmbridge.sim.events import EventOwners, SimEvent
from farmbridge.sim.greenhouse import SENSORS, Greenhouse, ModelEvent
from farmbridge.sim.http import Simulator

WEEK_S = 7 * 86_400
STEP_S = 60.0
# 1 January 2024, 00:00 UTC: with no UTC offset, model hours are UTC hours.
MIDNIGHT_S = 1_704_067_200.0
HOUR_S = 3600.0

RANGES = {
    f"{spec.actuator}_{s.name}" if spec.actuator else s.name: (s.min_value, s.max_value)
    for spec in DEMO_DEVICES
    for s in spec.sensors
}


def _run(g: Greenhouse, until_s: float) -> list[ModelEvent]:
    events: list[ModelEvent] = []
    while g.time_s < until_s:
        events += g.step(g.time_s + STEP_S, STEP_S)
    return events


# -- signals -----------------------------------------------------------------------------


def test_greenhouse_values_stay_in_range_over_a_week() -> None:
    """Every sensor reading stays within its registered range for a simulated week."""
    for seed in (1, 2, 3):
        g = Greenhouse(seed=seed, start_s=MIDNIGHT_S)
        for _ in range(int(WEEK_S / STEP_S)):
            g.step(g.time_s + STEP_S, STEP_S)
            for sensor in SENSORS:
                low, high = RANGES[sensor]
                assert low <= g.reading(sensor) <= high, (seed, sensor, g.time_s)


def test_greenhouse_light_is_zero_at_night_and_positive_at_noon() -> None:
    """Light reads exactly 0 at midnight and well above 0 at noon."""
    g = Greenhouse(seed=4, start_s=MIDNIGHT_S)
    _run(g, MIDNIGHT_S + 24 * HOUR_S)
    assert g.reading("light") == 0.0
    _run(g, MIDNIGHT_S + 36 * HOUR_S)
    assert g.reading("light") > 10_000


def test_greenhouse_humidity_falls_as_the_day_warms() -> None:
    """Humidity at the warm afternoon is lower than before dawn."""
    g = Greenhouse(seed=5, start_s=MIDNIGHT_S)
    _run(g, MIDNIGHT_S + 5 * HOUR_S)
    dawn = (g.true_value("temperature"), g.true_value("humidity"))
    _run(g, MIDNIGHT_S + 13 * HOUR_S)
    afternoon = (g.true_value("temperature"), g.true_value("humidity"))
    assert afternoon[0] > dawn[0]
    assert afternoon[1] < dawn[1]


def test_greenhouse_pump_raises_soil_moisture() -> None:
    """Ten minutes of pumping leave the soil wetter than ten minutes without."""
    dry = Greenhouse(seed=6, start_s=MIDNIGHT_S, soil_moisture_pct=25)
    wet = Greenhouse(seed=6, start_s=MIDNIGHT_S, soil_moisture_pct=25)
    wet.apply("pump", "run", {"duration_s": 600})
    _run(dry, MIDNIGHT_S + 10 * 60)
    events = _run(wet, MIDNIGHT_S + 10 * 60)
    assert wet.soil_moisture_pct > dry.soil_moisture_pct + 5
    assert not wet.pump_on
    assert [e.code for e in events if e.subject == "pump"] == ["pump_run_done"]


@pytest.mark.parametrize(
    ("device", "action", "params"),
    [("fan", "on", {}), ("vent", "open", {}), ("vent", "set", {"position": 60})],
)
def test_greenhouse_ventilation_cools_compared_with_closed(
    device: str, action: str, params: dict[str, Any]
) -> None:
    """At midday a running fan or an open vent keeps the greenhouse cooler than a closed one."""
    closed = Greenhouse(seed=7, start_s=MIDNIGHT_S, vent_position_pct=0)
    aired = Greenhouse(seed=7, start_s=MIDNIGHT_S, vent_position_pct=0)
    aired.apply(device, action, params)
    _run(closed, MIDNIGHT_S + 13 * HOUR_S)
    _run(aired, MIDNIGHT_S + 13 * HOUR_S)
    assert aired.temperature_c < closed.temperature_c - 2
    assert aired.co2_ppm > closed.co2_ppm


@pytest.mark.parametrize(
    ("device", "action", "params"),
    [
        ("pump", "explode", {}),
        ("fan", "set", {"power": "maybe"}),
        ("fan", "set", {"speed": 3}),
        ("vent", "set", {"position": 140}),
        ("vent", "set", {"position": True}),
        ("pump", "run", {}),
        ("heater", "on", {}),
    ],
)
def test_greenhouse_apply_rejects_unknown_commands(
    device: str, action: str, params: dict[str, Any]
) -> None:
    """An unknown device, action or parameter raises ValueError and changes nothing."""
    g = Greenhouse(seed=8, start_s=MIDNIGHT_S)
    before = {d: g.actuator_state(d) for d in ("pump", "fan", "vent")}
    with pytest.raises(ValueError, match=r"\w"):
        g.apply(device, action, params)
    assert {d: g.actuator_state(d) for d in ("pump", "fan", "vent")} == before


def test_greenhouse_events_are_not_repeated_every_tick() -> None:
    """A lasting condition raises its event once, and again only after it has cleared."""
    g = Greenhouse(seed=9, start_s=MIDNIGHT_S, soil_moisture_pct=19)
    events = _run(g, MIDNIGHT_S + 12 * HOUR_S)
    assert [e.code for e in events if e.subject == "soil_moisture"] == ["soil_dry"]
    g.apply("pump", "on", {})
    events = _run(g, MIDNIGHT_S + 14 * HOUR_S)
    assert [e.code for e in events if e.subject == "soil_moisture"][:1] == ["soil_dry_cleared"]
    for _ in range(3):
        events = g.step(g.time_s + 1, 1)
        assert not [e for e in events if e.subject == "soil_moisture"]


def test_greenhouse_is_deterministic_for_a_seed() -> None:
    """Two models with the same seed, start and steps read the same values."""
    a = Greenhouse(seed=10, start_s=MIDNIGHT_S)
    b = Greenhouse(seed=10, start_s=MIDNIGHT_S)
    _run(a, MIDNIGHT_S + 30 * HOUR_S)
    _run(b, MIDNIGHT_S + 30 * HOUR_S)
    assert [a.reading(s) for s in sorted(SENSORS)] == [b.reading(s) for s in sorted(SENSORS)]


def test_demo_devices_match_the_demo_greenhouse() -> None:
    """The demo set holds the five devices with the registered sensor ranges."""
    by_name = {d.name: d for d in DEMO_DEVICES}
    assert set(by_name) == {"climate-1", "soil-1", "pump-1", "fan-1", "vent-1"}
    assert [s.name for s in by_name["climate-1"].sensors] == [
        "temperature",
        "humidity",
        "co2",
        "light",
    ]
    assert {d.kind for d in DEMO_DEVICES} == {"sensor_node", "actuator"}
    with pytest.raises(ValueError, match="kind"):
        DeviceSpec("x", "toaster", "X")


# -- simulated time and event owners ----------------------------------------------------


def test_sim_clock_runs_time_scale_times_faster_than_the_clock() -> None:
    """Simulated time moves `time_scale` seconds for each second of the injected clock."""
    clock = FakeClock()
    sim = SimClock(clock=clock, time_scale=60.0, start_s=MIDNIGHT_S)
    assert sim.now_s() == MIDNIGHT_S
    clock.advance(2.5)
    assert sim.now_s() == MIDNIGHT_S + 150.0


def test_sim_clock_starts_at_the_wall_clock_by_default() -> None:
    """Without a start, simulated time begins at the injected clock's wall time."""
    clock = FakeClock(wall_ms=1_750_000_000_000)
    assert SimClock(clock=clock, time_scale=720.0).now_s() == 1_750_000_000.0


def test_sim_clock_anchor_goes_on_from_the_given_moment() -> None:
    """After `anchor`, simulated time runs on from that moment instead of jumping."""
    clock = FakeClock()
    sim = SimClock(clock=clock, time_scale=10.0, start_s=MIDNIGHT_S)
    clock.advance(100)
    sim.anchor(MIDNIGHT_S + 50)
    assert sim.now_s() == MIDNIGHT_S + 50
    clock.advance(1)
    assert sim.now_s() == MIDNIGHT_S + 60


def test_sim_clock_stamps_a_moment_at_its_wall_time_never_past_now() -> None:
    """A simulated moment maps back to the wall time it was simulated at, capped at now."""
    clock = FakeClock(wall_ms=1_750_000_000_000)
    sim = SimClock(clock=clock, time_scale=60.0, start_s=MIDNIGHT_S)
    clock.advance(10)  # ten real seconds: ten simulated minutes
    assert sim.wall_ms_of(MIDNIGHT_S + 300) == 1_750_000_005_000
    assert sim.wall_ms_of(MIDNIGHT_S + 6000) == clock.wall_ms() == 1_750_000_010_000


@pytest.mark.parametrize("time_scale", [0.0, -1.0])
def test_sim_clock_rejects_a_time_scale_that_is_not_positive(time_scale: float) -> None:
    """A time scale of zero or less is refused, naming it."""
    with pytest.raises(ValueError, match="time_scale must be positive"):
        SimClock(clock=FakeClock(), time_scale=time_scale)


def test_event_owners_hand_each_event_to_the_device_of_its_subject() -> None:
    """An event goes to the device measuring or driving its subject, stamped on the wall
    clock; an event no device played concerns is dropped; `take` empties the queue."""
    clock = FakeClock(wall_ms=1_750_000_000_000)
    sim = SimClock(clock=clock, time_scale=60.0, start_s=MIDNIGHT_S)
    owners = EventOwners(DEMO_DEVICES, clock=sim)
    clock.advance(10)
    owners.collect(
        [
            ModelEvent("warning", "soil_dry", "Soil dry", "soil_moisture", MIDNIGHT_S + 60),
            ModelEvent("info", "pump_run_done", "Irrigation finished", "pump", MIDNIGHT_S + 120),
            ModelEvent("info", "odd", "No one measures this", "rainfall", MIDNIGHT_S),
        ]
    )
    assert owners.owner("vent_position") == "vent-1"
    assert owners.owner("temperature") == "climate-1"
    assert owners.take("soil-1") == [SimEvent("warning", "soil_dry", "Soil dry", 1_750_000_001_000)]
    assert owners.take("pump-1") == [
        SimEvent("info", "pump_run_done", "Irrigation finished", 1_750_000_002_000)
    ]
    assert owners.take("soil-1") == []
    assert owners.take("climate-1") == []


def test_event_owners_skip_devices_not_played() -> None:
    """A subject is owned only by a device that is played; with none, its events drop."""
    played = [d for d in DEMO_DEVICES if d.name != "pump-1"]
    owners = EventOwners(played, clock=SimClock(clock=FakeClock(), start_s=MIDNIGHT_S))
    owners.collect([ModelEvent("info", "pump_run_done", "done", "pump", MIDNIGHT_S)])
    assert owners.owner("pump") is None
    assert owners.take("pump-1") == []


# -- the simulator against a fake bridge -------------------------------------------------


@dataclass
class FakeBridge:
    """Records what devices send; fails the first ingest POST with 503; queues commands."""

    keys: dict[str, str]
    fail_first_with: int | None = 503
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    reports: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)
    acks: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    url: str = ""
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_until(self, check: Callable[[], bool], timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not check():
                # No await between the check and the clear, so no record slips by.
                self.changed.clear()
                await self.changed.wait()

    def _device(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        by_key = {f"Bearer {k}": name for name, k in self.keys.items()}
        return by_key.get(auth)

    async def ingest(self, request: web.Request) -> web.Response:
        device = self._device(request)
        if device is None:
            return web.json_response({"error": {"code": "unauthenticated"}}, status=401)
        body = await request.json()
        status = 200
        if self.fail_first_with is not None and not self.reports:
            status = self.fail_first_with
        elif self.fail_first_with == 422:
            status = 422
        self.reports.append((device, body, status))
        self.changed.set()
        if status != 200:
            return web.json_response({"error": {"code": "x"}}, status=status)
        n = len(body.get("readings", [])) + len(body.get("events", [])) + ("status" in body)
        return web.json_response({"accepted": n, "first_seq": 1, "last_seq": n, "duplicate": False})

    async def take_commands(self, request: web.Request) -> web.Response:
        device = self._device(request)
        if device is None:
            return web.json_response({"error": {"code": "unauthenticated"}}, status=401)
        pending = self.commands.pop(device, [])
        if not pending:
            # A short wait stands in for the long poll, so shutdown does not wait on it.
            await asyncio.sleep(min(float(request.query["wait"]), 0.05))
        return web.json_response({"commands": pending})

    async def ack(self, request: web.Request) -> web.Response:
        device = self._device(request)
        if device is None:
            return web.json_response({"error": {"code": "unauthenticated"}}, status=401)
        command_id = int(request.match_info["id"])
        self.acks.append((device, command_id, await request.json()))
        self.changed.set()
        return web.json_response({"id": command_id, "state": "acknowledged"})


def _keys() -> dict[str, str]:
    return {d.name: f"key-{d.name}" for d in DEMO_DEVICES}


@pytest.fixture
async def bridge() -> AsyncIterator[FakeBridge]:
    fake = FakeBridge(keys=_keys())
    app = web.Application()
    app.router.add_post("/api/v1/ingest", fake.ingest)
    app.router.add_get("/api/v1/ingest/commands", fake.take_commands)
    app.router.add_post("/api/v1/ingest/commands/{id}/ack", fake.ack)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}/"
    yield fake
    await runner.cleanup()


async def test_simulator_reports_acks_commands_and_retries(bridge: FakeBridge) -> None:
    """Readings arrive authenticated and in range, commands are acked, a 503 is resent as is."""
    bridge.commands = {
        "pump-1": [{"id": 7, "action": "run", "params": {"duration_s": 120}, "expires_ms": 2**62}],
        "fan-1": [{"id": 8, "action": "spin", "params": {}, "expires_ms": 2**62}],
    }
    sim = Simulator(
        base_url=bridge.url, device_keys=_keys(), interval_s=0.05, time_scale=60.0, seed=1
    )
    stop = asyncio.Event()
    task = asyncio.create_task(sim.run(stop))

    def done() -> bool:
        delivered = [b for d, b, s in bridge.reports if s == 200]
        pump_on = any(
            d == "pump-1" and b.get("status", {}).get("actuator") == {"power": "on"}
            for d, b, s in bridge.reports
        )
        retried = bool(delivered) and bridge.reports[0][1] in delivered
        return len(bridge.acks) == 2 and pump_on and retried and len(delivered) >= 20

    await bridge.wait_until(done)
    stop.set()
    await asyncio.wait_for(task, 5)

    specs = {d.name: d for d in DEMO_DEVICES}
    for device, body, _ in bridge.reports:
        sensors = {s.name: s for s in specs[device].sensors}
        assert 0 < len(body["message_id"]) <= 64
        for reading in body.get("readings", []):
            spec = sensors[reading["sensor"]]
            assert spec.min_value <= reading["value"] <= spec.max_value
            assert isinstance(reading["ts"], int)
    assert {d for d, b, _ in bridge.reports if b.get("readings")} == {
        "climate-1",
        "soil-1",
        "vent-1",
    }
    assert all(b.get("status", {}).get("state", "online") == "online" for _, b, _ in bridge.reports)

    _, first_body, first_status = bridge.reports[0]
    assert first_status == 503
    resent = [b for d, b, s in bridge.reports[1:] if b["message_id"] == first_body["message_id"]]
    assert resent == [first_body]
    assert len({b["message_id"] for _, b, s in bridge.reports if s == 200}) == sum(
        1 for *_, s in bridge.reports if s == 200
    )

    acks = {command_id: (device, body) for device, command_id, body in bridge.acks}
    assert acks[7] == ("pump-1", {"state": "acknowledged", "detail": "pump running for 120 s"})
    assert acks[8][0] == "fan-1"
    assert acks[8][1]["state"] == "failed"
    assert "spin" in acks[8][1]["detail"]
    assert sim.commands_applied == 1
    assert sim.retries >= 1
    # A few answers may still be in flight when the run stops.
    assert sim.sent >= 15


async def test_simulator_drops_a_rejected_report_without_retrying(bridge: FakeBridge) -> None:
    """A 422 is logged and counted as failed, never resent."""
    bridge.fail_first_with = 422
    sim = Simulator(
        base_url=bridge.url, device_keys={"soil-1": "key-soil-1"}, interval_s=0.05, seed=2
    )
    stop = asyncio.Event()
    task = asyncio.create_task(sim.run(stop))
    await bridge.wait_until(lambda: len(bridge.reports) >= 4)
    stop.set()
    await asyncio.wait_for(task, 5)
    ids = [b["message_id"] for _, b, _ in bridge.reports]
    assert len(set(ids)) == len(ids)
    assert sim.retries == 0
    # The last answer may still be in flight when the run stops.
    assert 3 <= sim.failed <= len(bridge.reports)
    assert sim.sent == 0


def test_simulator_rejects_keys_for_unknown_devices() -> None:
    """A key for a device the greenhouse does not have is a configuration error."""
    with pytest.raises(ValueError, match="heater-9"):
        Simulator(base_url="http://127.0.0.1:1", device_keys={"heater-9": "k"})


async def test_simulator_stamps_reports_with_its_clock_and_refuses_expired_commands(
    bridge: FakeBridge,
) -> None:
    """Readings and statuses carry the injected clock's time, and a command that expired by
    that clock is answered as failed without running."""
    clock = FakeClock(wall_ms=1_750_000_000_000)
    bridge.fail_first_with = None
    bridge.commands = {"fan-1": [{"id": 3, "action": "on", "params": {}, "expires_ms": 1}]}
    keys = {name: key for name, key in _keys().items() if name in ("climate-1", "fan-1")}
    sim = Simulator(base_url=bridge.url, device_keys=keys, interval_s=0.05, seed=3, clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(sim.run(stop))
    await bridge.wait_until(lambda: bool(bridge.acks) and len(bridge.reports) >= 4)
    stop.set()
    await asyncio.wait_for(task, 5)

    assert bridge.acks[0] == (
        "fan-1",
        3,
        {"state": "failed", "detail": "expired before it reached the device"},
    )
    assert sim.commands_applied == 0
    stamps = [r["ts"] for _, b, _ in bridge.reports for r in b.get("readings", [])]
    stamps += [b["status"]["ts"] for _, b, _ in bridge.reports if "status" in b]
    assert stamps
    assert set(stamps) == {1_750_000_000_000}
