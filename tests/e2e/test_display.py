"""Wall screens end to end: an admin makes a display credential, a screen in a fresh browser
context opens /display with its secret, shows the farm live, takes a refreshed token on the
open socket, and shows that it was revoked the moment the admin revokes it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from farmbridge.demo import DEMO_PASSWORD, DEMO_USER
from tests.e2e.conftest import BROWSER_LOCALE, DemoBridge, Probe, ingest, screenshot
from tests.integration.api_client import Api

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REVOKED_WITHIN_MS = 5_000
"""Revocation closes the socket (4001) at once; one exchange (401) later the screen says so."""


@pytest.fixture
def admin(demo: DemoBridge) -> Iterator[Api]:
    api = Api(demo.url, DEMO_USER, DEMO_PASSWORD)
    yield api
    api.close()


@pytest.fixture
def screen(browser: Browser) -> Iterator[Page]:
    """A fresh context, as a wall screen's own browser: nobody is signed in."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale=BROWSER_LOCALE)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield tab
    context.close()
    # Expected: the revoked secret's 401 and the socket closing under it.
    unexpected = [e for e in errors if not any(x in e for x in ("WebSocket", "status of 401"))]
    assert not unexpected, unexpected


@pytest.fixture
def admin_tab(browser: Browser, demo: DemoBridge) -> Iterator[Page]:
    """A farm admin signed in to the Web Admin, in a context of its own."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=BROWSER_LOCALE)
    tab = context.new_page()
    tab.goto(demo.url + "/login")
    tab.fill("input[name=username]", DEMO_USER)
    tab.fill("input[name=password]", DEMO_PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_selector("nav >> text=Wall screens")
    yield tab
    context.close()


def show_value(page: Page, demo: DemoBridge, probe: Probe, value: float) -> None:
    ingest(demo.url, probe.key, {"sensor": "probe", "value": value})
    page.wait_for_selector(f"[data-testid=value-{probe.sensor_id}][data-value='{value:g}']")


def test_wall_screen_lives_refreshes_and_stops_when_revoked(
    screen: Page, admin: Api, demo: DemoBridge, probe: Probe
) -> None:
    created = admin.ok("POST", f"/api/v1/farms/{probe.farm_id}/displays", json={"name": "e2e wall"})
    secret = created["secret"]
    assert secret.startswith("fbw_")

    screen.goto(f"{demo.url}/display#{secret}")
    screen.wait_for_selector("[data-testid=kiosk]")
    # The secret left the address bar for localStorage; no admin controls are on screen.
    assert screen.evaluate("location.hash") == ""
    assert screen.evaluate("localStorage.getItem('farmbridge.displaySecret')") == secret
    assert screen.get_attribute("[data-testid=kiosk]", "data-farm") == str(probe.farm_id)
    screen.wait_for_selector("[data-testid=connection-indicator][data-state=connected]")
    assert screen.locator(".nav").count() == 0
    assert screen.locator("button:has-text('Acknowledge')").count() == 0
    show_value(screen, demo, probe, 4242.5)
    screenshot(screen, "display-kiosk", full_page=False)

    # A refreshed token goes on the open socket: same connection, no reconnect.
    before = screen.evaluate("window.farmbridge.client.getStatus().connectionId")
    reconnects = screen.evaluate("window.farmbridge.client.reconnects")
    r = httpx.post(f"{demo.url}/api/v1/auth/display-token", json={"secret": secret}, timeout=10)
    assert r.status_code == 200, r.text
    screen.evaluate("(t) => window.farmbridge.client.reauthenticate(t)", r.json()["access_token"])
    show_value(screen, demo, probe, 4243.5)
    assert screen.evaluate("window.farmbridge.client.getStatus().connectionId") == before
    assert screen.evaluate("window.farmbridge.client.reconnects") == reconnects

    # Listed for the admin, then revoked: the screen says so and stops.
    listed = admin.ok("GET", f"/api/v1/farms/{probe.farm_id}/displays")
    assert [d["name"] for d in listed if d["id"] == created["id"]] == ["e2e wall"]
    admin.ok("DELETE", f"/api/v1/farms/{probe.farm_id}/displays/{created['id']}")
    screen.wait_for_selector("[data-testid=display-revoked]", timeout=REVOKED_WITHIN_MS)
    assert "revoked" in screen.inner_text("[data-testid=display-revoked]")
    assert screen.evaluate("window.farmbridge.client.getStatus().state") in {"idle", "closed"}


def test_admin_makes_and_revokes_a_wall_screen_in_the_ui(
    admin_tab: Page, screen: Page, demo: DemoBridge, probe: Probe
) -> None:
    """Displays page: create (secret and link shown once), list, revoke with a confirm; the
    screen pastes the secret at /display."""
    admin_tab.click("nav >> text=Wall screens")
    admin_tab.wait_for_selector("[data-testid=displays]")
    admin_tab.fill("[data-testid=create-display] input", "e2e ui wall")
    admin_tab.click("[data-testid=create-display] button[type=submit]")
    secret = admin_tab.inner_text("[data-testid=display-secret-value]").strip()
    link = admin_tab.inner_text("[data-testid=display-link]").strip()
    assert secret.startswith("fbw_")
    assert link.endswith(f"/display#{secret}")
    admin_tab.wait_for_selector("[data-testid=display-row] >> text=e2e ui wall")
    screenshot(admin_tab, "admin-displays")

    screen.goto(f"{demo.url}/display")
    screen.fill("[data-testid=display-setup] input", secret)
    screen.click("[data-testid=display-setup] button[type=submit]")
    screen.wait_for_selector("[data-testid=connection-indicator][data-state=connected]")
    show_value(screen, demo, probe, 4244.5)

    admin_tab.once("dialog", lambda dialog: dialog.accept())
    admin_tab.click("[data-testid=display-row]:has-text('e2e ui wall') >> text=Revoke")
    admin_tab.wait_for_selector("[data-testid=display-row] >> text=e2e ui wall", state="detached")
    screen.wait_for_selector("[data-testid=display-revoked]", timeout=REVOKED_WITHIN_MS)
