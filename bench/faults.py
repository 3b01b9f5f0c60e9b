"""Long fault runs by hand: the bridge SIGKILLed and restarted N times mid-stream.

Not a test: it prints figures (recovery time per restart, acknowledged readings, readings
lost or stored twice, per client the seqs missed and the repeats after a resume) and exits
1 when a promise broke. The short CI version is tests/integration/test_faults_restart.py;
figures are recorded in docs/reliability.md.

Usage (from the project root)::

    .venv/bin/python -m bench.faults                        # 20 restarts, 3 clients
    .venv/bin/python -m bench.faults --restarts 50 --clients 10
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

from tests.integration.test_faults_restart import kill_restart_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--restarts", type=int, default=20)
    parser.add_argument("--clients", type=int, default=3)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="fb-faults-"))
    f = asyncio.run(kill_restart_scenario(data_dir, args.restarts, args.clients))
    recover = sorted(f.recover_s)
    print(
        f"restarts: {f.restarts}  acked readings: {len(f.acked_seqs)}  refused posts: "
        f"{f.refused_posts}"
    )
    print(
        f"recover s (kill to ready): median {statistics.median(recover):.2f}"
        f"  max {recover[-1]:.2f}  all {[round(s, 2) for s in f.recover_s]}"
    )
    print(f"store: lost {len(f.lost_in_store)}  stored twice {len(f.stored_twice)}")
    broken = bool(f.lost_in_store or f.stored_twice)
    for c in range(args.clients):
        missed, repeats = f.missed(c), f.repeats(c)
        print(
            f"client {c}: delivered {len(f.delivered[c])}  missed {len(missed)}  repeats {repeats}"
        )
        broken |= bool(missed or repeats)
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
