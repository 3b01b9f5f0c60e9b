"""The deployment examples name only real settings and the CLI's own options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from farmbridge.cli import cli
from farmbridge.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = [ROOT / "deploy" / n for n in ("farmbridge@.service", "farmbridge.env", "nginx.conf")]
DOCS = [ROOT / "docs" / "deployment.md"]


def setting_names(text: str) -> set[str]:
    return {m.lower() for m in re.findall(r"FARMBRIDGE_([A-Z0-9_]+)", text)}


def test_every_setting_the_deployment_files_name_exists() -> None:
    known = set(Settings.model_fields)
    for path in DEPLOY + DOCS:
        names = setting_names(path.read_text())
        assert names, f"{path.name} names no setting"
        assert names <= known, f"{path.name}: no such setting {sorted(names - known)}"


def test_the_env_file_parses_as_settings() -> None:
    settings = Settings(_env_file=ROOT / "deploy" / "farmbridge.env")  # type: ignore[call-arg]
    assert settings.mqtt_share_group == "farmbridge"
    assert settings.resolved_database_url.startswith("postgresql://")
    assert settings.trusted_proxies


def test_the_unit_runs_the_cli_with_its_own_options() -> None:
    unit = (ROOT / "deploy" / "farmbridge@.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart=").replace("%i", "8001"))
    assert argv[0].endswith("/farmbridge")
    help_text = CliRunner().invoke(cli, [argv[1], "--help"]).output
    for option in (a for a in argv[2:] if a.startswith("--")):
        assert option in help_text, f"farmbridge {argv[1]} has no {option}"
