"""The Dialect base: how one MQTT convention's devices talk, pure, with the clock passed in."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import ClassVar, Final

from farmbridge.domain.mqtt import Publish
from farmbridge.sim.devices import DeviceSpec, SensorSpecIn, State
from farmbridge.sim.events import SimEvent
from farmbridge.sim.mqtt.commands import Outcome, Request

DEFAULT_PREFIXES: Final[Mapping[str, str]] = {
    "native": "farmbridge/",
    "thingsboard": "",
    "homie": "homie/",
    "tasmota": "",
    "esphome": "",
    "hass": "",
    "zigbee2mqtt": "zigbee2mqtt/",
}
"""The prefix each convention's devices publish under by default: the typical binding's."""


class Dialect(abc.ABC):
    """How one convention's devices talk. Pure: the clock comes in as `now_ms`, and every
    topic is absolute (the prefix included).

    Args:
        farm: the farm the devices belong to (native topics carry it; Home Assistant
            state topics include it to stay apart from other farms').
        prefix: the binding's prefix; None for the convention's `DEFAULT_PREFIXES` one.
    """

    name: ClassVar[str]
    shared: ClassVar[bool] = False
    """One client speaks for every device (a gateway), instead of one client each."""
    reply_reports_state: ClassVar[bool] = False
    """The answer to a command that ran already is the device's new state."""
    command_example: ClassVar[str]
    """Commands an operator can send these devices, for the demo's banner."""

    def __init__(self, *, farm: str, prefix: str | None = None) -> None:
        self.farm = farm
        self.prefix = DEFAULT_PREFIXES[self.name] if prefix is None else prefix

    def sensor_name(self, device: DeviceSpec, sensor: SensorSpecIn) -> str:
        """The name the bridge's convention gives this sensor's readings."""
        return sensor.name

    @abc.abstractmethod
    def subscriptions(self, device: DeviceSpec) -> list[str]:
        """Topic filters the device listens on for commands."""

    def will(self, device: DeviceSpec) -> Publish | None:
        """The last will the broker publishes when the device vanishes."""
        return None

    @abc.abstractmethod
    def birth(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        """What the device publishes on every (re)connection: online, and its state."""

    @abc.abstractmethod
    def farewell(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        """What the device publishes before it disconnects on purpose."""

    @abc.abstractmethod
    def telemetry(
        self,
        device: DeviceSpec,
        readings: Mapping[str, float],
        state: State,
        now_ms: int,
        message_id: str,
    ) -> list[Publish]:
        """One report of readings (keyed by `SensorSpecIn.name`); empty when there is
        nothing to send."""

    @abc.abstractmethod
    def status(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        """The device's actuator state, after it changed."""

    def heartbeat(self, device: DeviceSpec, state: State, now_ms: int) -> list[Publish]:
        """A sign of life from a device with nothing else to say."""
        return self.status(device, state, now_ms)

    def events(self, device: DeviceSpec, events: Sequence[SimEvent]) -> list[Publish]:
        """Events, where the convention has a place for them."""
        return []

    @abc.abstractmethod
    def command(
        self, device: DeviceSpec, topic: str, payload: bytes, state: State, now_ms: int
    ) -> Request | None:
        """The command in a message; None when the message is not a command for `device`."""

    @abc.abstractmethod
    def reply(
        self, device: DeviceSpec, request: Request, outcome: Outcome, state: State, now_ms: int
    ) -> list[Publish]:
        """The device's answer to a command, given its outcome and the state after it."""
