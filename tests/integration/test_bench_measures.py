"""The bench suite's measures (polling, wire, memory, connect, reconnect) run at their ci
size against real bridges and return the suite's result dict; figures are checked for
sense, never for speed."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from bench import connect, memory, polling, reconnect, wire

PLOT_KINDS = {"line", "hist", "bar"}


def _check_contract(res: dict[str, Any], name: str) -> None:
    """Every key of the contract is there with the right shape, and it is JSON."""
    assert res["name"] == name
    assert isinstance(res["title"], str)
    assert res["title"]
    json.dumps(res)
    assert res["tables"]
    for t in res["tables"]:
        assert t["rows"]
        assert all(len(row) == len(t["columns"]) for row in t["rows"])
    for p in res["plots"]:
        assert p["file"].endswith(".png")
        assert p["kind"] in PLOT_KINDS
        assert {"title", "xlabel", "ylabel"} <= p.keys()
        assert p["series"]
        for points in p["series"].values():
            if p["kind"] == "hist":
                assert all(isinstance(v, float | int) for v in points)
            else:
                assert all(len(point) == 2 for point in points)
    assert res["figures"]
    assert all(math.isfinite(v) for v in res["figures"].values())
    assert res["verdicts"]
    assert all(isinstance(v, str) for v in res["verdicts"])
    assert res["commands"]
    assert all(c.startswith("python -m bench.") for c in res["commands"])


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_polling_ci_both_modes_deliver_every_reading() -> None:
    """Polling and streaming each show (or, for polling, overwrite) every reading sent in
    the window, none lost, and both cost positive bytes and CPU."""
    res = polling.run("ci")
    _check_contract(res, "polling")
    figs = res["figures"]
    for rate in polling.SIZES["ci"].rates_s:
        for mode in ("polling", "streaming"):
            key = f"r{rate:g}s.{mode}"
            assert figs[f"{key}.readings_sent"] > 0
            assert figs[f"{key}.readings_lost"] == 0
            seen = figs[f"{key}.readings_shown"] + figs[f"{key}.readings_skipped"]
            assert seen == figs[f"{key}.readings_sent"]
            assert figs[f"{key}.wire_kib_per_min"] > 0
            assert figs[f"{key}.server_cpu_s_per_min"] > 0
        assert figs[f"r{rate:g}s.streaming.readings_skipped"] == 0


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_wire_ci_batches_cost_less_per_reading() -> None:
    """Every batch size is measured plain and deflated, each with positive bytes and CPU,
    and a batch of 100 costs fewer wire bytes per reading than a lone reading."""
    res = wire.run("ci")
    _check_contract(res, "wire")
    figs = res["figures"]
    for mode in ("plain", "deflate"):
        for batch in wire.BATCHES:
            assert figs[f"batch{batch}.{mode}.wire_bytes_per_reading"] > 0
            assert figs[f"batch{batch}.{mode}.cpu_us_per_delivery"] > 0
        lone = figs[f"batch1.{mode}.wire_bytes_per_reading"]
        assert figs[f"batch100.{mode}.wire_bytes_per_reading"] < lone
    assert not any("NOT negotiated" in v for v in res["verdicts"])


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_memory_ci_every_connection_costs_memory() -> None:
    """At each connection count the bridge's RSS is measured and positive."""
    res = memory.run("ci")
    _check_contract(res, "memory")
    for n in memory.SIZES["ci"]:
        assert res["figures"][f"c{n}.rss_mb"] > 0


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_connect_ci_attempts_subscribe() -> None:
    """The bursts of attempts under ingest load subscribe, with positive times."""
    res = connect.run("ci")
    _check_contract(res, "connect")
    figs = res["figures"]
    assert 0 < figs["success_pct"] <= 100
    assert 0 < figs["subscribed_p50_ms"] <= figs["subscribed_p99_ms"]
    assert figs["ingest_readings_per_s"] > 0


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_reconnect_ci_no_change_lost_or_doubled() -> None:
    """After SIGTERM and SIGKILL every client is back and resumed, and no change is lost
    or yielded twice."""
    res = reconnect.run("ci")
    _check_contract(res, "reconnect")
    figs = res["figures"]
    clients = reconnect.SIZES["ci"].clients
    for how in ("sigterm", "sigkill"):
        assert figs[f"{how}.resumed_clients"] == clients
        assert 0 < figs[f"{how}.resumed_99_s"] <= figs[f"{how}.resumed_100_s"]
    assert figs["lost_changes"] == 0
    assert figs["duplicated_changes"] == 0
    assert figs["changes_checked"] > 0
