"""The dashboard's alarms in a real headless Chromium against a real demo bridge.

An alarm active before the page opens is on the page at every fresh load; an
acknowledgement by one operator reaches a second operator's open page live; a rule made
in the rules page raises an alarm that the open farm page shows in its banner.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from farmbridge.demo import DEMO_PASSWORD, DEMO_USER
from tests.conftest import unique
from tests.e2e.conftest import BROWSER_LOCALE, DemoBridge, Probe, ingest
from tests.integration.api_client import Api

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

FRESH_LOADS = 20
LOAD_TIMEOUT_MS = 20_000
LIVE_TIMEOUT_MS = 10_000
SESSION_KEY = "farmbridge.session"
"""web-admin/src/lib/auth.ts TOKEN_STORAGE_KEY: the signed-in session in sessionStorage."""
EXPECTED_CONSOLE = ("WebSocket", "ERR_")


@pytest.fixture(scope="module")
def api(demo: DemoBridge) -> Iterator[Api]:
    client = Api(demo.url, DEMO_USER, DEMO_PASSWORD)
    yield client
    client.close()


@dataclass
class Tab:
    context: BrowserContext
    page: Page
    errors: list[str]
    expected: tuple[str, ...] = EXPECTED_CONSOLE

    def close(self) -> None:
        self.context.close()
        unexpected = [e for e in self.errors if not any(x in e for x in self.expected)]
        assert not unexpected, unexpected


def token_for(base_url: str, username: str, password: str) -> dict[str, Any]:
    """A session as the login page stores it, from one REST login (the login rate limit
    counts every attempt, so the tests log in once per user, not once per load)."""
    r = httpx.post(
        f"{base_url}/api/v1/auth/token",
        data={"username": username, "password": password},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    return {"token": body["access_token"], "username": username, "expiresAt": body["expires_at"]}


def open_tab(browser: Browser, demo: DemoBridge, session: dict[str, Any], path: str) -> Tab:
    """A fresh browser context (no cache, no storage) signed in as `session`, at `path`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=BROWSER_LOCALE)
    # Playwright's init script is not the page's code, so the CSP does not govern it.
    context.add_init_script(
        f"if (location.origin === {json.dumps(demo.url)}) "
        f"sessionStorage.setItem({json.dumps(SESSION_KEY)}, {json.dumps(json.dumps(session))});"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    page.goto(demo.url + path)
    return Tab(context, page, errors)


def raise_device_alarm(demo: DemoBridge, api: Api, probe: Probe, code: str, message: str) -> int:
    """Posts a device-sent alarm event; returns the id of the alarm it raised."""
    ingest(demo.url, probe.key, {"events": [{"level": "alarm", "code": code, "message": message}]})
    return open_alarm_id(api, probe.farm_id, lambda a: a["code"] == code)


def open_alarm_id(api: Api, farm_id: int, match: Any) -> int:
    alarms = api.ok("GET", f"/api/v1/farms/{farm_id}/alarms", params={"state": "open"})["alarms"]
    (alarm,) = [a for a in alarms if match(a)]
    return int(alarm["id"])


def test_alarm_active_before_the_page_opens_shows_on_every_fresh_load(
    browser: Browser, demo: DemoBridge, probe: Probe, api: Api
) -> None:
    """An alarm raised before the page is opened is in the banner on 20 fresh loads in a row,
    each in a fresh browser context: the snapshot carries it, so no REST load races it away."""
    code = unique("e2e_frost")
    alarm_id = raise_device_alarm(demo, api, probe, code, "Frost risk in bay 2")
    session = token_for(demo.url, DEMO_USER, DEMO_PASSWORD)
    for load in range(FRESH_LOADS):
        tab = open_tab(browser, demo, session, f"/farms/{probe.farm_id}")
        try:
            row = tab.page.wait_for_selector(
                f"[role=alert][data-testid=alarm-banner] [data-testid=banner-alarm-{alarm_id}]",
                timeout=LOAD_TIMEOUT_MS,
            )
            assert row is not None, f"load {load + 1}"
            assert "Frost risk in bay 2" in row.inner_text(), f"load {load + 1}"
            assert row.get_attribute("data-state") == "active"
        finally:
            tab.close()


def test_acknowledgement_by_one_operator_updates_another_operators_page_live(
    browser: Browser, demo: DemoBridge, probe: Probe, api: Api
) -> None:
    """Operator B acknowledges with a comment; operator A's open page drops the alarm from its
    banner and lists it acknowledged by B, without a reload; a viewer sees no button."""
    names = {role: unique(f"e2e-{role}") for role in ("opa", "opb", "viewer")}
    password = "e2e-password-1"
    for role, name in names.items():
        api.user(name, password, probe.farm_id, "viewer" if role == "viewer" else "operator")
    code = unique("e2e_pump")
    alarm_id = raise_device_alarm(demo, api, probe, code, "Pump pressure lost")
    row = f"[data-testid=banner-alarm-{alarm_id}]"
    path = f"/farms/{probe.farm_id}"
    tab_a = open_tab(browser, demo, token_for(demo.url, names["opa"], password), path)
    tab_b = open_tab(browser, demo, token_for(demo.url, names["opb"], password), path)
    tab_v = open_tab(browser, demo, token_for(demo.url, names["viewer"], password), path)
    try:
        for tab in (tab_a, tab_b, tab_v):
            tab.page.wait_for_selector(row, timeout=LOAD_TIMEOUT_MS)
        assert tab_v.page.query_selector(f"[data-testid=ack-{alarm_id}]") is None
        assert tab_a.page.is_visible(f"[data-testid=ack-{alarm_id}]")
        tab_a.page.evaluate("() => { window.__sameDocument = true; }")

        tab_b.page.click(f"[data-testid=ack-{alarm_id}]")
        tab_b.page.fill(f"[data-testid=ack-form-{alarm_id}] input[name=comment]", "valve reset")
        tab_b.page.click(f"[data-testid=ack-send-{alarm_id}]")

        for tab in (tab_a, tab_v, tab_b):
            tab.page.wait_for_selector(row, state="detached", timeout=LIVE_TIMEOUT_MS)
        assert tab_a.page.evaluate("() => window.__sameDocument === true"), "page A reloaded"
        listed = tab_a.page.wait_for_selector(
            f"[data-testid=alarm-row-{alarm_id}][data-state=acknowledged]", timeout=LIVE_TIMEOUT_MS
        )
        assert listed is not None
        text = listed.inner_text()
        assert names["opb"] in text
        assert "valve reset" in text
    finally:
        for tab in (tab_a, tab_b, tab_v):
            tab.close()


def test_rule_made_in_the_ui_raises_an_alarm_shown_in_the_banner(
    browser: Browser, demo: DemoBridge, probe: Probe, api: Api
) -> None:
    """A farm admin makes an above-threshold rule in the rules page (a missing threshold is
    refused beside its field first); a reading crossing it raises an alarm in the banner."""
    session = token_for(demo.url, DEMO_USER, DEMO_PASSWORD)
    tab = open_tab(browser, demo, session, f"/admin/alarm-rules?farm={probe.farm_id}")
    tab.expected = (*EXPECTED_CONSOLE, "status of 422")  # the refused rule, on purpose
    page = tab.page
    try:
        form = "[data-testid=create-rule]"
        sensor_option = f"{form} select[name=sensor] >> option[value='id:{probe.sensor_id}']"
        page.wait_for_selector(sensor_option, state="attached")
        name = unique("e2e probe high")
        page.fill(f"{form} input[name=name]", name)
        page.select_option(f"{form} select[name=kind]", "above")
        page.select_option(f"{form} select[name=severity]", "critical")
        page.select_option(f"{form} select[name=sensor]", f"id:{probe.sensor_id}")
        page.fill(f"{form} input[name=message]", "Probe above 5000 (e2e)")
        page.click("[data-testid=create-rule-submit]")
        error = page.wait_for_selector("[data-testid=rule-error-threshold]")
        assert error is not None
        assert "threshold" in error.inner_text()
        assert page.get_attribute(f"{form} input[name=threshold]", "aria-invalid") == "true"

        page.fill(f"{form} input[name=threshold]", "5000")
        page.click("[data-testid=create-rule-submit]")
        page.wait_for_selector(f"[data-testid=alarm-rules] >> text={name}")
        rules = api.ok("GET", f"/api/v1/farms/{probe.farm_id}/alarm-rules")
        (rule,) = [r for r in rules if r["name"] == name]
        assert rule["threshold"] == 5000
        assert rule["severity"] == "critical"
        assert rule["sensor_id"] == probe.sensor_id
        page.wait_for_selector(f"[data-testid=alarm-rules-audit] >> text={name}")

        # To the farm page inside the app (no reload), then cross the threshold.
        page.click("nav >> text=Overview")
        page.click(f"[href='/farms/{probe.farm_id}']")
        page.wait_for_selector(f"[data-testid=value-{probe.sensor_id}]")
        ingest(demo.url, probe.key, {"sensor": "probe", "value": 6000})
        alarm_id = open_alarm_id(api, probe.farm_id, lambda a: a["rule"] == rule["id"])
        row = page.wait_for_selector(
            f"[role=alert] [data-testid=banner-alarm-{alarm_id}]", timeout=LIVE_TIMEOUT_MS
        )
        assert row is not None
        assert row.get_attribute("data-severity") == "critical"
        assert "Probe above 5000 (e2e)" in row.inner_text()
        # Critical first: no warning is above it in the banner.
        severities = page.eval_on_selector_all(
            "[data-testid=alarm-banner] li[data-severity]",
            "(rows) => rows.map((r) => r.dataset.severity)",
        )
        assert severities == sorted(severities), severities
    finally:
        ingest(demo.url, probe.key, {"sensor": "probe", "value": 0})
        tab.close()
