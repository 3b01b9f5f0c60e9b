"""Notifications off the dashboard against a real bridge: webhooks to a loopback receiver,
e-mail to a local aiosmtpd server, retries, and delivery across a restart.

The outbox rows stand in for the alarms the alarm part will enqueue: the test writes them
through the store's own writer (`enqueue_notification`) on the bridge's database, with
payloads shaped like CONTRACT.md's alarm. Every wait is for a condition, never a sleep.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email
import email.policy
import json
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any, Final

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from farmbridge.egress.signature import verify
from farmbridge.store.sql import SqlStore
from tests.conftest import (
    ADMIN,
    SHARED_LOGIN_RATE_PER_MIN,
    Bridge,
    free_port,
    started_bridge,
    unique,
)
from tests.hook_receiver import WAIT_S, HookReceiver, alarm_payload
from tests.integration.api_client import Api

FAST_RETRIES: Final = {
    "FARMBRIDGE_NOTIFY_POLL_MS": "20",
    "FARMBRIDGE_NOTIFY_RETRY_BASE_S": "0.05",
    "FARMBRIDGE_NOTIFY_RETRY_MAX_S": "0.2",
    "FARMBRIDGE_NOTIFY_MAX_ATTEMPTS": "100",
}


SMTP_LOGIN: Final = ("farm-bridge", "smtp-password-1234")
REFUSED_PREFIX: Final = "refuse-"


class Mailbox:
    """An aiosmtpd handler that keeps every message it is given, refuses recipients whose
    address starts with REFUSED_PREFIX (550), and takes mail only after a login as
    SMTP_LOGIN."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.logins: list[str] = []

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == tuple(
            part.encode() for part in SMTP_LOGIN
        )
        if ok:
            self.logins.append(mechanism)
        return AuthResult(success=ok)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if not session.authenticated:
            return "530 5.7.0 authentication required"
        if address.startswith(REFUSED_PREFIX):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=box.authenticate,
        # Loopback without TLS (the bridge runs with SMTP_STARTTLS=false); the handler
        # refuses mail from a session that did not log in.
        auth_require_tls=False,
    )
    controller.start()
    yield box, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def notify_bridge(
    tmp_path_factory: pytest.TempPathFactory, mailbox: tuple[Mailbox, int]
) -> Iterator[Bridge]:
    """A bridge that polls its outbox every 20 ms, retries within a fraction of a second,
    sends e-mail to the module's aiosmtpd server and logs at info."""
    b = started_bridge(
        tmp_path_factory.mktemp("notify-bridge"),
        FARMBRIDGE_LOGIN_RATE_PER_MIN=SHARED_LOGIN_RATE_PER_MIN,
        FARMBRIDGE_LOG_LEVEL="info",  # so that a URL or secret logged at info would show
        FARMBRIDGE_SMTP_HOST="127.0.0.1",
        FARMBRIDGE_SMTP_PORT=str(mailbox[1]),
        FARMBRIDGE_SMTP_STARTTLS="false",
        FARMBRIDGE_SMTP_FROM="alarms@farmbridge.example",
        FARMBRIDGE_SMTP_USER=SMTP_LOGIN[0],
        FARMBRIDGE_SMTP_PASSWORD=SMTP_LOGIN[1],
        **FAST_RETRIES,
    )
    yield b
    b.stop()


@pytest.fixture
def api(notify_bridge: Bridge) -> Iterator[Api]:
    a = Api(notify_bridge.url, *ADMIN)
    yield a
    a.close()


@pytest.fixture
def hook() -> Iterator[HookReceiver]:
    r = HookReceiver()
    yield r
    r.close()


def enqueue(bridge: Bridge, farm_id: int, payload: dict[str, Any]) -> None:
    """Writes an outbox row on the bridge's database through a store's writer, as a
    change's own transaction would (the bridge may be running or stopped)."""

    async def work() -> None:
        store = SqlStore(f"sqlite:///{(bridge.data_dir / 'farmbridge.db').resolve()}")
        await store.start()
        try:
            await store.enqueue_notification(farm_id, "alarm", payload)
        finally:
            await store.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, work()).result()


def deliveries(api: Api, farm_id: int, **params: str) -> list[dict[str, Any]]:
    body = api.ok("GET", f"/api/v1/farms/{farm_id}/notifications/deliveries", params=params)
    rows: list[dict[str, Any]] = body["deliveries"]
    return rows


def wait_until(
    probe: Callable[[], list[dict[str, Any]]], done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """Polls `probe` until `done` holds of its answer; fails after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while True:
        rows = probe()
        if done(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"condition never held: {rows}")
        time.sleep(0.02)


def webhook(api: Api, farm_id: int, url: str) -> dict[str, Any]:
    created: dict[str, Any] = api.ok("POST", f"/api/v1/farms/{farm_id}/webhooks", json={"url": url})
    return created


def test_webhook_secret_is_shown_once_and_only_http_urls_are_taken(api: Api) -> None:
    """Creating answers 201 with the secret; listing never shows it; other schemes are
    422 on `url`; a deleted webhook is gone (a second delete is 404)."""
    farm = api.farm(unique("hooks"))
    base = f"/api/v1/farms/{farm['id']}/webhooks"
    r = api.http.post(base, json={"url": "https://example.com/h", "description": "ops"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith("fbw_")
    assert (created["url"], created["description"], created["enabled"]) == (
        "https://example.com/h",
        "ops",
        True,
    )
    listed = api.ok("GET", base)["webhooks"]
    assert [h["id"] for h in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert created["secret"] not in json.dumps(listed)
    for bad in ["ftp://example.com/h", "javascript:alert(1)", "example.com/h"]:
        r = api.http.post(base, json={"url": bad})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "url"
    assert api.http.delete(f"{base}/{created['id']}").status_code == 204
    assert api.http.delete(f"{base}/{created['id']}").status_code == 404
    assert api.ok("GET", base)["webhooks"] == []


def test_email_recipients_are_validated_and_replaced(api: Api) -> None:
    """PUT replaces the list (sorted, no repeats); a bad address is 422 naming its index."""
    farm = api.farm(unique("mails"))
    path = f"/api/v1/farms/{farm['id']}/notifications/email"
    assert api.ok("GET", path) == {"addresses": []}
    body = {"addresses": ["b@farm.example", "a@farm.example", "b@farm.example"]}
    assert api.ok("PUT", path, json=body) == {"addresses": ["a@farm.example", "b@farm.example"]}
    r = api.http.put(path, json={"addresses": ["c@farm.example", "not an address"]})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "addresses[1]"
    assert api.ok("GET", path) == {"addresses": ["a@farm.example", "b@farm.example"]}
    r = api.http.get(
        f"/api/v1/farms/{farm['id']}/notifications/deliveries", params={"state": "lost"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "state"


def test_only_a_farm_admin_manages_notifications(notify_bridge: Bridge, api: Api) -> None:
    """A farm operator gets 403 on every notification route of the farm."""
    farm = api.farm(unique("roles"))
    name = unique("op")
    api.user(name, "operator-password", farm["id"], role="operator")
    op = Api(notify_bridge.url, name, "operator-password")
    try:
        fid = farm["id"]
        answers = [
            op.http.get(f"/api/v1/farms/{fid}/webhooks"),
            op.http.post(f"/api/v1/farms/{fid}/webhooks", json={"url": "http://a.example"}),
            op.http.get(f"/api/v1/farms/{fid}/notifications/email"),
            op.http.put(f"/api/v1/farms/{fid}/notifications/email", json={"addresses": []}),
            op.http.get(f"/api/v1/farms/{fid}/notifications/deliveries"),
        ]
        assert [r.status_code for r in answers] == [403] * 5
    finally:
        op.close()


def test_webhook_gets_the_payload_signed_with_its_secret(
    notify_bridge: Bridge, api: Api, hook: HookReceiver
) -> None:
    """The receiver gets the outbox payload as the body, and the signature header is the
    HMAC-SHA256 of that raw body with the secret it was given at creation."""
    farm = api.farm(unique("signed"))
    created = webhook(api, farm["id"], hook.url)
    payload = alarm_payload(farm["id"], farm["name"])
    enqueue(notify_bridge, farm["id"], payload)
    (req,) = hook.wait_for(1)
    assert json.loads(req.body) == payload
    assert verify(created["secret"], req.body, req.headers["X-FarmBridge-Signature"])
    assert not verify(created["secret"] + "x", req.body, req.headers["X-FarmBridge-Signature"])
    (row,) = wait_until(
        lambda: deliveries(api, farm["id"]), lambda rows: rows[0]["state"] == "delivered"
    )
    assert req.headers["X-FarmBridge-Delivery"] == str(row["id"])
    assert int(req.headers["X-FarmBridge-Timestamp"]) >= row["created_ms"]
    assert (row["kind"], row["target"], row["attempts"]) == ("webhook", str(created["id"]), 1)
    assert row["payload"] == payload
    assert created["secret"] not in notify_bridge.log


def test_failing_receiver_gets_it_on_the_third_attempt(
    notify_bridge: Bridge, api: Api, hook: HookReceiver
) -> None:
    """500 twice, then 200: three requests with one delivery id, and the log shows three
    attempts, the last one 200."""
    hook.statuses = [500, 500]
    farm = api.farm(unique("retry"))
    webhook(api, farm["id"], hook.url)
    enqueue(notify_bridge, farm["id"], alarm_payload(farm["id"], farm["name"]))
    (row,) = wait_until(
        lambda: deliveries(api, farm["id"]), lambda rows: rows and rows[0]["state"] == "delivered"
    )
    assert (row["attempts"], row["last_status"], row["last_error"]) == (3, 200, "HTTP 500")
    assert [r.answered for r in hook.requests] == [500, 500, 200]
    assert {r.headers["X-FarmBridge-Delivery"] for r in hook.requests} == {str(row["id"])}
    assert deliveries(api, farm["id"], state="pending") == []
    assert hook.url not in notify_bridge.log, "a webhook URL may hold a token: never logged"
    metrics = httpx.get(f"{notify_bridge.url}/metrics", timeout=30).text
    assert 'farmbridge_notification_attempts_total{kind="webhook",result="retry"}' in metrics


def test_email_reaches_every_recipient_in_english_and_korean(
    notify_bridge: Bridge, api: Api, mailbox: tuple[Mailbox, int]
) -> None:
    """Each recipient gets one plain-text mail through the SMTP server of the settings:
    severity, farm, message and state in both languages, its delivery id in a header."""
    box, _ = mailbox
    farm = api.farm(unique("mail"))
    to = [f"{farm['name']}-a@farm.example", f"{farm['name']}-b@farm.example"]
    api.ok("PUT", f"/api/v1/farms/{farm['id']}/notifications/email", json={"addresses": to})
    enqueue(notify_bridge, farm["id"], alarm_payload(farm["id"], farm["name"]))
    rows = wait_until(
        lambda: deliveries(api, farm["id"]),
        lambda rows: len(rows) == 2 and all(r["state"] == "delivered" for r in rows),
    )
    mine = [(rcpt, m) for rcpt, m in box.messages if m["To"] in to]
    assert sorted(rcpt[0] for rcpt, _ in mine) == sorted(to)
    by_address = {r["target"]: r for r in rows}
    for rcpt, msg in mine:
        assert msg["From"] == "alarms@farmbridge.example"
        assert msg["X-FarmBridge-Delivery"] == str(by_address[rcpt[0]]["id"])
        subject = str(msg["Subject"])
        assert f"CRITICAL alarm raised on {farm['name']}" in subject
        assert "심각 경보 발생" in subject
        body = msg.get_content()
        assert "Temperature below 2 °C for 5 min" in body
        assert "State: active" in body
        assert "상태: 활성" in body
    assert box.logins, "the bridge logged in with SMTP_USER and SMTP_PASSWORD"
    assert SMTP_LOGIN[1] not in notify_bridge.log


def test_refused_recipient_is_retried_while_the_others_are_delivered(
    notify_bridge: Bridge, api: Api, mailbox: tuple[Mailbox, int]
) -> None:
    """A recipient the server refuses (550) stays pending with the reply in the log; the
    farm's other recipient gets the mail all the same."""
    box, _ = mailbox
    farm = api.farm(unique("refused"))
    good, bad = f"{farm['name']}@farm.example", f"{REFUSED_PREFIX}{farm['name']}@farm.example"
    body = {"addresses": [good, bad]}
    api.ok("PUT", f"/api/v1/farms/{farm['id']}/notifications/email", json=body)
    enqueue(notify_bridge, farm["id"], alarm_payload(farm["id"], farm["name"]))
    rows = wait_until(
        lambda: deliveries(api, farm["id"]),
        lambda rows: (
            {r["target"]: r for r in rows}.get(good, {}).get("state") == "delivered"
            and {r["target"]: r for r in rows}[bad]["attempts"] >= 2
        ),
    )
    refused = next(r for r in rows if r["target"] == bad)
    assert (refused["state"], refused["last_status"]) == ("pending", 550)
    assert "no such mailbox" in refused["last_error"]
    assert [m["To"] for _, m in box.messages].count(good) == 1
    assert bad not in [m["To"] for _, m in box.messages]


@pytest.mark.bridge_env(**FAST_RETRIES)
def test_notification_queued_while_stopped_is_delivered_once_after_start(
    bridge: Bridge, admin_api: Api, hook: HookReceiver
) -> None:
    """An outbox row written while the bridge is down is delivered once it starts; one
    that was failing when the bridge stopped is delivered once after the restart, its
    earlier attempts counted; neither reaches a target twice."""
    farm = admin_api.farm(unique("restart"))
    webhook(admin_api, farm["id"], hook.url)
    bridge.stop()
    enqueue(bridge, farm["id"], alarm_payload(farm["id"], farm["name"], alarm_id=1))
    bridge.start()
    api = Api(bridge.url, *ADMIN)
    try:
        (first,) = wait_until(
            lambda: deliveries(api, farm["id"]), lambda r: r and r[0]["state"] == "delivered"
        )
        # The receiver fails while the bridge stops: the second stays pending across it.
        hook.answer(503)
        enqueue(bridge, farm["id"], alarm_payload(farm["id"], farm["name"], alarm_id=2))
        wait_until(
            lambda: deliveries(api, farm["id"], state="pending"),
            lambda r: r and r[0]["attempts"] >= 2,
        )
    finally:
        api.close()
    bridge.stop()
    hook.answer(200)
    bridge.start()
    api = Api(bridge.url, *ADMIN)
    try:
        rows = wait_until(
            lambda: deliveries(api, farm["id"]),
            lambda r: len(r) == 2 and all(x["state"] == "delivered" for x in r),
        )
    finally:
        api.close()
    second = next(r for r in rows if r["id"] != first["id"])
    assert first["attempts"] == 1
    assert second["attempts"] >= 3
    answered = [(r.headers["X-FarmBridge-Delivery"], r.answered) for r in hook.requests]
    assert [d for d, status in answered if status == 200] == [str(first["id"]), str(second["id"])]
    assert {json.loads(r.body)["id"] for r in hook.requests} == {1, 2}


def test_alarm_raised_by_a_rule_reaches_the_webhook_then_its_acknowledgement(
    notify_bridge: Bridge, api: Api, hook: HookReceiver
) -> None:
    """The whole path: a reading over HTTP ingest crosses a rule, the alarm's outbox row is
    written in that commit, and the webhook gets it signed; acknowledging it sends the
    `acknowledged` change after it, same alarm id."""
    farm = api.farm(unique("rule-hook"))
    created = webhook(api, farm["id"], hook.url)
    dev = api.device(farm["id"], "probe")
    api.ok(
        "POST",
        f"/api/v1/farms/{farm['id']}/alarm-rules",
        json={"name": "Too hot", "kind": "above", "severity": "critical",
              "sensor_name": "temp", "threshold": 30},
    )  # fmt: skip
    r = httpx.post(
        f"{notify_bridge.url}/api/v1/ingest",
        json={"readings": [{"sensor": "temp", "value": 35.5}]},
        headers={"Authorization": f"Bearer {dev['key']}"},
    )
    assert r.status_code == 200, r.text
    (raised,) = hook.wait_for(1)
    body = json.loads(raised.body)
    assert verify(created["secret"], raised.body, raised.headers["X-FarmBridge-Signature"])
    assert (body["change"], body["state"], body["value"], body["farm_name"]) == (
        "raised", "active", 35.5, farm["name"],
    )  # fmt: skip
    api.ok("POST", f"/api/v1/farms/{farm['id']}/alarms/{body['id']}/ack", json={"comment": "ok"})
    acked = json.loads(hook.wait_for(2)[1].body)
    assert (acked["id"], acked["change"], acked["ack"]["comment"]) == (
        body["id"], "acknowledged", "ok",
    )  # fmt: skip
    assert acked["seq"] > body["seq"]
