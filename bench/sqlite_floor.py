"""The floor of durable HTTP ingest in Python: a minimal FastAPI + SQLite insert endpoint.

`POST /api/v1/ingest` with the bridge's body (`{"readings": [{"sensor", "value", "ts"}]}`)
inserts the readings into one SQLite table (WAL, `synchronous=FULL`, a commit per request,
like the bridge's durable ack) and answers 200: no auth, no validation beyond JSON, no
sequencing, no fan-out. bench/latency.py drives it with the bridge's ingest load, so the
bridge's ingest figures are also ratios to it.

    python bench/sqlite_floor.py --port 9100 --db /tmp/floor.db
"""

from __future__ import annotations

import argparse
import sqlite3
import threading

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response


def app(db: str) -> FastAPI:
    conn = sqlite3.connect(db, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS readings (sensor TEXT, value REAL, ts INTEGER)")
    lock = threading.Lock()
    api = FastAPI()

    @api.post("/api/v1/ingest")
    async def ingest(request: Request) -> Response:
        body = orjson.loads(await request.body())
        rows = [(r["sensor"], r["value"], r.get("ts")) for r in body["readings"]]
        # The insert and its fsync block the loop, as a minimal endpoint's would.
        with lock:
            conn.executemany("INSERT INTO readings VALUES (?, ?, ?)", rows)
            conn.commit()
        return Response(b'{"accepted":%d}' % len(rows), media_type="application/json")

    @api.get("/readyz")
    async def ready() -> dict[str, bool]:
        return {"ok": True}

    return api


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--db", required=True)
    args = p.parse_args()
    uvicorn.run(app(args.db), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
