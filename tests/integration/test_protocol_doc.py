"""docs/protocol.md against a live bridge: every documented message has the live shape."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from farmbridge.protocol.client_messages import parse
from farmbridge.protocol.const import CLIENT_MESSAGE_TYPES, CloseCode, ErrorCode
from tests.conftest import Bridge, unique
from tests.integration.api_client import Api, ingest
from tests.integration.ws_probe import Probe

DOC = Path(__file__).parents[2] / "docs" / "protocol.md"
CLIENT_TYPES = CLIENT_MESSAGE_TYPES


def documented_messages() -> list[dict[str, Any]]:
    text = DOC.read_text()
    out: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    for block in re.findall(r"```json\n(.*?)```", text, flags=re.S):
        i = 0
        while i < len(block):
            if block[i] in " \n":
                i += 1
                continue
            obj, i = decoder.raw_decode(block, i)
            out.append(obj)
    return out


def test_protocol_doc_client_examples_parse() -> None:
    """Every client message in the doc is accepted by the server's parser."""
    examples = [m for m in documented_messages() if m["type"] in CLIENT_TYPES and "t" not in m]
    assert {m["type"] for m in examples} == CLIENT_TYPES
    for m in examples:
        assert parse(json.dumps(m)).type == m["type"]


def test_protocol_doc_tables_list_every_code() -> None:
    """The error-code and close-code tables name every code the server can send."""
    text = DOC.read_text()
    for code in ErrorCode:
        assert f"`{code.value}`" in text, code
    for close in CloseCode:
        assert f"| {close.value} |" in text, close


async def _live_messages(bridge: Bridge, api: Api) -> list[dict[str, Any]]:
    farm = api.farm(unique("doc"))
    dev = api.device(farm["id"], "pump", kind="actuator")
    probe = await Probe.open(bridge.url)
    seen: list[dict[str, Any]] = [await probe.expect("welcome")]
    await probe.send({"type": "auth", "token": api.token, "id": 1})
    seen.append(await probe.expect("authenticated"))
    await probe.send({"type": "subscribe", "farm": farm["id"], "id": 2})
    seen.append(first := await probe.expect("subscribed"))
    now = int(time.time() * 1000)
    ingest(
        bridge.url,
        dev["key"],
        {
            "readings": [{"sensor": "temp", "value": 21.5, "ts": now}],
            "status": {"state": "online", "actuator": {"power": "on"}, "ts": now},
            "events": [{"level": "alarm", "code": "hot", "message": "too hot", "ts": now}],
        },
    )
    api.ok("POST", f"/api/v1/devices/{dev['device']['id']}/commands", json={"action": "on"})
    doomed = api.device(farm["id"], "doomed")
    api.ok("DELETE", f"/api/v1/devices/{doomed['device']['id']}")
    kinds: set[str] = set()
    # The alarm event raises a device alarm: its change ("a") streams in the event's commit.
    while kinds != {"r", "s", "e", "c", "a", "x"}:
        batch = await probe.expect("batch")
        seen.append(batch)
        kinds |= set(batch) & {"r", "s", "e", "c", "a", "x"}
    await probe.send({"type": "subscribe", "farm": farm["id"], "since": 1, "epoch": first["epoch"]})
    seen.append(await probe.expect("subscribed"))
    await probe.send({"type": "unsubscribe", "farm": farm["id"], "id": 4})
    seen.append(await probe.expect("unsubscribed"))
    await probe.send({"type": "subscribe", "farm": farm["id"], "since": 1, "epoch": "old"})
    seen.append(await probe.expect("resync_required"))
    await probe.send({"type": "subscribe_stats", "id": 8})
    seen.append(await probe.expect("stats"))
    await probe.send({"type": "unsubscribe_stats", "id": 9})
    seen.append(await probe.expect("stats_unsubscribed"))
    await probe.send({"type": "ping", "id": 5})
    seen.append(await probe.expect("pong"))
    await probe.send({"type": "subscribe", "farm": 999, "id": 6})
    seen.append(await probe.recv())
    await probe.close()
    return seen


async def test_protocol_doc_server_examples_match_live_messages(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """Each documented server message has the keys (and batch row widths) of a live one."""
    live = await _live_messages(shared_bridge, shared_admin)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for m in live:
        by_type.setdefault(m["type"], []).append(m)
    optional = {"retry_after_ms"}
    for doc in documented_messages():
        kind = doc["type"]
        if kind in CLIENT_TYPES - {"ping", "pong"} or (kind in ("ping", "pong") and "t" not in doc):
            continue
        if kind == "ping":
            continue  # the server's ping is covered by the probe answering it
        candidates = by_type.get(kind)
        assert candidates, f"documented message {kind!r} never seen live"
        keys = set(doc) - optional
        if kind == "batch":  # live batches hold some kinds each; together, all of them
            assert keys == set().union(*candidates), sorted(keys)
        else:
            assert any(keys == set(m) - optional for m in candidates), (kind, sorted(keys))
        if kind == "batch":
            widths = {k: len(rows[0]) for k, rows in doc.items() if k in "rsecx" and len(k) == 1}
            for k, width in widths.items():
                assert any(len(m[k][0]) == width for m in candidates if k in m), k
        if kind == "subscribed" and "snapshot" in doc:
            live_snap = next(m["snapshot"] for m in candidates if "snapshot" in m)
            assert set(doc["snapshot"]["devices"][0]) == set(live_snap["devices"][0])
            assert set(doc["snapshot"]["sensors"][0]) == set(live_snap["sensors"][0])
            assert set(doc["snapshot"]) == set(live_snap)
        if kind == "batch" and "a" in doc:
            live_alarm = next(m["a"][0] for m in candidates if "a" in m)
            assert set(doc["a"][0]) == set(live_alarm)
