"""What the dashboard says about devices and values is true, in a real headless Chromium
against a real bridge (`farmbridge serve`, a fresh one per test).

- an event stored before a page opens is in its log on 20 fresh loads (the REST page of
  events and the stream's snapshot race; neither may wipe the other);
- a device that stops posting goes offline and its tile is marked stale on its own;
- a deleted device leaves an open page at once;
- a viewer opening a farm they may not see is told so, not left waiting;
- a chart spans the chosen window, breaks at a gap in the data, draws the buckets' min/max
  band, asks for buckets the rollups answer, and says when it is loading or failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import pytest

from tests.conftest import ADMIN, Bridge, unique
from tests.e2e.conftest import BROWSER_LOCALE, ingest, screenshot
from tests.e2e.test_dashboard import wait_for_js
from tests.integration.api_client import Api

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route

FRESH_LOADS: Final = 20
FRESH_LOADS_TIMEOUT_S: Final = 600
"""Twenty logins and page loads in fresh contexts: more than the default 120 s on a busy machine."""
LOGIN_RATE: Final = "60000"
"""Every fresh context logs in from 127.0.0.1: one login bucket for them all."""
PROBE_INTERVAL_S: Final = 1.0
"""The probe's expected reporting interval: it goes offline after a few seconds of silence."""
EXPECTED_CONSOLE: Final = ("status of 403", "status of 404", "ERR_FAILED")
"""A refused farm's REST loads fail on purpose in the no-access test, a chart's in the
chart test."""
HOUR_MS: Final = 3_600_000
DAY_MS: Final = 24 * HOUR_MS
READING_STEP_MS: Final = 10 * 60_000
"""The chart test's readings: one every 10 minutes, as the device's expected interval says."""


@dataclass
class FreshPages:
    """Pages in fresh browser contexts (each a fresh session, as a new visitor's)."""

    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self) -> Page:
        ctx = self.browser.new_context(
            viewport={"width": 1280, "height": 900}, locale=BROWSER_LOCALE
        )
        self.contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        return page

    def close_all(self) -> None:
        while self.contexts:
            self.contexts.pop().close()


@pytest.fixture
def fresh(browser: Browser, bridge: Bridge) -> Iterator[FreshPages]:
    """Fresh pages on `bridge`, closed before it stops; their page or console errors fail
    the test."""
    pages = FreshPages(browser)
    yield pages
    pages.close_all()
    unexpected = [e for e in pages.errors if not any(x in e for x in EXPECTED_CONSOLE)]
    assert not unexpected, unexpected


def open_farm(page: Page, url: str, farm_id: int, user: tuple[str, str]) -> None:
    """A fresh session onto a farm's page: log in, then load the farm's page afresh (the
    token kept in the tab's sessionStorage), so the page starts with nothing loaded."""
    page.goto(f"{url}/login")
    page.fill("input[name=username]", user[0])
    page.fill("input[name=password]", user[1])
    page.click("button[type=submit]")
    page.wait_for_selector("h1:text('Farms')")
    page.goto(f"{url}/farms/{farm_id}")


def farm_is_live(page: Page) -> bool:
    """Whether the farm page has its live data and no page-wide stale mark."""
    return bool(
        page.evaluate(
            "document.querySelector('[data-testid=farm-page]')?.dataset.stale === 'false'"
        )
    )


def device_state(page: Page, name: str) -> str:
    """The state a device's badge shows (its text, not as CSS capitalises it)."""
    return page.text_content(f"[data-testid=device-{name}] [data-testid=device-state]") or ""


def wait_until_live(page: Page) -> None:
    wait_for_js(
        page, "document.querySelector('[data-testid=farm-page]')?.dataset.stale === 'false'"
    )


def event_rows(page: Page) -> list[int]:
    seqs: list[int] = page.evaluate(
        "[...document.querySelectorAll('[data-testid=event-log] li[data-seq]')]"
        ".map((li) => Number(li.dataset.seq))"
    )
    return seqs


@pytest.fixture
def admin(bridge: Bridge) -> Iterator[Api]:
    api = Api(bridge.url, *ADMIN)
    yield api
    api.close()


def make_farm(admin: Api) -> tuple[int, dict[str, Any]]:
    farm = admin.farm(unique("truth"))
    created = admin.device(
        farm["id"], "probe", sensors=[{"name": "soil", "unit": "%", "min": 0, "max": 100}]
    )
    return farm["id"], created


@pytest.mark.timeout(FRESH_LOADS_TIMEOUT_S)
@pytest.mark.bridge_env(FARMBRIDGE_LOGIN_RATE_PER_MIN=LOGIN_RATE)
def test_event_stored_before_the_page_opens_shows_on_every_fresh_load(
    fresh: FreshPages, bridge: Bridge, admin: Api
) -> None:
    """An alarm event posted before the page opens is in the event log on 20 of 20 fresh
    loads, and stays there once the live snapshot has arrived."""
    farm_id, created = make_farm(admin)
    ingest(bridge.url, created["key"], {"sensor": "soil", "value": 40.0})
    ingest(
        bridge.url,
        created["key"],
        {"events": [{"level": "alarm", "code": "frost_risk", "message": "cold"}]},
    )
    (stored,) = admin.ok("GET", f"/api/v1/farms/{farm_id}/events")
    for load in range(FRESH_LOADS):
        page = fresh.open()
        open_farm(page, bridge.url, farm_id, ADMIN)
        wait_for_js(
            page,
            "(seq) => document.querySelector(`[data-testid=event-log] li[data-seq='${seq}']`)"
            " && document.querySelector('[data-testid=farm-page]')?.dataset.stale === 'false'",
            arg=stored["seq"],
        )
        # Both the REST page and the snapshot are in; a late one must not have wiped it.
        assert event_rows(page) == [stored["seq"]], f"load {load + 1}"
        fresh.close_all()


@pytest.mark.bridge_env(
    FARMBRIDGE_LOGIN_RATE_PER_MIN=LOGIN_RATE,
    FARMBRIDGE_LIVENESS_MIN_SILENCE_S="1",
    FARMBRIDGE_LIVENESS_SWEEP_S="0.2",
)
def test_device_that_stops_posting_goes_offline_and_its_tile_is_marked_stale(
    fresh: FreshPages, bridge: Bridge, admin: Api
) -> None:
    """A probe with a 1 s interval posts, then stops: its badge turns offline and its tile
    alone is marked stale with its age, while the page stays live."""
    farm_id, created = make_farm(admin)
    other = admin.device(farm_id, "steady", sensors=[{"name": "temp", "unit": "C"}])
    device_id = created["device"]["id"]
    sensor_id = created["sensors"][0]["id"]
    interval = {"expected_interval_s": PROBE_INTERVAL_S}
    admin.ok("PATCH", f"/api/v1/devices/{device_id}", json=interval)
    ingest(bridge.url, other["key"], {"sensor": "temp", "value": 20.0})
    page = fresh.open()
    open_farm(page, bridge.url, farm_id, ADMIN)
    wait_until_live(page)

    ingest(bridge.url, created["key"], {"sensor": "soil", "value": 41.0})
    page.wait_for_selector(f"[data-testid=value-{sensor_id}][data-value='41']")
    # Readings and no status of its own: online while it posts, never "unknown".
    assert device_state(page, "probe") == "online"
    assert page.get_attribute(f"[data-testid=sensor-{sensor_id}]", "data-stale") == "false"
    # The probe falls silent; the server's liveness check turns it offline on its clock.
    wait_for_js(
        page,
        "(id) => document.querySelector(`[data-testid=sensor-${id}]`)?.dataset.staleReason"
        " === 'device_offline'",
        arg=sensor_id,
        timeout=30_000,
    )
    assert device_state(page, "probe") == "offline"
    # The server's offline status is no sign of life: the card still says when it last spoke.
    assert "seen just now" not in (page.text_content("[data-testid=device-probe]") or "")
    assert "device offline" in (page.text_content(f"[data-testid=stale-{sensor_id}]") or "")
    assert (page.text_content(f"[data-testid=age-{sensor_id}]") or "").endswith("ago")
    assert farm_is_live(page), "the page-wide mark is for a lost connection only"
    steady = other["sensors"][0]["id"]
    assert page.get_attribute(f"[data-testid=sensor-{steady}]", "data-stale") == "false"
    screenshot(page, "tile-stale")

    # Its next reading brings it back: online, and the tile current again.
    ingest(bridge.url, created["key"], {"sensor": "soil", "value": 42.0})
    wait_for_js(
        page,
        "(id) => document.querySelector(`[data-testid=sensor-${id}]`)?.dataset.stale === 'false'",
        arg=sensor_id,
    )
    assert device_state(page, "probe") == "online"


@pytest.mark.bridge_env(FARMBRIDGE_LOGIN_RATE_PER_MIN=LOGIN_RATE)
def test_deleted_device_leaves_an_open_page(fresh: FreshPages, bridge: Bridge, admin: Api) -> None:
    """Deleting a device over REST removes it and its tile from an open page, no reload."""
    farm_id, created = make_farm(admin)
    kept = admin.device(farm_id, "kept", sensors=[{"name": "temp", "unit": "C"}])
    sensor_id = created["sensors"][0]["id"]
    page = fresh.open()
    open_farm(page, bridge.url, farm_id, ADMIN)
    page.wait_for_selector(f"[data-testid=sensor-{sensor_id}]")
    page.wait_for_selector("[data-testid=device-probe]")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    admin.ok("DELETE", f"/api/v1/devices/{created['device']['id']}")
    wait_for_js(
        page,
        "(id) => !document.querySelector(`[data-testid=sensor-${id}]`)"
        " && !document.querySelector('[data-testid=device-probe]')",
        arg=sensor_id,
    )
    assert page.query_selector(f"[data-testid=sensor-{kept['sensors'][0]['id']}]") is not None
    assert page.query_selector("[data-testid=device-kept]") is not None
    assert navigations == [], "the page was not reloaded"
    assert farm_is_live(page)


@pytest.mark.bridge_env(FARMBRIDGE_LOGIN_RATE_PER_MIN=LOGIN_RATE)
def test_viewer_opening_a_farm_they_may_not_see_is_told_so(
    fresh: FreshPages, bridge: Bridge, admin: Api
) -> None:
    """A viewer with no role on a farm gets "You have no access to this farm" at once, not
    a page waiting for live data; their own farm still opens."""
    own, _ = make_farm(admin)
    other, _ = make_farm(admin)
    viewer = (unique("viewer"), "viewer-password-1")
    admin.user(*viewer, farm_id=own)

    page = fresh.open()
    open_farm(page, bridge.url, other, viewer)
    page.wait_for_selector("[data-testid=farm-unavailable][data-reason=forbidden]")
    assert "You have no access to this farm" in page.inner_text("[data-testid=farm-unavailable]")
    assert page.query_selector("text=Waiting for the farm's live data") is None
    assert page.get_attribute("[data-testid=connection-indicator]", "data-state") == "connected"
    screenshot(page, "no-access", full_page=False)

    page.click("text=← Farms")
    page.click("[data-testid^=farm-card-] >> nth=0")
    wait_until_live(page)


@pytest.mark.bridge_env(FARMBRIDGE_LOGIN_RATE_PER_MIN=LOGIN_RATE)
def test_unknown_farm_says_there_is_no_such_farm(fresh: FreshPages, bridge: Bridge) -> None:
    """An administrator opening a farm id that does not exist is told there is no such farm."""
    page = fresh.open()
    open_farm(page, bridge.url, 987_654, ADMIN)
    page.wait_for_selector("[data-testid=farm-unavailable][data-reason=not_found]")
    assert "There is no such farm" in page.inner_text("[data-testid=farm-unavailable]")


def chart_state(page: Page) -> dict[str, Any]:
    """What the chart drew, as it says on its element (uPlot's x scale in s, its null
    points, the points with a band) and whether it is loading, empty, ready or failed."""
    st: dict[str, Any] = page.evaluate(
        """() => { const d = document.querySelector('[data-testid=chart]').dataset;
                   return {state: d.state, xMin: Number(d.xMin), xMax: Number(d.xMax),
                           gaps: JSON.parse(d.gaps || '[]'), band: Number(d.band || 0)}; }"""
    )
    return st


def wait_for_chart(page: Page, state: str, span_ms: int) -> None:
    """Waits until the chart is in `state` with an x scale `span_ms` wide."""
    wait_for_js(
        page,
        "([state, span]) => { const d = document.querySelector('[data-testid=chart]')?.dataset;"
        " return d && d.state === state && Math.abs((d.xMax - d.xMin) * 1000 - span) < 1000; }",
        arg=[state, span_ms],
    )


@pytest.mark.bridge_env(FARMBRIDGE_LOGIN_RATE_PER_MIN=LOGIN_RATE)
def test_chart_spans_the_window_breaks_at_gaps_and_draws_the_band(
    fresh: FreshPages, bridge: Bridge, admin: Api
) -> None:
    """Readings 6 to 5 days ago and from 2.5 days ago to 2 minutes ago, with a gap
    between: "1 h" spans the whole hour though data covers only its end, "7 d" spans a
    week, with a null point in the gap and a min/max band around the average, from bucket
    requests aligned for the rollups; a load in flight says "Loading…", a failed one says
    so, neither looks like "no data"; a sensor in another unit compared on the same chart
    gets a second y axis."""
    farm_id, created = make_farm(admin)
    admin.ok(
        "PATCH",
        f"/api/v1/devices/{created['device']['id']}",
        json={"expected_interval_s": READING_STEP_MS / 1000},
    )
    now = int(time.time() * 1000)
    gap = (now - 5 * DAY_MS, now - 5 * DAY_MS // 2)
    spans = [(now - 6 * DAY_MS, gap[0]), (gap[1], now - 2 * 60_000)]
    readings = [
        {"sensor": "soil", "value": 40.0 + (t // READING_STEP_MS) % 7, "ts": t}
        for lo, hi in spans
        for t in range(lo, hi + 1, READING_STEP_MS)
    ]
    ingest(bridge.url, created["key"], {"readings": readings})
    air = admin.device(farm_id, "air", sensors=[{"name": "temp", "unit": "C"}])
    ingest(bridge.url, air["key"], {"sensor": "temp", "value": 21.5, "ts": now - 3 * DAY_MS})
    for t in range(now - 2 * 60_000 + 30_000, now, 30_000):  # the last 2 minutes, densely
        ingest(bridge.url, created["key"], {"sensor": "soil", "value": 45.0, "ts": t})

    page = fresh.open()
    buckets: list[str] = []
    page.on("request", lambda r: buckets.append(r.url) if "/buckets" in r.url else None)
    open_farm(page, bridge.url, farm_id, ADMIN)
    wait_until_live(page)

    # 1 h: the x scale is the hour, not the 2 minutes that have data.
    wait_for_chart(page, "ready", HOUR_MS)
    hour = chart_state(page)
    assert hour["xMax"] * 1000 >= now
    assert hour["xMax"] * 1000 - now < 60_000

    # 7 d, its request held: the chart says it is loading, not that there is no data.
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/buckets?*", hold)
    page.click("[data-testid=range-7d]")
    wait_for_chart(page, "loading", 7 * DAY_MS)
    assert page.is_visible("text=Loading…")
    assert not page.is_visible("text=No data in this range")
    deadline = time.monotonic() + 10
    while not held:  # the route's handler runs while Playwright is called
        assert time.monotonic() < deadline, "the 7 d buckets were not requested"
        page.wait_for_timeout(20)
    held[0].continue_()
    page.unroute("**/buckets?*")

    wait_for_chart(page, "ready", 7 * DAY_MS)
    week = chart_state(page)
    assert week["xMin"] * 1000 <= now - 7 * DAY_MS + 60_000
    assert week["xMax"] * 1000 >= now
    in_gap = [x for x in week["gaps"] if gap[0] < x * 1000 < gap[1]]
    assert in_gap, f"no null point in the gap: {week['gaps']}"
    assert week["band"] > 100, "the buckets' min/max band is missing"
    assert not page.is_visible("text=Loading…")
    screenshot(page, "chart-gap-band", full_page=False)

    # The 7 d request: whole 5-minute buckets from an aligned start, answered from the rollups.
    (url,) = [u for u in buckets if "bucket_s=1800" in u]
    start = int(url.split("start=")[1].split("&")[0])
    assert start % (1800 * 1000) == 0
    assert "end=" not in url, "a window ending now asks up to now"

    # 24 h, its request failing: an error, not "no data".
    page.route("**/buckets?*", lambda route: route.abort())
    page.click("[data-testid=range-24h]")
    wait_for_chart(page, "error", DAY_MS)
    assert page.is_visible("text=Cannot load the history")
    assert not page.is_visible("text=No data in this range")
    page.unroute("**/buckets?*")

    # Another sensor in another unit on the same chart: a second y axis.
    page.click("[data-testid=range-7d]")
    wait_for_chart(page, "ready", 7 * DAY_MS)
    page.select_option("[data-testid=compare]", str(air["sensors"][0]["id"]))
    wait_for_js(page, "() => document.querySelector('[data-testid=chart]')?.dataset.yAxes === '2'")
    wait_for_chart(page, "ready", 7 * DAY_MS)
    assert any(gap[0] < x * 1000 < gap[1] for x in chart_state(page)["gaps"])
    screenshot(page, "chart-compare", full_page=False)

    # A custom range: the x scale is from..to, and the bucket size follows (2 days: 10 min).
    page.fill("[data-testid=range-from]", "2026-01-01T00:00")
    page.fill("[data-testid=range-to]", "2026-01-03T00:00")
    with page.expect_request("**/buckets?*") as asked:
        page.click("[data-testid=range-apply]")
    wait_for_chart(page, "empty", 2 * DAY_MS)
    assert "bucket_s=600" in asked.value.url
    assert page.is_visible("text=No data in this range")
