"""The dashboard as an installable web app, in Chromium: a manifest with home-screen icons,
and a service worker that keeps only the app shell. Offline, the kept shell opens and says
it is offline; the API and the stream are never answered from the cache."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farmbridge.demo import DEMO_FARM, DEMO_PASSWORD, DEMO_USER
from farmbridge.webui import RESERVED_PREFIXES
from tests.e2e.conftest import DemoBridge

if TYPE_CHECKING:
    from playwright.sync_api import Browser

SW_SOURCE = Path(__file__).resolve().parents[2] / "web-admin" / "public" / "sw.js"


def test_the_service_worker_passes_every_bridge_path_to_the_network() -> None:
    """sw.js names exactly the bridge's own paths as never cached."""
    listed = re.search(r"const BRIDGE_PATHS = \[([^\]]*)\]", SW_SOURCE.read_text())
    assert listed is not None
    assert tuple(re.findall(r'"([^"]+)"', listed.group(1))) == RESERVED_PREFIXES


def test_installable_and_the_shell_opens_offline_without_cached_data(
    browser: Browser, demo: DemoBridge
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(demo.url + "/")
        href = page.get_attribute("link[rel=manifest]", "href")
        assert href == "/manifest.webmanifest"
        answer = page.request.get(demo.url + href)
        assert answer.headers["content-type"].startswith("application/manifest+json")
        manifest: dict[str, Any] = answer.json()
        assert manifest["display"] == "standalone"
        assert manifest["start_url"] == "/"
        sizes = {icon["sizes"] for icon in manifest["icons"] if icon["type"] == "image/png"}
        assert {"192x192", "512x512"} <= sizes
        for icon in manifest["icons"]:
            assert page.request.get(demo.url + icon["src"]).ok
        scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == demo.url + "/"

        # Signed in and live, controlled by the worker: it keeps the shell as it loads.
        page.reload()
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        page.wait_for_selector("input[name=username]")
        page.fill("input[name=username]", DEMO_USER)
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(f"[data-testid=farm-card-{DEMO_FARM}]")
        kept: list[str] = page.evaluate(
            """async () => {
                const out = [];
                for (const name of await caches.keys()) {
                    const cache = await caches.open(name);
                    for (const req of await cache.keys()) out.push(new URL(req.url).pathname);
                }
                return out;
            }"""
        )
        assert "/" in kept
        assert any(p.startswith("/assets/") for p in kept)
        assert not [p for p in kept if any(p.startswith(r) for r in RESERVED_PREFIXES)], kept

        # No network at all: the kept shell opens, and it says it is offline rather than
        # showing anything as current.
        context.set_offline(True)
        page.reload()
        page.wait_for_selector("#root > *")
        page.wait_for_selector("[data-testid=offline-banner]", timeout=10_000)
    finally:
        context.close()
