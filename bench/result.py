"""A measure's result dict (the suite's contract, bench/suite.py) and running one measure alone."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

Run = Callable[[str], dict[str, Any]]


def result(
    name: str,
    title: str,
    *,
    tables: list[dict[str, Any]],
    plots: list[dict[str, Any]],
    figures: dict[str, float],
    verdicts: list[str],
    commands: list[str],
) -> dict[str, Any]:
    """The contract's dict; non-finite figures are dropped (JSON has no NaN)."""
    return {
        "name": name,
        "title": title,
        "tables": tables,
        "plots": plots,
        "figures": {k: float(v) for k, v in figures.items() if math.isfinite(float(v))},
        "verdicts": verdicts,
        "commands": commands,
    }


def table(title: str, columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"title": title, "columns": columns, "rows": rows}


def cell(value: float, digits: int = 1) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:,.{digits}f}"


def show(res: dict[str, Any]) -> None:
    """Prints the tables and verdicts of a result."""
    print(f"\n# {res['title']}")
    for t in res["tables"]:
        cols = t["columns"]
        rows = [[str(c) for c in r] for r in t["rows"]]
        widths = [max(len(str(c)), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        print(f"\n## {t['title']}")
        print("  ".join(str(c).rjust(w) for c, w in zip(cols, widths, strict=True)))
        for r in rows:
            print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    if res["verdicts"]:
        print()
        for v in res["verdicts"]:
            print(f"- {v}")


def main(run: Run, doc: str) -> None:
    """`python -m bench.X [--ci] [--json FILE]`: runs one measure and prints its tables."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--ci", action="store_true", help="the tiny configuration (< 60 s)")
    parser.add_argument("--json", type=Path, help="also write the result dict here")
    args = parser.parse_args()
    res = run("ci" if args.ci else "full")
    show(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
