"""schemathesis over the bridge's OpenAPI document, against a real bridge: no 5xx.

The short CI run covers the operations without path parameters (every method, the admin
logged in; `POST /auth/revoke` left out, as it would end the run's own token). The long
run over every operation, with the status-code check too, is `bench/fuzz_api.py`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from tests.conftest import Bridge
from tests.integration.api_client import Api

CASES_PER_OPERATION: Final = 15
SEED: Final = 1
RUN_TIMEOUT_S: Final = 300
# Revoking tokens, changing a password or deleting a user (the admin is user 1) would
# end the run's own token.
EXCLUDED_PATHS: Final = r"/auth/revoke|/password|/revoke-tokens|/users/\{user_id\}$"


def schemathesis_run(
    url: str, token: str, *args: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Runs `schemathesis run` on the bridge's OpenAPI document as `token`, in `cwd`
    (schemathesis keeps a cache of what it found there: never in the working tree)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--no-color",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        cwd=cwd,
    )


@pytest.mark.timeout(RUN_TIMEOUT_S + 30)  # the run's own bound, not pytest's 120 s default
def test_openapi_operations_answer_no_server_error_and_only_documented_statuses(
    bridge: Bridge, admin_api: Api
) -> None:
    """Generated requests to every operation get no 5xx and only the statuses it documents."""
    run = schemathesis_run(
        bridge.url,
        admin_api.token,
        "--checks",
        "not_a_server_error,status_code_conformance",
        "--max-examples",
        str(CASES_PER_OPERATION),
        "--phases",
        "examples,coverage,fuzzing",
        "--exclude-path-regex",
        EXCLUDED_PATHS,
        cwd=bridge.data_dir,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Tested:" in run.stdout, run.stdout[-2000:]
    assert " passed" in run.stdout, run.stdout[-2000:]
    assert admin_api.http.get("/api/v1/me").status_code == 200, "the run's token was revoked"
