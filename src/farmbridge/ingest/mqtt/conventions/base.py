"""What a topic convention makes of one MQTT message, and what it publishes for a command.

A convention is pure: topic and payload in, records out. Topics it sees and returns are
relative to its binding's prefix; the bridge adds and strips the prefix, resolves device
references to devices, stores what comes out and publishes what a command needs.

The records it makes are the domain's (farmbridge.domain.reports); a message it cannot
read raises farmbridge.domain.errors.BadPayload, mostly through the field kit
(farmbridge.ingest.fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from farmbridge.domain.mqtt import Publish
from farmbridge.domain.reports import CommandReply, Data, DeviceRef, Discovered, Liveness


@dataclass(frozen=True, slots=True)
class Watch:
    """Subscribe to one more topic filter (a state topic learned from discovery)."""

    filter: str


@dataclass(frozen=True, slots=True)
class Refused:
    """A part of a message the convention cannot read, while it reads the rest (one
    component of a Home Assistant device config): logged and counted as a bad payload."""

    reason: str


Mapped = Data | Liveness | CommandReply | Discovered | Watch | Refused


@dataclass(frozen=True, slots=True)
class OutgoingCommand:
    id: int
    action: str
    params: dict[str, Any]
    expires_ms: int


class Convention(Protocol):
    """One device convention. Instances may keep state learned from discovery messages."""

    name: ClassVar[str]

    def filters(self) -> list[str]:
        """Topic filters to subscribe to, relative to the binding's prefix."""
        ...

    def map(self, topic: str, payload: bytes, now_ms: int) -> list[Mapped]:
        """Reads one message; raises BadPayload for one it cannot read. An empty list
        means the topic is not data (the bridge's own command echo, retained config
        it already knows, an unrelated topic)."""
        ...

    def command(self, device: DeviceRef, cmd: OutgoingCommand) -> list[Publish]:
        """What to publish to send `cmd` to `device`; raises BadPayload when this
        convention cannot express the command (the command fails with that message)."""
        ...

    def completes(self, cmd: OutgoingCommand, reply: CommandReply) -> bool:
        """Whether a reply without a command id completes `cmd` (a state report showing
        what the command asked for)."""
        ...


@runtime_checkable
class ReadsDiscovery(Protocol):
    """A convention that also reads topics its devices publish outside its binding's
    prefix: the Home Assistant discovery configs of ESPHome's units, Tasmota's own
    discovery, the answers Shelly devices publish to the bridge's client id. The bridge
    hands it every such message, beside the binding the topic belongs to, if any."""

    def discovery_filters(self) -> list[str]:
        """Topic filters of those configs, from the broker's root."""
        ...

    def discovery(self, topic: str, payload: bytes, now_ms: int, *, prefix: str) -> list[Mapped]:
        """Reads one config (`topic` from the root); `prefix` is the binding's, where the
        state topics of its own devices start. [] for a config of another device."""
        ...
