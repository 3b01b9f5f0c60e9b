"""The device side of every MQTT convention, by name: what `--convention` picks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from farmbridge.sim.mqtt.dialects.base import DEFAULT_PREFIXES, Dialect
from farmbridge.sim.mqtt.dialects.esphome import EsphomeDialect
from farmbridge.sim.mqtt.dialects.hass import HassDialect
from farmbridge.sim.mqtt.dialects.homie import HomieDialect
from farmbridge.sim.mqtt.dialects.native import NativeDialect
from farmbridge.sim.mqtt.dialects.tasmota import TasmotaDialect
from farmbridge.sim.mqtt.dialects.thingsboard import ThingsBoardDialect
from farmbridge.sim.mqtt.dialects.zigbee2mqtt import Zigbee2MqttDialect

__all__ = [
    "DEFAULT_PREFIXES",
    "DIALECTS",
    "Dialect",
    "EsphomeDialect",
    "HassDialect",
    "HomieDialect",
    "NativeDialect",
    "TasmotaDialect",
    "ThingsBoardDialect",
    "Zigbee2MqttDialect",
    "make_dialect",
]

DIALECTS: Final[Mapping[str, type[Dialect]]] = {
    d.name: d
    for d in (
        NativeDialect,
        ThingsBoardDialect,
        HomieDialect,
        TasmotaDialect,
        EsphomeDialect,
        HassDialect,
        Zigbee2MqttDialect,
    )
}


def make_dialect(convention: str, *, farm: str, prefix: str | None = None) -> Dialect:
    """The device side of `convention`; raises ValueError for an unknown one, listing them."""
    cls = DIALECTS.get(convention)
    if cls is None:
        raise ValueError(
            f"unknown MQTT convention {convention!r}; known: {', '.join(sorted(DIALECTS))}"
        )
    return cls(farm=farm, prefix=prefix)
