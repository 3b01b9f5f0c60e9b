"""The topic conventions, by name: what a binding's `convention` setting picks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from farmbridge.ingest.mqtt.conventions.base import Convention
from farmbridge.ingest.mqtt.conventions.esphome import EsphomeConvention
from farmbridge.ingest.mqtt.conventions.hass import HassConvention
from farmbridge.ingest.mqtt.conventions.homie import HomieConvention
from farmbridge.ingest.mqtt.conventions.native import NativeConvention
from farmbridge.ingest.mqtt.conventions.shelly import ShellyConvention
from farmbridge.ingest.mqtt.conventions.tasmota import TasmotaConvention
from farmbridge.ingest.mqtt.conventions.thingsboard import ThingsBoardConvention
from farmbridge.ingest.mqtt.conventions.zigbee2mqtt import Zigbee2MqttConvention

CONVENTIONS: Final[dict[str, Callable[[], Convention]]] = {
    c.name: c
    for c in (
        NativeConvention,
        ThingsBoardConvention,
        HomieConvention,
        TasmotaConvention,
        EsphomeConvention,
        HassConvention,
        Zigbee2MqttConvention,
        ShellyConvention,
    )
}


def make_convention(name: str, *, client_id: str | None = None) -> Convention:
    """A new instance of the convention called `name` (each binding keeps its own, as
    conventions remember what discovery taught them). `client_id`, the bridge's MQTT
    client id, is where Shelly devices answer its requests. Raises ValueError for an
    unknown name, listing the known ones."""
    factory = CONVENTIONS.get(name)
    if factory is None:
        raise ValueError(
            f"unknown MQTT convention {name!r}; known: {', '.join(sorted(CONVENTIONS))}"
        )
    if factory is ShellyConvention and client_id is not None:
        return ShellyConvention(client_id=client_id)
    return factory()


__all__ = [
    "CONVENTIONS",
    "EsphomeConvention",
    "HassConvention",
    "HomieConvention",
    "NativeConvention",
    "ShellyConvention",
    "TasmotaConvention",
    "ThingsBoardConvention",
    "Zigbee2MqttConvention",
    "make_convention",
]
