"""docs/design.md's package table and the import contracts in pyproject.toml say the same."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "farmbridge"
ANYTHING = "everything"
NOTHING = "nothing of ours"


def _top_level_modules() -> set[str]:
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    names |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    return names


def _table() -> dict[str, set[str] | None]:
    """Package -> what it may import (None: anything), from the design's package table."""
    text = (ROOT / "docs" / "design.md").read_text()
    head = text.index("| package | holds | may import |")
    rows: dict[str, set[str] | None] = {}
    for line in text[head:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        packages, may = re.findall(r"`([\w]+)`", cells[0]), cells[-1]
        allowed = None if may == ANYTHING else set(re.findall(r"`([\w]+)`", may))
        assert allowed is None or allowed or may == NOTHING, line
        for name in packages:
            rows[name] = allowed
    return rows


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    return {c["name"]: c for c in contracts}


def test_design_table_names_every_top_level_module() -> None:
    """Every module and package directly under farmbridge has a row, and no row is stale."""
    assert set(_table()) == _top_level_modules()


def test_design_table_rows_are_the_import_contracts() -> None:
    """Each row that limits its imports has a contract forbidding exactly the rest."""
    everything = _top_level_modules()
    contracts = _contracts()
    for name, allowed in _table().items():
        if allowed is None:
            continue
        matching = [c for n, c in contracts.items() if n.startswith(f"{name} imports only: ")]
        assert len(matching) == 1, f"no single contract for {name}"
        contract = matching[0]
        assert contract["type"] == "forbidden"
        assert contract["source_modules"] == [f"farmbridge.{name}"]
        forbidden = {m.removeprefix("farmbridge.") for m in contract["forbidden_modules"]}
        assert forbidden == everything - allowed - {name}, name
