"""The bridge end to end over HTTP: ingest a reading, read it back."""

from __future__ import annotations

import time

from tests.conftest import Bridge, unique
from tests.integration.api_client import Api, ingest


def test_ingest_then_query_round_trip(shared_bridge: Bridge, shared_admin: Api) -> None:
    """A reading ingested over HTTP shows in raw readings, buckets and the snapshot."""
    bridge, api = shared_bridge, shared_admin
    farm = api.farm(unique("smoke"))
    dev = api.device(farm["id"], "node-1")
    now = int(time.time() * 1000)
    r = ingest(bridge.url, dev["key"], {"readings": [{"sensor": "temp", "value": 21.5, "ts": now}]})
    assert r.status_code == 200, r.text
    # seq 1 is the device's online status, stored with its first data.
    assert r.json() == {"accepted": 1, "first_seq": 2, "last_seq": 2, "duplicate": False}
    sensor_id = dev["sensors"][0]["id"]
    rows = api.ok("GET", f"/api/v1/sensors/{sensor_id}/readings")
    assert [(x["value"], x["ts_ms"], x["seq"]) for x in rows] == [(21.5, now, 2)]
    snap = api.ok("GET", f"/api/v1/farms/{farm['id']}/snapshot")
    assert snap["farm"]["last_seq"] == 2
    assert snap["sensors"][0]["last_value"] == 21.5
    status = snap["devices"][0]["status"]
    assert (status["state"], status["seq"]) == ("online", 1)
    buckets = api.ok("GET", f"/api/v1/sensors/{sensor_id}/buckets", params={"bucket_s": 60})
    assert [(b["count"], b["avg"]) for b in buckets] == [(1, 21.5)]
