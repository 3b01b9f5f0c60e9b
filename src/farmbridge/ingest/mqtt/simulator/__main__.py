"""Runs the MQTT device simulator: `python -m farmbridge.ingest.mqtt.simulator --help`."""

from __future__ import annotations

import sys

from farmbridge.ingest.mqtt.simulator.cli import main

sys.exit(main())
