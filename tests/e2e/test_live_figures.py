"""The Connections page's live figures in a real Chromium against a real demo bridge: they
move when another client connects and readings flow to it, and come only over the stream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from farmbridge.demo import DEMO_FARM, DEMO_PASSWORD, DEMO_USER
from tests.e2e.conftest import BROWSER_LOCALE, DemoBridge, screenshot
from tests.e2e.test_dashboard import wait_for_js

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Request

STATS_INTERVAL_S = "0.5"
"""Slots of half a second, so the page has new figures often (the default is 10 s)."""
GUARD_MS = 30_000
"""A bound for a broken build, not a timing assertion: every wait is on a condition."""
FIGURES = "[data-testid=live-figures]"
SHOWN = (
    "([sel, not]) => { const t = document.querySelector(sel)?.innerText;"
    " return t && t !== '\\u2013' && !not.includes(t); }"
)
"""A figure that is shown (not the dash of no figure) and none of `not`."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoBridge]:
    """The demo bridge of this module, closing a live-figures slot every half second."""
    bridge = DemoBridge(tmp_path_factory.mktemp("e2e-live-figures"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FARMBRIDGE_WS_STATS_INTERVAL_S", STATS_INTERVAL_S)
        bridge.start()  # the subprocess takes its environment now
    yield bridge
    bridge.stop()


def log_in(page: Page, demo: DemoBridge) -> None:
    page.goto(demo.url + "/")
    page.wait_for_selector("input[name=username]")
    page.fill("input[name=username]", DEMO_USER)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(f"[data-testid=farm-card-{DEMO_FARM}]")


def figure(page: Page, name: str) -> str:
    return page.inner_text(f"[data-testid=live-{name}]")


def test_connections_page_figures_follow_a_new_client_without_http(
    browser: Browser, demo: DemoBridge
) -> None:
    """After the Connections page loads, a second client that connects and gets readings
    shows up in the figures (connections, connects, latency, the chart), and the page
    makes no HTTP request for any of it."""
    admin = browser.new_context(locale=BROWSER_LOCALE).new_page()
    log_in(admin, demo)
    admin.click("nav >> text=Connections")
    admin.wait_for_selector("[data-testid=connections-table] >> text=this tab")
    wait_for_js(
        admin,
        f"Number(document.querySelector('{FIGURES}')?.dataset.slots) >= 2",
        timeout=GUARD_MS,
    )
    admin.wait_for_load_state("networkidle")
    before = int(figure(admin, "connections"))
    requests: list[str] = []

    def record(request: Request) -> None:
        requests.append(f"{request.method} {request.url}")

    admin.on("request", record)

    viewer_context = browser.new_context(locale=BROWSER_LOCALE)
    other = viewer_context.new_page()
    log_in(other, demo)
    other.click(f"[data-testid=farm-card-{DEMO_FARM}]")
    other.wait_for_selector("[data-testid^=value-]")  # the demo's readings reach it

    wait_for_js(
        admin,
        "([sel, n]) => Number(document.querySelector(sel)?.innerText) > n",
        arg=["[data-testid=live-connections]", before],
        timeout=GUARD_MS,
    )
    wait_for_js(admin, SHOWN, arg=["[data-testid=live-connects]", ["0"]], timeout=GUARD_MS)
    wait_for_js(admin, SHOWN, arg=["[data-testid=live-p99]", []], timeout=GUARD_MS)
    assert admin.locator("[data-testid=live-chart] polyline").count() >= 1
    screenshot(admin, "admin-live-figures")
    viewer_context.close()
    wait_for_js(
        admin,
        "([sel, n]) => Number(document.querySelector(sel)?.innerText) === n",
        arg=["[data-testid=live-connections]", before],
        timeout=GUARD_MS,
    )
    admin.remove_listener("request", record)
    assert requests == []
    admin.context.close()
