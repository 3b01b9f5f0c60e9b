"""Draws a module's plots (the contract's "plots" entries) as PNG files, headless (Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after use(): the backend is chosen first


def draw(plot: dict[str, Any], out_dir: Path) -> Path:
    """One plot: "line" ([[x, y], ...] per label), "hist" ([v, ...]) or "bar" ([[cat, y]])."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=100)
    series: dict[str, Any] = plot.get("series", {})
    kind = plot.get("kind", "line")
    if kind == "line":
        for label, points in series.items():
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o" if len(points) < 30 else None, ms=3, label=label)
        if plot.get("logx"):
            ax.set_xscale("log")
    elif kind == "hist":
        data = {k: v for k, v in series.items() if v}
        if data:
            ax.hist(list(data.values()), bins=40, label=list(data.keys()), histtype="step")
    elif kind == "bar":
        labels = list(series)
        cats = list(dict.fromkeys(c for pts in series.values() for c, _ in pts))
        width = 0.8 / max(1, len(labels))
        for i, label in enumerate(labels):
            values = dict(series[label])
            ax.bar(
                [j + i * width for j in range(len(cats))],
                [values.get(c, 0) for c in cats],
                width,
                label=label,
            )
        ax.set_xticks([j + width * (len(labels) - 1) / 2 for j in range(len(cats))], cats)
    else:
        raise ValueError(f"unknown plot kind {kind!r}")
    ax.set_title(plot.get("title", ""))
    ax.set_xlabel(plot.get("xlabel", ""))
    ax.set_ylabel(plot.get("ylabel", ""))
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / plot["file"]
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def draw_all(result: dict[str, Any], out_dir: Path) -> list[Path]:
    return [draw(p, out_dir) for p in result.get("plots", [])]
