"""The sensor nodes a load run plays: `d0`, `d1`... measuring the demo's quantities."""

from __future__ import annotations

from typing import Final

from farmbridge.sim.http import DEMO_DEVICES, DeviceSpec, SensorSpecIn

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
