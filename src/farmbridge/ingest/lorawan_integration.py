"""One LoRaWAN network server's HTTP integration (FARMBRIDGE_LORAWAN_INTEGRATIONS).

Declared beside the endpoint that reads it, so the endpoint needs nothing from the
wiring layer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LorawanIntegration(BaseModel):
    """A network server's HTTP integration: posts to /api/v1/lorawan/{name}."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    kind: Literal["tts", "chirpstack"]
    farm: str
    secret: str = Field(min_length=16, description="sent as `Authorization: Bearer <secret>`")
