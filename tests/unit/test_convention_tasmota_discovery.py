"""Tasmota's own discovery (tasmota/discovery/{mac}/config and /sensors) in the tasmota binding.

Samples: tests/ecosystem_samples.py (home-assistant/core's Tasmota tests, cited there).
"""

from __future__ import annotations

import orjson

from farmbridge.domain.reports import Data, DeviceRef, Discovered
from farmbridge.ingest.mqtt.conventions.base import ReadsDiscovery, Refused
from farmbridge.ingest.mqtt.conventions.tasmota import TasmotaConvention
from tests import ecosystem_samples as s

NOW = 1_767_225_600_000
MAC = "00000049A3BC"
CONFIG_TOPIC = f"tasmota/discovery/{MAC}/config"
SENSORS_TOPIC = f"tasmota/discovery/{MAC}/sensors"
DEVICE = DeviceRef(name="tasmota_49A3BC")
OURS = s.tasmota_config(ft="%prefix%/%topic%/", rl=[1, 1, 0, 0, 0, 0, 0, 0])


def _read(
    convention: TasmotaConvention, topic: str, body: object, prefix: str = ""
) -> list[object]:
    return list(convention.discovery(topic, orjson.dumps(body), NOW, prefix=prefix))


def test_tasmota_reads_its_discovery_from_the_broker_root_config_first() -> None:
    """The tasmota convention reads discovery (configs before sensors)."""
    convention = TasmotaConvention()
    assert isinstance(convention, ReadsDiscovery)
    assert convention.discovery_filters() == [
        "tasmota/discovery/+/config",
        "tasmota/discovery/+/sensors",
    ]


def test_tasmota_config_registers_the_device_by_its_topic_with_its_relays() -> None:
    """The config names the device by `t`, titled by `dn`; `rl` and `fn` give its relays."""
    convention = TasmotaConvention()
    assert _read(convention, CONFIG_TOPIC, OURS) == [Discovered(DEVICE, "Tasmota", {})]
    device = convention._discovery.device("tasmota_49A3BC")
    assert device is not None
    assert device.topic == "tasmota_49A3BC"
    assert device.relays == {"POWER1": ("Test", "relay"), "POWER2": ("Beer", "relay")}


def test_tasmota_sensors_register_sensors_with_the_units_tele_sensor_gives() -> None:
    """The sensors message registers each numeric leaf by the name and unit tele/SENSOR
    readings have, before the first reading."""
    convention = TasmotaConvention()
    _read(convention, CONFIG_TOPIC, OURS)
    [found] = _read(convention, SENSORS_TOPIC, s.TASMOTA_TEMPERATURE_SENSORS)
    assert found == Discovered(DEVICE, "Tasmota", {"DS18B20.Temperature": "°C"})
    [data] = convention.map("tele/tasmota_49A3BC/SENSOR", s.TASMOTA_DS18B20_SENSOR, NOW)
    assert isinstance(data, Data)
    assert {r.sensor for r in data.report.readings} == {"DS18B20.Temperature"}


def test_tasmota_sensors_before_the_config_wait_for_it() -> None:
    """Retained messages come in any order: sensors read first are registered with the
    config that names their device."""
    convention = TasmotaConvention()
    assert _read(convention, SENSORS_TOPIC, s.TASMOTA_LIST_SENSORS) == []
    [found] = _read(convention, CONFIG_TOPIC, OURS)
    assert isinstance(found, Discovered)
    assert found.sensors["ENERGY.Total.0"] == "kWh"
    assert found.sensors["ENERGY.Total.1"] == "kWh"
    assert found.sensors["ENERGY.Voltage"] == "V"
    assert found.sensors["ENERGY.ApparentPower"] == "VA"
    assert "ENERGY.TotalStartTime" not in found.sensors


def test_tasmota_null_sensor_values_still_name_sensors() -> None:
    """A sensor not measured yet (null) is registered all the same."""
    convention = TasmotaConvention()
    _read(convention, CONFIG_TOPIC, OURS)
    sensors = {
        "sn": {"Time": "2023-01-27T11:04:56", "DS18B20": {"Temperature": None}, "TempUnit": "C"}
    }
    [found] = _read(convention, SENSORS_TOPIC, sensors)
    assert isinstance(found, Discovered)
    assert found.sensors == {"DS18B20.Temperature": "°C"}


def test_tasmota_config_with_another_full_topic_is_refused() -> None:
    """HA's test config uses FullTopic %topic%/%prefix%/, which this binding cannot read."""
    [refused] = _read(TasmotaConvention(), CONFIG_TOPIC, s.TASMOTA_DEFAULT_CONFIG)
    assert isinstance(refused, Refused)
    assert "%topic%/%prefix%/" in refused.reason


def test_tasmota_config_of_another_binding_prefix_is_not_ours() -> None:
    """A FullTopic `site/%prefix%/%topic%/` is the binding under `site/`'s."""
    config = s.tasmota_config(ft="site/%prefix%/%topic%/")
    assert _read(TasmotaConvention(), CONFIG_TOPIC, config) == []
    [found] = _read(TasmotaConvention(), CONFIG_TOPIC, config, prefix="site/")
    assert isinstance(found, Discovered)


def test_tasmota_removed_discovery_is_forgotten() -> None:
    """An empty (cleared) config or sensors message maps to nothing."""
    convention = TasmotaConvention()
    _read(convention, CONFIG_TOPIC, OURS)
    assert convention.discovery(CONFIG_TOPIC, b"", NOW, prefix="") == []
    assert convention._discovery.device("tasmota_49A3BC") is None
    assert _read(convention, SENSORS_TOPIC, s.TASMOTA_TEMPERATURE_SENSORS) == []
