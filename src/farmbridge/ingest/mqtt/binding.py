"""One MQTT binding: a topic convention under a broker prefix, optionally for one farm.

A setting (FARMBRIDGE_MQTT_BINDINGS) declared here, beside the bridge that reads it, so
the bridge needs nothing from the wiring layer.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MqttBinding(BaseModel):
    """One topic convention under one broker prefix, optionally tied to one farm."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    convention: str
    prefix: str = ""
    farm: str | None = Field(default=None, description="the farm of every device under this prefix")
    # The same name under two prefixes would make command routing ambiguous.
    name: str | None = Field(default=None, description="defaults to convention:prefix")

    @property
    def key(self) -> str:
        return self.name or f"{self.convention}:{self.prefix}"
