"""The simulated devices, what each measures and drives: the demo's five, a load's sensor nodes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from farmbridge.sim.greenhouse import ACTUATORS, SENSORS

DEVICE_KINDS: Final = frozenset({"sensor_node", "actuator", "controller"})
MAX_ACK_DETAIL_CHARS: Final = 500
"""A command's answer says why in at most this many characters (the bridge's limit)."""

State = Mapping[str, str | int | float | bool | None]
"""A device's actuator state as the model reports it: `{"power": "on"}`, `{"position": 40}`."""


@dataclass(frozen=True, slots=True)
class SensorSpecIn:
    """A sensor as registered with the bridge; the simulator keeps values within its range."""

    name: str
    unit: str
    min_value: float
    max_value: float


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A simulated device as registered with the bridge.

    `kind` is one of DEVICE_KINDS. `actuator` names the Greenhouse actuator the device
    drives (`"pump"`, `"fan"`, `"vent"`), None for a device that only measures; a
    sensor of an actuator device measures that actuator (the vent's `position`).
    """

    name: str
    kind: str
    title: str
    sensors: tuple[SensorSpecIn, ...] = ()
    actuator: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in DEVICE_KINDS:
            raise ValueError(f"device kind must be one of {sorted(DEVICE_KINDS)}: {self.kind!r}")
        if self.actuator is not None and self.actuator not in ACTUATORS:
            raise ValueError(f"unknown actuator {self.actuator!r} for device {self.name!r}")
        for sensor in self.sensors:
            if self.channel(sensor) not in SENSORS:
                raise ValueError(f"the model has no sensor {sensor.name!r} for {self.name!r}")

    def channel(self, sensor: SensorSpecIn) -> str:
        """The Greenhouse quantity a sensor of this device reads."""
        return f"{self.actuator}_{sensor.name}" if self.actuator else sensor.name


DEMO_DEVICES: Final[tuple[DeviceSpec, ...]] = (
    DeviceSpec(
        "climate-1",
        "sensor_node",
        "Climate node",
        (
            SensorSpecIn("temperature", "°C", -20, 60),
            SensorSpecIn("humidity", "%", 0, 100),
            SensorSpecIn("co2", "ppm", 0, 5000),
            SensorSpecIn("light", "lux", 0, 150_000),
        ),
    ),
    DeviceSpec(
        "soil-1", "sensor_node", "Soil probe", (SensorSpecIn("soil_moisture", "%", 0, 100),)
    ),
    DeviceSpec("pump-1", "actuator", "Irrigation pump", actuator="pump"),
    DeviceSpec("fan-1", "actuator", "Exhaust fan", actuator="fan"),
    DeviceSpec(
        "vent-1", "actuator", "Roof vent", (SensorSpecIn("position", "%", 0, 100),), actuator="vent"
    ),
)
"""The demo greenhouse: two sensor nodes and three actuators."""

LOAD_SENSORS: Final[tuple[SensorSpecIn, ...]] = tuple(
    s for spec in DEMO_DEVICES if spec.actuator is None for s in spec.sensors
)
"""What load devices measure, the first `sensors` of these (at most five)."""


def load_devices(count: int, *, sensors: int = 1, name_prefix: str = "d") -> list[DeviceSpec]:
    """`count` sensor nodes `{name_prefix}0`... measuring the first `sensors` (1 to 5)
    quantities of LOAD_SENSORS. Raises ValueError for counts out of range."""
    if count < 1:
        raise ValueError(f"need at least one device, got {count}")
    if not 1 <= sensors <= len(LOAD_SENSORS):
        raise ValueError(f"sensors must be 1 to {len(LOAD_SENSORS)}, got {sensors}")
    chosen = LOAD_SENSORS[:sensors]
    return [
        DeviceSpec(f"{name_prefix}{i}", "sensor_node", f"Load device {i}", chosen)
        for i in range(count)
    ]
