"""The MQTT bridge's time decisions on a fake clock: device liveness and sent-command expiry."""

from __future__ import annotations

from farmbridge.domain.clock import FakeClock
from farmbridge.domain.devices import Device, DeviceKind
from farmbridge.domain.reports import DeviceRef
from farmbridge.ingest.mqtt.binding import MqttBinding
from farmbridge.ingest.mqtt.bridge import Bound, Route
from farmbridge.ingest.mqtt.conventions import make_convention
from farmbridge.ingest.mqtt.conventions.base import OutgoingCommand
from farmbridge.service.directory import DeviceEntry

TIMEOUT_S = 600.0


def _route(clock: FakeClock, *, online: bool | None) -> Route:
    """A route to one device, last heard of now."""
    bound = Bound(MqttBinding(convention="native"), make_convention("native"))
    device = Device(1, 1, "probe", DeviceKind.SENSOR_NODE, "Probe", created_ms=0)
    route = Route(bound, DeviceRef(name="probe", farm="f"), DeviceEntry(device, {}), online=online)
    route.last_seen = clock.monotonic()
    return route


def test_route_online_is_silent_too_long_only_after_the_timeout() -> None:
    """A device taken as online times out strictly after `timeout_s` of silence, not at it."""
    clock = FakeClock()
    route = _route(clock, online=True)
    clock.advance(TIMEOUT_S)
    assert not route.silent_too_long(clock.monotonic(), TIMEOUT_S)
    clock.advance(0.001)
    assert route.silent_too_long(clock.monotonic(), TIMEOUT_S)


def test_route_heard_again_starts_its_silence_over() -> None:
    """A message resets the silence: the time-out counts from the last one."""
    clock = FakeClock()
    route = _route(clock, online=True)
    clock.advance(TIMEOUT_S - 1)
    route.last_seen = clock.monotonic()
    clock.advance(TIMEOUT_S - 1)
    assert not route.silent_too_long(clock.monotonic(), TIMEOUT_S)


def test_route_offline_or_unknown_never_times_out() -> None:
    """Only a device taken as online is marked offline by the sweep, however long it is silent."""
    clock = FakeClock()
    routes = [_route(clock, online=False), _route(clock, online=None)]
    clock.advance(10 * TIMEOUT_S)
    assert not any(r.silent_too_long(clock.monotonic(), TIMEOUT_S) for r in routes)


def test_route_wall_clock_step_does_not_time_a_device_out() -> None:
    """Liveness runs on monotonic time: an NTP step of the wall clock changes nothing."""
    clock = FakeClock()
    route = _route(clock, online=True)
    clock.set_wall_ms(clock.wall_ms() + 10 * int(TIMEOUT_S) * 1000)
    assert not route.silent_too_long(clock.monotonic(), TIMEOUT_S)


def test_route_drops_sent_commands_once_expired() -> None:
    """A sent command is kept until its expiry and dropped from then on, so no late reply
    completes it."""
    clock = FakeClock()
    route = _route(clock, online=True)
    now_ms = clock.wall_ms()
    soon = OutgoingCommand(1, "POWER", {}, expires_ms=now_ms + 1_000)
    later = OutgoingCommand(2, "POWER", {}, expires_ms=now_ms + 5_000)
    route.sent = [soon, later]
    clock.advance(0.999)
    route.drop_expired(clock.wall_ms())
    assert route.sent == [soon, later]
    clock.advance(0.001)
    route.drop_expired(clock.wall_ms())
    assert route.sent == [later]
    clock.advance(10)
    route.drop_expired(clock.wall_ms())
    assert route.sent == []


def test_a_share_group_shares_data_filters_but_never_discovery_topics() -> None:
    from farmbridge.ingest.mqtt.bridge import broker_filter

    assert broker_filter("farmbridge/+/+/telemetry", None) == "farmbridge/+/+/telemetry"
    assert broker_filter("farmbridge/+/+/telemetry", "g1") == "$share/g1/farmbridge/+/+/telemetry"
    assert broker_filter("homeassistant/+/+/config", "g1") == "homeassistant/+/+/config"
    assert broker_filter("homie/+/$description", "g1") == "homie/+/$description"
    assert broker_filter("homie/+/$state", "g1") == "$share/g1/homie/+/$state"
