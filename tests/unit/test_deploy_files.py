"""The deployment examples name only real settings and the CLI's own options."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from farmbridge.cli import cli
from farmbridge.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = [
    ROOT / "deploy" / n
    for n in ("farmbridge@.service", "farmbridge.env", "nginx.conf", "compose.yaml")
]
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


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    return loaded


def test_the_compose_instances_share_the_truth_and_differ_in_their_mqtt_session() -> None:
    services = _compose()["services"]
    bridges = {n: s for n, s in services.items() if n.startswith("farmbridge-")}
    assert len(bridges) >= 2
    envs = [s["environment"] for s in bridges.values()]
    for name in ("SECRET_KEY", "DATABASE_URL", "BACKPLANE_URL", "MQTT_URL", "MQTT_SHARE_GROUP"):
        assert len({e[f"FARMBRIDGE_{name}"] for e in envs}) == 1, name
    assert len({e["FARMBRIDGE_MQTT_CLIENT_ID"] for e in envs}) == len(envs)
    assert all(e["FARMBRIDGE_DATABASE_URL"].startswith("postgresql://") for e in envs)
    assert set(json.loads(envs[0]["FARMBRIDGE_TRUSTED_PROXIES"]))
    for service in ("postgres", "redis", "mosquitto", "nginx"):
        assert service in services
    # nginx balances over exactly the compose file's instances, on the image's port.
    upstream = (ROOT / "deploy" / "nginx-compose.conf").read_text()
    servers = set(re.findall(r"server (farmbridge-\d+):8000", upstream))
    assert servers == set(bridges)


def test_the_image_runs_the_cli_with_its_own_options_from_files_that_exist() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    cmd = json.loads(next(line for line in dockerfile.splitlines() if line.startswith("CMD "))[4:])
    assert cmd[:2] == ["farmbridge", "serve"]
    help_text = CliRunner().invoke(cli, ["serve", "--help"]).output
    for option in (a for a in cmd[2:] if a.startswith("--")):
        assert option in help_text, f"farmbridge serve has no {option}"
    assert "--port 8000" in " ".join(cmd)
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            *sources, _dest = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is missing"
