"""The demo: a bridge on the embedded default with a seeded greenhouse fed by simulated devices.

The simulator talks to the bridge over its real HTTP ingest API, on the same port; or, given
an MQTT convention (and a broker in `mqtt_url`), its devices publish to the broker in that
convention and the bridge reads them through a binding for the demo farm.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Final

import structlog

from farmbridge.app import BridgeApp, build_services
from farmbridge.config import MqttBinding, Settings
from farmbridge.domain import DeviceKind, Role
from farmbridge.domain.errors import NotFound
from farmbridge.server import make_server
from farmbridge.service.bundle import Services
from farmbridge.sim.devices import DEMO_DEVICES, DeviceSpec, SensorSpecIn
from farmbridge.sim.http import Simulator
from farmbridge.sim.mqtt import DEFAULT_PREFIXES, MqttSimulator
from farmbridge.store.base import SensorSpec

log = structlog.get_logger(__name__)

DEMO_FARM: Final = "greenhouse-1"
DEMO_USER: Final = "demo"
DEMO_PASSWORD: Final = "demo-password"  # noqa: S105 - printed to the user on purpose
BRIDGE_CONNECT_WAIT_S: Final = 10.0

SensorNaming = Callable[[DeviceSpec, SensorSpecIn], str]


def demo_binding(convention: str) -> MqttBinding:
    """The binding the bridge reads the demo's simulated devices through: the convention
    under its usual prefix, for the demo farm. Raises ValueError for an unknown convention."""
    if convention not in DEFAULT_PREFIXES:
        known = ", ".join(sorted(DEFAULT_PREFIXES))
        raise ValueError(f"unknown MQTT convention {convention!r}; known: {known}")
    return MqttBinding(convention=convention, prefix=DEFAULT_PREFIXES[convention], farm=DEMO_FARM)


def with_demo_binding(settings: Settings, convention: str) -> Settings:
    """`settings` reading the demo's binding, beside the bindings configured explicitly
    (FARMBRIDGE_MQTT_BINDINGS) but instead of the default one: retained messages of
    another convention's earlier demo run would otherwise feed stale state to the farm."""
    binding = demo_binding(convention)
    configured = settings.mqtt_bindings if "mqtt_bindings" in settings.model_fields_set else ()
    others = tuple(b for b in configured if b.key != binding.key)
    return settings.model_copy(update={"mqtt_bindings": (*others, binding)})


async def seed(svc: Services, sensor_name: SensorNaming | None = None) -> dict[str, str]:
    """Creates the demo farm, user and devices when missing; returns fresh device keys.

    `sensor_name` names the sensors as the devices' MQTT convention will report them
    (Homie's `sensors.temperature`); given, devices seeded before under other names get
    these sensors too.
    """
    naming = sensor_name or (lambda _device, sensor: sensor.name)
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
        sensors = [
            SensorSpec(naming(spec, s), s.unit, s.min_value, s.max_value) for s in spec.sensors
        ]
        if spec.name in existing:
            # Keys are stored hashed, so a restarted demo issues its simulator new ones.
            keys[spec.name] = await svc.farms.rekey_device(existing[spec.name].id)
            if sensor_name is not None and sensors:
                await svc.farms.register_sensors(existing[spec.name].id, sensors)
            continue
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
    mqtt_convention: str | None = None,
) -> None:
    """Serves until interrupted; `ready` is set once the simulator is running (for tests).

    With `mqtt_convention`, the simulated devices publish to the broker of
    `settings.mqtt_url` in that convention instead of posting over HTTP, and the bridge
    gets the binding to read them (`demo_binding`). Raises ValueError when there is no
    broker URL or the convention is unknown.
    """
    mqtt_sim: MqttSimulator | None = None
    if mqtt_convention is not None:
        url = settings.mqtt_url
        if not url:
            raise ValueError("simulating devices over MQTT needs a broker URL (mqtt_url)")
        settings = with_demo_binding(settings, mqtt_convention)
        mqtt_sim = MqttSimulator(
            url=url,
            farm=DEMO_FARM,
            convention=mqtt_convention,
            interval_s=interval_s,
            time_scale=time_scale,
            # Per convention: each is another device to the broker, with its own session.
            client_id_prefix=f"{settings.mqtt_client_id}-demo-{mqtt_convention}-",
            ca_file=settings.mqtt_ca_file,
        )
        # Before the bridge reads the broker: a message about the farm (retained, or
        # queued in the bridge's session) arriving before the farm exists would make the
        # bridge remember it as unknown for a while, and drop the devices' first messages.
        keys = await _seed_offline(settings, mqtt_sim.sensor_name)
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
    sim: Simulator | MqttSimulator
    if mqtt_sim is not None:
        sim = mqtt_sim
        await _bridge_connected(svc)
        via = (
            f"  devices:   over MQTT, {mqtt_sim.dialect.name} convention, at"
            f" {mqtt_sim.broker.safe()}\n"
            f"  commands:  {mqtt_sim.dialect.command_example}\n"
        )
    else:
        keys = await seed(svc)
        sim = Simulator(
            base_url=base_url, device_keys=keys, interval_s=interval_s, time_scale=time_scale
        )
        via = ""
    print(
        f"\nFarm Bridge demo is running at {base_url}/\n"
        f"  API docs:  {base_url}/docs\n"
        f"  log in as: {DEMO_USER} / {DEMO_PASSWORD}\n"
        f"  farm:      {DEMO_FARM} ({len(keys)} simulated devices, Ctrl-C to stop)\n{via}",
        flush=True,
    )
    stop = asyncio.Event()
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


async def _seed_offline(settings: Settings, sensor_name: SensorNaming) -> dict[str, str]:
    """`seed` on the store alone, before the bridge runs."""
    svc = build_services(settings)
    await svc.store.start()
    try:
        return await seed(svc, sensor_name)
    finally:
        await svc.store.close()


async def _bridge_connected(svc: Services) -> None:
    """Waits a little for the bridge's broker link, so the devices' first messages find its
    subscriptions; a broker still away is only logged (devices and bridge keep retrying)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BRIDGE_CONNECT_WAIT_S
    while loop.time() < deadline:
        probe = svc.probes.check().get("mqtt")
        if probe is not None and probe.ok:
            return
        await asyncio.sleep(0.05)
    log.warning("MQTT broker not reached yet; the simulated devices keep trying")
