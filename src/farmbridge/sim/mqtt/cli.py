"""The command line: `python -m farmbridge.sim.mqtt` (see the package docstring)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Final

import orjson

from farmbridge.sim.mqtt.dialects import DIALECTS
from farmbridge.sim.mqtt.simulator import MqttSimulator, run_load

LOAD_SECONDS: Final = 10.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m farmbridge.sim.mqtt",
        description="Simulated devices over MQTT: a load of sensor nodes, or the demo greenhouse.",
    )
    add = parser.add_argument
    add("--url", required=True, help="broker, mqtt://[user:pass@]host[:port] or mqtts://...")
    add("--farm", required=True, help="the farm the devices are registered on")
    add("--convention", default="native", choices=sorted(DIALECTS))
    add("--prefix", default=None, help="topic prefix (default: the convention's usual one)")
    add("--devices", type=int, default=10, help="load: number of devices")
    add("--rate", type=float, default=200.0, help="load: messages per second, in total")
    add("--seconds", type=float, default=None, help="how long: load 10 s, greenhouse until Ctrl-C")
    add("--sensors", type=int, default=1, help="load: quantities per device, 1 to 5")
    add("--device-prefix", default="d", help="load: devices are named {prefix}0, {prefix}1...")
    add("--client-id-prefix", default="fbsim-")
    add("--ca-file", type=Path, default=None, help="CA bundle for mqtts")
    add("--greenhouse", action="store_true", help="play the demo greenhouse instead of a load")
    add("--interval-s", type=float, default=2.0, help="greenhouse: seconds between reports")
    add("--time-scale", type=float, default=120.0, help="greenhouse: simulated s per real s")
    add("--seed", type=int, default=None)
    add("-v", "--verbose", action="store_true")
    return parser


async def _greenhouse(args: argparse.Namespace, seconds: float | None) -> None:
    sim = MqttSimulator(
        url=args.url,
        farm=args.farm,
        convention=args.convention,
        prefix=args.prefix,
        interval_s=args.interval_s,
        time_scale=args.time_scale,
        seed=args.seed,
        client_id_prefix=args.client_id_prefix,
        ca_file=args.ca_file,
    )
    stop = asyncio.Event()
    if seconds is not None:
        asyncio.get_running_loop().call_later(seconds, stop.set)
    await sim.run(stop)
    print(orjson.dumps({"published": sim.published, "acked": sim.acked}).decode())


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.greenhouse:
            asyncio.run(_greenhouse(args, args.seconds))
            return 0
        result = asyncio.run(
            run_load(
                url=args.url,
                farm=args.farm,
                devices=args.devices,
                rate=args.rate,
                seconds=args.seconds or LOAD_SECONDS,
                convention=args.convention,
                prefix=args.prefix,
                sensors=args.sensors,
                device_prefix=args.device_prefix,
                client_id_prefix=args.client_id_prefix,
                ca_file=args.ca_file,
                seed=args.seed,
            )
        )
    except KeyboardInterrupt:
        return 130
    except (ValueError, ConnectionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps(asdict(result)).decode())
    return 0
