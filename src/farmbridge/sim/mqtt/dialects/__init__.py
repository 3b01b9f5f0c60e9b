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
