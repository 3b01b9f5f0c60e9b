"""The live figures of a real bridge over /ws: an admin watches them move as clients connect,
read, drop and resume; a viewer is refused."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import Bridge, unique
from tests.integration.api_client import Api, ingest
from tests.integration.test_ws import login
from tests.integration.ws_probe import Probe

GUARD_S = 60.0
"""A bound for a broken build, not a timing assertion: every wait is on a condition."""


async def stats_watcher(bridge: Bridge, token: str) -> tuple[Probe, dict[str, Any]]:
    probe = await Probe.open(bridge.url)
    await probe.auth(token)
    await probe.send({"type": "subscribe_stats", "id": "w"})
    return probe, await probe.expect("stats")


async def slots_until(probe: Probe, slots: list[dict[str, Any]], done: Any) -> None:
    """Adds each slot pushed to `slots` until `done(slots, last message)` holds."""
    deadline = time.monotonic() + GUARD_S
    while True:
        msg = await probe.expect("stats", max(0.01, deadline - time.monotonic()))
        assert msg["id"] is None
        slots.extend(msg["slots"])
        if done(slots, msg):
            return


@pytest.mark.bridge_env(FARMBRIDGE_WS_STATS_INTERVAL_S="0.3")
async def test_ws_stats_move_with_connects_deliveries_and_resumes(
    bridge: Bridge, admin_api: Api
) -> None:
    """The window comes first; then the pushed slots count a client's connect, its
    delivered frames (with latency), its drop and its resume, and list its farm."""
    farm = admin_api.farm(unique("stats"))
    dev = admin_api.device(farm["id"], "node")
    watcher, window = await stats_watcher(bridge, admin_api.token)
    assert window["id"] == "w"
    assert window["instance"]
    assert (window["slot_s"], window["connections"]) == (0.3, 1)

    client = await Probe.open(bridge.url)
    await client.auth(admin_api.token)
    await client.send({"type": "subscribe", "farm": farm["id"]})
    first = await client.expect("subscribed")
    now = int(time.time() * 1000)
    ingest(bridge.url, dev["key"], {"readings": [{"sensor": "temp", "value": 20.5, "ts": now}]})
    await client.readings(1)
    slots: list[dict[str, Any]] = []
    await slots_until(
        watcher,
        slots,
        lambda slots, msg: (
            sum(s["frames"] for s in slots) >= 1
            and msg["farms"].get(str(farm["id"])) == 1
            and msg["connections"] == 2
        ),
    )

    await client.close()
    again = await Probe.open(bridge.url)
    await again.auth(admin_api.token)
    await again.send(
        {"type": "subscribe", "farm": farm["id"], "since": first["seq"], "epoch": first["epoch"]}
    )
    resumed = await again.expect("subscribed")
    assert "resume" in resumed
    ingest(bridge.url, dev["key"], {"readings": [{"sensor": "temp", "value": 21.5, "ts": now + 1}]})
    await again.readings(1)
    await slots_until(
        watcher,
        slots,
        lambda slots, _: (
            sum(s["connects"] for s in slots) >= 2
            and sum(s["disconnects"] for s in slots) >= 1
            and sum(s["resumes"] for s in slots) >= 1
            and sum(s["frames"] for s in slots) >= 2
        ),
    )
    timed = [s for s in slots if s["frames"]]
    assert all(0 <= s["p50"] <= s["p99"] for s in timed)
    assert all(s["p50"] is None and s["p99"] is None for s in slots if not s["frames"])
    await again.close()

    # A watcher that comes later gets the window of what happened before it.
    late, late_window = await stats_watcher(bridge, admin_api.token)
    history = late_window["slots"]
    assert sum(s["resumes"] for s in history) >= 1
    assert [s["t"] for s in history] == sorted(s["t"] for s in history)
    await late.send({"type": "unsubscribe_stats", "id": 2})
    ended = await late.expect("stats_unsubscribed")
    assert (ended["id"], ended["reason"]) == (2, "requested")
    await late.close()
    await watcher.close()


async def test_ws_stats_refused_to_a_viewer(bridge: Bridge, admin_api: Api) -> None:
    """A farm's viewer asking for the live figures gets `forbidden` and no figures; its
    socket and farm stream carry on."""
    farm = admin_api.farm(unique("viewer-stats"))
    viewer = unique("viewer")
    admin_api.user(viewer, "viewer-password", farm["id"], "viewer")
    probe = await Probe.open(bridge.url)
    await probe.auth(login(bridge.url, viewer, "viewer-password"))
    await probe.send({"type": "subscribe_stats", "id": 5})
    err = await probe.recv()
    assert (err["type"], err["code"], err["id"]) == ("error", "forbidden", 5)
    await probe.send({"type": "subscribe", "farm": farm["id"], "id": 6})
    assert (await probe.expect("subscribed"))["id"] == 6
    await probe.close()
