"""The benchmark suite: one command measures the origin plan's promises side by side.

Runs each measurement module of MODULES in order (each exposes `run(size) -> dict`, the
contract in bench/README.md), writes one JSON file with the machine and every module's
result, draws the plots (PNG) next to it, prints every table and regenerates the docs page
from the JSON. A module that is not there is reported loudly and listed as missing; a
module that fails is recorded with its error and the suite exits non-zero.

    make bench                                        # the full suite, into docs/
    PYTHONPATH=src:. .venv/bin/python -m bench.suite --ci --out /tmp/bench   # the CI size
    PYTHONPATH=src:. .venv/bin/python -m bench.suite --only latency,scale
    PYTHONPATH=src:. .venv/bin/python -m bench.suite --compare docs/benchmarks/bench.json
    PYTHONPATH=src:. .venv/bin/python -m bench.suite --from-json RUN.json --compare OLD.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import psutil

from bench import plots, report

MODULES = ["latency", "wire", "polling", "connect", "reconnect", "memory", "scale"]
"""Run in this order: the short, load-free measures first, the long scale curve last."""
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "benchmarks"
DEFAULT_DOCS = ROOT / "docs" / "benchmarks.md"
JSON_NAME = "bench.json"


def machine() -> dict[str, Any]:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break

    def git(*args: str) -> str:
        r = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "?"
    if git("status", "--porcelain", "--untracked-files=no", "src"):
        commit += " (src modified)"
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit,
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def run_modules(names: list[str], size: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Each module's result (or its error), and the names of the modules not present."""
    results: list[dict[str, Any]] = []
    missing: list[str] = []
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"bench.{name}":
                raise
            print(f"\n!!! module {name} not present (bench/{name}.py): not measured", flush=True)
            missing.append(name)
            continue
        print(f"\n=== {name} ({size}) ===", flush=True)
        t0 = time.monotonic()
        try:
            res = module.run(size)
        except Exception as e:  # one module's failure must not lose the others' figures
            traceback.print_exc()
            print(f"\n!!! module {name} failed: {e!r}", flush=True)
            res = {"name": name, "title": name, "error": repr(e), "tables": [], "plots": []}
            res |= {"figures": {}, "verdicts": [], "commands": []}
        res["seconds"] = round(time.monotonic() - t0, 1)
        print(report.text_tables(res), flush=True)
        results.append(res)
    return results, missing


_NUMBERS = re.compile(r"\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]")


def dump(run: dict[str, Any]) -> str:
    """Indented JSON with each list of numbers on one line (plot samples stay compact)."""
    text = json.dumps(run, indent=1)
    return _NUMBERS.sub(lambda m: "[" + re.sub(r"\s+", "", m.group(1)) + "]", text)


def compare(new: dict[str, Any], old: dict[str, Any]) -> list[tuple[str, str, float, float, float]]:
    """(module, figure, old, new, new/old) for every figure both runs have."""
    olds = {m["name"]: m.get("figures", {}) for m in old.get("modules", [])}
    out = []
    for m in new.get("modules", []):
        before = olds.get(m["name"], {})
        for key, value in m.get("figures", {}).items():
            if key in before:
                r = value / before[key] if before[key] else (1.0 if value == 0 else math.inf)
                out.append((m["name"], key, before[key], value, r))
    return out


def print_compare(rows: list[tuple[str, str, float, float, float]], old_name: str) -> None:
    print(f"\n# Compared with {old_name} (ratio = new / old)")
    width = max((len(f"{m} {k}") for m, k, *_ in rows), default=10)
    print(f"{'figure':<{width}}  {'old':>12}  {'new':>12}  {'ratio':>7}")
    for m, k, a, b, r in rows:
        print(f"{f'{m} {k}':<{width}}  {a:>12.4g}  {b:>12.4g}  {r:>7.2f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--ci", action="store_true", help="the small, fast configuration")
    p.add_argument("--only", help="comma-separated module names (default: all)")
    p.add_argument("--out", type=Path, help=f"JSON and plots here (default {DEFAULT_OUT})")
    p.add_argument(
        "--docs",
        type=Path,
        help="the page to regenerate (default: docs/benchmarks.md, "
        "or OUT/benchmarks.md with --out)",
    )
    p.add_argument("--compare", type=Path, metavar="OLD.json", help="ratios to an earlier run")
    p.add_argument("--from-json", type=Path, help="use this run's JSON instead of running")
    args = p.parse_args(argv)
    out: Path = args.out or DEFAULT_OUT
    docs: Path = args.docs or (out / "benchmarks.md" if args.out else DEFAULT_DOCS)
    out.mkdir(parents=True, exist_ok=True)
    if args.from_json:
        run = json.loads(args.from_json.read_text())
    else:
        names = args.only.split(",") if args.only else MODULES
        unknown = [n for n in names if n not in MODULES]
        if unknown:
            p.error(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(MODULES)}")
        size = "ci" if args.ci else "full"
        started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        info = machine()
        t0 = time.monotonic()
        modules, missing = run_modules(names, size)
        run = {
            "suite": 1,
            "size": size,
            "date": started,
            "seconds": round(time.monotonic() - t0, 1),
            "command": " ".join(["python -m bench.suite", *(argv or sys.argv[1:])]),
            "machine": info,
            "listed": MODULES,
            "missing": missing,
            "modules": modules,
            "json_name": JSON_NAME,
        }
        (out / JSON_NAME).write_text(dump(run))
        print(f"\nwrote {out / JSON_NAME}")
    for res in run["modules"]:
        for path in plots.draw_all(res, out):
            print(f"wrote {path}")
    print(f"wrote {report.write_docs(run, docs, out)}")
    for name in run.get("missing", []):
        print(f"!!! module {name} not present: not measured")
    if args.compare:
        print_compare(compare(run, json.loads(args.compare.read_text())), str(args.compare))
    failed = [m["name"] for m in run["modules"] if m.get("error")]
    if failed:
        print(f"!!! failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
