"""Long schemathesis run over the bridge's OpenAPI document: every 5xx and every status
the document does not declare, printed with a curl line to reproduce it.

Not a test: it prints what it finds and exits 1 when there are failures. It starts its own
bridge (throw-away data dir, the bench admin logged in) and runs schemathesis's examples,
coverage and fuzzing phases over every operation but the two that would revoke its own
token (`POST /api/v1/auth/revoke`, `POST /api/v1/users/{user_id}/revoke-tokens`).
The short CI version is tests/integration/test_faults_openapi.py.

Usage (from the project root)::

    .venv/bin/python -m bench.fuzz_api                       # 200 cases per operation
    .venv/bin/python -m bench.fuzz_api --cases 2000 --seed 7
    .venv/bin/python -m bench.fuzz_api --checks not_a_server_error   # 5xx only
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from typing import Final

from bench.harness import Admin, Bridge

DEFAULT_CASES: Final = 200
DEFAULT_CHECKS: Final = "not_a_server_error,status_code_conformance"
SELF_REVOKING_PATHS: Final = r"/auth/revoke|/revoke-tokens"
_FAILURE_HEADING: Final = re.compile(r"^_{3,} (\w+ \S+) _{3,}$", re.MULTILINE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help="per operation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--checks", default=DEFAULT_CHECKS)
    parser.add_argument("--workers", default="2")
    args = parser.parse_args()

    # The login limit would answer 429 to the generated logins and hide what they reach.
    with Bridge(env={"FARMBRIDGE_LOGIN_RATE_PER_MIN": "600000"}) as bridge:
        admin = Admin(bridge.url)
        started = time.monotonic()
        run = subprocess.run(
            [
                sys.executable, "-m", "schemathesis.cli", "run", f"{bridge.url}/openapi.json",
                "--header", f"Authorization: Bearer {admin.token}",
                "--checks", args.checks,
                "--max-examples", str(args.cases),
                "--seed", str(args.seed),
                "--workers", args.workers,
                "--phases", "examples,coverage,fuzzing",
                "--exclude-path-regex", SELF_REVOKING_PATHS,
                "--continue-on-failure",
                "--request-timeout", "30",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        elapsed_s = time.monotonic() - started
        admin.close()
    print(run.stdout)
    print(run.stderr, file=sys.stderr)
    failing = sorted(set(_FAILURE_HEADING.findall(run.stdout)))
    print(f"fuzz_api: {len(failing)} operations with failures in {elapsed_s:.0f} s")
    for operation in failing:
        print(f"  {operation}")
    sys.exit(1 if run.returncode else 0)


if __name__ == "__main__":
    main()
