"""The benchmark suite's CI configuration: one run of `python -m bench.suite --ci` proves the
suite works end to end (every module's figures in the JSON, valid PNG plots, the generated
page naming them, `--compare` printing ratios). Nothing here asserts a speed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import pytest
from bench import report, suite

ROOT: Final = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S: Final = 600.0
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"


def _suite(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    return subprocess.run(
        [sys.executable, "-m", "bench.suite", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    done = _suite("--ci", "--out", str(out))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return out, json.loads((out / suite.JSON_NAME).read_text()), done.stdout


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_bench_suite_ci_run_has_every_present_modules_figures(
    ci_run: tuple[Path, dict[str, Any], str],
) -> None:
    """Every module whose file exists ran and left figures; the others are named missing."""
    _, run, stdout = ci_run
    present = [m for m in suite.MODULES if (ROOT / "bench" / f"{m}.py").exists()]
    assert run["missing"] == [m for m in suite.MODULES if m not in present]
    for name in run["missing"]:
        assert f"module {name} not present" in stdout
    assert [m["name"] for m in run["modules"]] == present
    for m in run["modules"]:
        assert "error" not in m, m.get("error")
        assert m["figures"], m["name"]
        assert all(isinstance(v, float) for v in m["figures"].values())
        assert m["tables"], m["name"]
        assert all(t["rows"] for t in m["tables"]), m["name"]
    for key in ("cpu_model", "cores", "ram_gib", "kernel", "python", "commit"):
        assert run["machine"][key]


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_bench_suite_ci_run_draws_valid_pngs_the_page_names(
    ci_run: tuple[Path, dict[str, Any], str],
) -> None:
    """Each plot is a PNG file with its signature, and the generated page links every one."""
    out, run, _ = ci_run
    page = (out / "benchmarks.md").read_text()
    files = [p["file"] for m in run["modules"] for p in m["plots"]]
    assert files
    for name in files:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert f"]({name})" in page or f"/{name})" in page, name
    for m in run["modules"]:
        assert f"(`{m['name']}`)" in page
    assert "Generated" in page
    assert report.HAND_BEGIN in page


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_bench_suite_compare_against_itself_prints_ratios_of_one(
    ci_run: tuple[Path, dict[str, Any], str],
) -> None:
    """`--compare` with the same run prints every figure with the ratio 1.00."""
    out, run, _ = ci_run
    own = str(out / suite.JSON_NAME)
    done = _suite("--from-json", own, "--compare", own, "--out", str(out))
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.split("# Compared with", 1)[1].splitlines()[2:]
    ratios = [line.split()[-1] for line in lines if line.strip()]
    expected = sum(len(m["figures"]) for m in run["modules"])
    assert len(ratios) == expected
    assert set(ratios) == {"1.00"}


def test_bench_report_keeps_hand_written_section_when_regenerated(tmp_path: Path) -> None:
    """Text between the hand-written markers survives a regeneration of the page."""
    run = {
        "date": "2026-01-01 00:00 UTC",
        "machine": {"commit": "abc"},
        "modules": [
            {"name": "x", "title": "X", "tables": [], "plots": [], "figures": {}, "verdicts": []}
        ],
    }
    docs = tmp_path / "benchmarks.md"
    docs.write_text(f"old\n{report.HAND_BEGIN}\nkeep this note\n{report.HAND_END}\n")
    report.write_docs(run, docs, tmp_path / "plots")
    page = docs.read_text()
    assert "keep this note" in page
    assert "old\n" not in page
    assert re.search(r"## X \(`x`\)", page)
