"""Runs the MQTT device simulator: `python -m farmbridge.sim.mqtt --help`."""

from __future__ import annotations

import sys

from farmbridge.sim.mqtt.cli import main

sys.exit(main())
