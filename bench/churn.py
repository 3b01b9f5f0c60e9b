"""Long connection churn and reconnect storm by hand (the CI versions are in
tests/integration/test_faults_churn.py): success rate and time until 99 % and 100 % of the
clients are back, printed for docs/reliability.md.

Usage (from the project root)::

    .venv/bin/python -m bench.churn                       # 10,000 cycles, 2,000 clients
    .venv/bin/python -m bench.churn --cycles 500 --clients 200
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from tests.conftest import ADMIN, started_bridge
from tests.integration.api_client import Api
from tests.integration.test_faults_churn import ENV, churn, storm


async def run(cycles: int, clients: int) -> None:
    bridge = started_bridge(Path(tempfile.mkdtemp(prefix="fb-churn-")), **ENV)
    try:
        api = Api(bridge.url, *ADMIN)
        farm = api.farm("churn")["id"]
        ok, took_s = await churn(bridge.url, api.token, farm, cycles)
        share = 100 * ok / cycles
        print(f"churn: {ok}/{cycles} cycles succeeded ({share:.2f} %) in {took_s:.1f} s")
        result = await storm(bridge, api.token, farm, clients)
        back = len(result.back_s)
        print(
            f"storm: {back}/{clients} back ({100 * back / clients:.2f} %);"
            f" 99 % after {result.until(0.99, clients)} s,"
            f" 100 % after {result.until(1.0, clients)} s"
        )
        api.close()
    finally:
        bridge.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=2_000)
    args = parser.parse_args()
    asyncio.run(run(args.cycles, args.clients))


if __name__ == "__main__":
    main()
