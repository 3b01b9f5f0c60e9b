"""The one vocabulary of actuator state every adapter reports, as the native convention has it.

`{"power": "on"}` for a switch, `{"position": 40}` for a vent or shutter (percent open),
`{"value": 21.5}` for another set-point; the dashboard reads these keys. A device with
several switches names the others `power.<entity>` (ESPHome, Home Assistant, Homie) or
`power2`, `power3`... (Tasmota's relay numbers).
"""

from __future__ import annotations

from typing import Final

POWER: Final = "power"
POSITION: Final = "position"
VALUE: Final = "value"
ON: Final = "on"
OFF: Final = "off"


def power_word(on: bool) -> str:
    """`on` or `off`, as the `power` key holds it."""
    return ON if on else OFF
