"""The suite's results as text: the contract's shapes, tables for the terminal, docs/benchmarks.md.

`render` turns one suite JSON (bench/suite.py) into the generated page; `write_docs` puts
it into docs/benchmarks.md, keeping whatever stands between the HAND_BEGIN and HAND_END
markers as it was (hand-written notes survive a regeneration).

    python -m bench.report RUN.json [--docs docs/benchmarks.md] [--plots-dir docs/benchmarks]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

HAND_BEGIN = "<!-- hand-written: kept between regenerations -->"
HAND_END = "<!-- end of hand-written -->"
COMMAND = "make bench  # or: python -m bench.suite --out docs/benchmarks"


def progress(message: str) -> None:
    """A timestamped line, so a long run shows where it is and where the time goes."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def cell(value: float | int | None, digits: int = 1) -> str:
    """A table cell: thousands separated, '-' for a missing or non-finite figure."""
    if value is None or not math.isfinite(float(value)):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def table(title: str, columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"title": title, "columns": columns, "rows": [[str(c) for c in r] for r in rows]}


def figures(values: dict[str, float | int | None]) -> dict[str, float]:
    """The flat figures, without the missing and non-finite ones (JSON has no NaN)."""
    out = {}
    for k, v in values.items():
        if v is not None and math.isfinite(float(v)):
            out[k] = round(float(v), 4)
    return out


def ratio(a: float, b: float) -> float:
    return a / b if b and math.isfinite(a) and math.isfinite(b) else float("nan")


def text_tables(res: dict[str, Any]) -> str:
    """A module's tables and verdicts as aligned plain text, for the terminal."""
    out = [f"\n# {res.get('title', res.get('name'))}"]
    for t in res.get("tables", []):
        cols = [str(c) for c in t["columns"]]
        rows = [[str(c) for c in r] for r in t["rows"]]
        widths = [
            max([len(c), *(len(r[i]) for r in rows if i < len(r))]) for i, c in enumerate(cols)
        ]
        out.append(f"\n## {t['title']}")
        out.append("  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True)))
        out.extend("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=False)) for r in rows)
    if res.get("verdicts"):
        out.append("")
        out.extend(f"- {v}" for v in res["verdicts"])
    return "\n".join(out)


def _md_table(t: dict[str, Any]) -> list[str]:
    def esc(c: Any) -> str:
        return str(c).replace("|", "\\|")

    lines = [f"**{t['title']}**", ""]
    lines.append("| " + " | ".join(esc(c) for c in t["columns"]) + " |")
    lines.append("| " + " | ".join("---" for _ in t["columns"]) + " |")
    lines.extend("| " + " | ".join(esc(c) for c in r) + " |" for r in t["rows"])
    return [*lines, ""]


def render(run: dict[str, Any], plots_rel: str, hand: str) -> str:
    """The generated page: the machine, the command, each module's verdicts, tables, plots."""
    m = run["machine"]
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated from the suite's JSON by bench/report.py: do not edit by hand outside",
        "     the hand-written markers; regenerate with the command below. -->",
        "",
        f"**Generated** by `{run.get('command', COMMAND)}` into "
        f"`{run.get('json_name', 'bench.json')}` "
        f"({'CI configuration' if run.get('size') == 'ci' else 'full configuration'}), "
        f"{run['date']}, commit `{m.get('commit', '?')}`. Earlier, hand-measured figures "
        "(ingest tuning, fan-out history, alarms, retention, instances) are in "
        "[benchmarks-notes.md](benchmarks-notes.md).",
        "",
        f"**Machine**: {m.get('cpu_model', '?')}, {m.get('cores', '?')} cores, "
        f"{m.get('ram_gib', '?')} GiB RAM, Linux {m.get('kernel', '?')}, "
        f"Python {m.get('python', '?')}; load average at the start {m.get('loadavg', '?')}. "
        "Servers are pinned to CPU 0 and load generators to CPU 1; on a shared machine "
        "figures move 10-30 % between runs, so compare within one run (the floors beside "
        "each figure) or with `--compare OLD.json`.",
        "",
        "```sh",
        COMMAND,
        "python -m bench.suite --only latency,scale   # some modules",
        "python -m bench.suite --compare OLD.json     # ratios to an earlier run",
        "```",
        "",
    ]
    missing = run.get("missing", [])
    if missing:
        lines += [f"**Not measured in this run** (module not present): {', '.join(missing)}.", ""]
    ran = {m["name"] for m in run["modules"]}
    skipped = [n for n in run.get("listed", []) if n not in ran and n not in missing]
    if skipped:
        lines += [f"**Not run this time** (`--only`): {', '.join(skipped)}.", ""]
    for res in run["modules"]:
        lines += [f"## {res['title']} (`{res['name']}`)", ""]
        if res.get("error"):
            lines += [f"**The module failed**: `{res['error']}`", ""]
        if res.get("verdicts"):
            lines += [f"- {v}" for v in res["verdicts"]] + [""]
        for t in res.get("tables", []):
            lines += _md_table(t)
        for p in res.get("plots", []):
            lines += [f"![{p['title']}]({plots_rel}/{p['file']})", ""]
        if res.get("commands"):
            lines += ["```sh", *res["commands"], "```", ""]
    lines += [HAND_BEGIN, hand.strip("\n"), HAND_END, ""]
    return "\n".join(lines)


def hand_written(existing: str) -> str:
    if HAND_BEGIN in existing and HAND_END in existing:
        return existing.split(HAND_BEGIN, 1)[1].split(HAND_END, 1)[0].strip("\n")
    return ""


def write_docs(run: dict[str, Any], docs: Path, plots_dir: Path) -> Path:
    old = docs.read_text() if docs.exists() else ""
    rel = os.path.relpath(plots_dir, docs.parent)
    docs.write_text(render(run, rel, hand_written(old)))
    return docs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("json", type=Path)
    p.add_argument("--docs", type=Path, default=Path("docs/benchmarks.md"))
    p.add_argument("--plots-dir", type=Path, default=Path("docs/benchmarks"))
    args = p.parse_args()
    print(write_docs(json.loads(args.json.read_text()), args.docs, args.plots_dir))


if __name__ == "__main__":
    main()
