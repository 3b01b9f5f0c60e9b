"""A webhook receiver on loopback for the notification tests: a real HTTP server (stdlib,
in a thread) that answers the statuses a test scripts and records every request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

WAIT_S: Final = 60.0
"""How long a wait for requests may take before the test fails: generous, never slept."""


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


class HookReceiver:
    """Answers each POST with the next of `statuses`, then with `then` (200 unless set)."""

    def __init__(self, statuses: list[int] | None = None, *, then: int = 200) -> None:
        self.statuses = list(statuses or [])
        self.then = then
        self.requests: list[Received] = []
        self.gate = threading.Event()
        """Answers wait until it is set (it is, unless a test clears it to hold them)."""
        self.gate.set()
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._cond:
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.then
                    receiver.requests.append(
                        Received(self.path, dict(self.headers.items()), body, status)
                    )
                    receiver._cond.notify_all()
                receiver.gate.wait(WAIT_S)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test reads `requests`, not stderr

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def answer(self, status: int) -> None:
        """From now on answer `status` (after any scripted ones)."""
        with self._cond:
            self.then = status

    def wait_for(self, count: int, timeout: float = WAIT_S) -> list[Received]:
        """Waits until `count` requests arrived; returns all of them so far."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests, not {count}")
            return list(self.requests)

    def close(self) -> None:
        self.gate.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def receiver(statuses: list[int] | None = None, *, then: int = 200) -> Iterator[HookReceiver]:
    """For fixtures: a receiver, closed after the test."""
    r = HookReceiver(statuses, then=then)
    try:
        yield r
    finally:
        r.close()


def alarm_payload(farm_id: int, farm_name: str, *, alarm_id: int = 17) -> dict[str, object]:
    """An outbox payload as the alarms part writes it: an Alarm (CONTRACT.md) plus
    "change" and "farm_name"."""
    return {
        "id": alarm_id,
        "farm": farm_id,
        "seq": 1042,
        "rule": 5,
        "device": 12,
        "sensor": 40,
        "kind": "below",
        "code": "frost_risk",
        "severity": "critical",
        "message": "Temperature below 2 °C for 5 min",
        "value": 1.4,
        "state": "active",
        "raised_at": 1764600000000,
        "cleared_at": None,
        "ack": None,
        "change": "raised",
        "farm_name": farm_name,
    }
