"""The demo: a bridge on the embedded default with a seeded greenhouse fed by simulated devices.

The simulator talks to the bridge over its real HTTP ingest API, on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

import structlog

from farmbridge.app import BridgeApp, build_services
from farmbridge.config import Settings
from farmbridge.domain import DeviceKind, Role
from farmbridge.domain.errors import NotFound
from farmbridge.ingest.simulator import DEMO_DEVICES, Simulator
from farmbridge.server import make_server
from farmbridge.service.bundle import Services
from farmbridge.store.base import SensorSpec

log = structlog.get_logger(__name__)

DEMO_FARM: Final = "greenhouse-1"
DEMO_USER: Final = "demo"
DEMO_PASSWORD: Final = "demo-password"  # noqa: S105 - printed to the user on purpose


async def seed(svc: Services) -> dict[str, str]:
    """Creates the demo farm, user and devices when missing; returns fresh device keys."""
    try:
        farm = await svc.store.get_farm_by_name(DEMO_FARM)
    except NotFound:
        farm = await svc.store.create_farm(DEMO_FARM, "Demo greenhouse")
    try:
        user = await svc.store.get_user_by_name(DEMO_USER)
    except NotFound:
        user = await svc.users.create_user_unchecked(DEMO_USER, DEMO_PASSWORD, is_admin=True)
    await svc.store.set_membership(user.id, farm.id, Role.ADMIN)
    existing = {d.name: d for d in await svc.store.list_devices(farm.id)}
    keys: dict[str, str] = {}
    for spec in DEMO_DEVICES:
        if spec.name in existing:
            # Keys are stored hashed, so a restarted demo issues its simulator new ones.
            keys[spec.name] = await svc.farms.rekey_device(existing[spec.name].id)
            continue
        sensors = [SensorSpec(s.name, s.unit, s.min_value, s.max_value) for s in spec.sensors]
        _, keys[spec.name] = await svc.farms.register_device(
            farm.id, spec.name, DeviceKind(spec.kind), spec.title, sensors
        )
    return keys


async def run_demo(
    settings: Settings,
    *,
    time_scale: float,
    interval_s: float,
    ready: asyncio.Event | None = None,
) -> None:
    """Serves until interrupted; `ready` is set once the simulator is running (for tests)."""
    svc = build_services(settings)
    server = make_server(BridgeApp(settings, svc))
    serving = asyncio.create_task(server.serve(), name="farmbridge.demo.server")
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    base_url = f"http://{settings.host}:{port}"
    keys = await seed(svc)
    print(
        f"\nFarm Bridge demo is running at {base_url}/\n"
        f"  API docs:  {base_url}/docs\n"
        f"  log in as: {DEMO_USER} / {DEMO_PASSWORD}\n"
        f"  farm:      {DEMO_FARM} ({len(keys)} simulated devices, Ctrl-C to stop)\n",
        flush=True,
    )
    stop = asyncio.Event()
    sim = Simulator(
        base_url=base_url, device_keys=keys, interval_s=interval_s, time_scale=time_scale
    )
    server.on_shutdown.insert(0, stop.set)
    simulating = asyncio.create_task(sim.run(stop), name="farmbridge.demo.simulator")
    if ready is not None:
        ready.set()
    try:
        await serving
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await simulating
        log.info("demo stopped", readings_sent=sim.sent)
