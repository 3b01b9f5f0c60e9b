"""End-to-end fixtures: a real demo bridge (simulated greenhouse) and Debian's headless Chromium.

Playwright drives the system browser (`/usr/bin/chromium`, apt package `chromium`); it never
downloads one. The run stops, saying why, when Playwright, the browser or the
dashboard's build (`cd web-admin && npm ci && npm run build`) is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx
import pytest

from farmbridge.demo import DEMO_FARM, DEMO_PASSWORD, DEMO_USER
from farmbridge.webui import WEB_DIR
from tests.conftest import free_port
from tests.integration.api_client import Api

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM: Final = Path(os.environ.get("FARMBRIDGE_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS: Final = (
    Path(os.environ["FARMBRIDGE_E2E_SCREENSHOTS"])
    if os.environ.get("FARMBRIDGE_E2E_SCREENSHOTS")
    else None
)
"""Where `screenshot` writes: docs/screenshots/ under `make screenshots`. Unset (a test run),
the scenes are rendered all the same and written nowhere, so tests leave the tree as it was."""
BROWSER_MODULES: Final = frozenset(
    {
        "test_dashboard.py",
        "test_dashboard_truth.py",
        "test_alarms.py",
        "test_language.py",
        "test_display.py",
        "test_admin_tasks.py",
        "test_live_figures.py",
    }
)
"""The modules that drive Chromium: their collection fails, saying why, when it cannot run."""
BROWSER_LOCALE: Final = "en-US"
"""The browser's language for the tests that read English words on screen: the dashboard
follows `navigator.languages` (web-admin/src/i18n), so it is set, never left to the host."""
DEMO_INTERVAL_S: Final = "0.5"
"""Each simulated device reports twice a second: live data for the no-polling test."""


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if not CHROMIUM.exists() and shutil.which(str(CHROMIUM)) is None:
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if not (WEB_DIR / "index.html").is_file():
        return "the dashboard is not built (cd web-admin && npm ci && npm run build)"
    return None


def _is_e2e(item: pytest.Item) -> bool:
    return item.path.parent == Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Runs the end-to-end tests last (the slowest, after the fast feedback)."""
    items.sort(key=_is_e2e)  # stable: the order within each group is kept


class _Unrunnable(pytest.Module):
    """The browser tests' module when something they need is missing: its collection fails."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        raise self.CollectError(f"end-to-end tests cannot run: {_missing()}")


def pytest_pycollect_makemodule(
    module_path: Path, parent: pytest.Collector
) -> pytest.Module | None:
    """When something the browser tests need is missing the run stops, saying what (a
    collection error, also under xdist): `make test` installs it all, and a browser test
    that silently skipped would prove nothing."""
    if module_path.name in BROWSER_MODULES and _missing() is not None:
        return _Unrunnable.from_parent(parent, path=module_path)
    return None


@dataclass
class DemoBridge:
    """`farmbridge demo` as a subprocess on a fixed port: stop and start it as often as needed."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "demo.log"

    def start(self) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "farmbridge",
                    "demo",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    "--interval-s",
                    DEMO_INTERVAL_S,
                    "--time-scale",
                    "60",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "FARMBRIDGE_LOG_LEVEL": "warning"},
            )
        deadline = time.monotonic() + 60  # a busy machine starts it slowly
        while "demo is running" not in self.log_path.read_bytes()[offset:].decode(errors="replace"):
            if self.proc.poll() is not None:
                raise RuntimeError(f"demo exited: {self.log_path.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("demo did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@dataclass(frozen=True)
class Probe:
    """A device of the e2e test's own on the demo farm, fed over the HTTP ingest API."""

    farm_id: int
    device_id: int
    sensor_id: int
    key: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoBridge]:
    bridge = DemoBridge(tmp_path_factory.mktemp("e2e-demo"))
    bridge.start()
    yield bridge
    bridge.stop()


@pytest.fixture(scope="module")
def probe(demo: DemoBridge) -> Probe:
    api = Api(demo.url, DEMO_USER, DEMO_PASSWORD)
    try:
        (farm,) = [f for f in api.ok("GET", "/api/v1/farms") if f["name"] == DEMO_FARM]
        created = api.device(
            farm["id"],
            "e2e-probe",
            sensors=[{"name": "probe", "unit": "u", "min": -1_000_000, "max": 1_000_000}],
        )
    finally:
        api.close()
    return Probe(farm["id"], created["device"]["id"], created["sensors"][0]["id"], created["key"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser: Browser, demo: DemoBridge, probe: Probe) -> Iterator[Page]:
    """One tab for the module's tests, in order; its console errors fail the module at the end."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=BROWSER_LOCALE)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    tab.on(
        "console",
        lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    yield tab
    context.close()
    # Logged on purpose: failed WebSocket handshakes while the server is down, and the
    # 401 of the wrong password tried at login.
    expected = ("WebSocket", "ERR_", "status of 401")
    unexpected = [e for e in errors if not any(x in e for x in expected)]
    assert not unexpected, unexpected


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path | None:
    """Takes a screenshot of the page; writes it as SCREENSHOTS/<name>.png when that is set."""
    if SCREENSHOTS is None:
        page.screenshot(full_page=full_page)
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def ingest(base_url: str, key: str, body: dict[str, Any]) -> httpx.Response:
    r = httpx.post(
        f"{base_url}/api/v1/ingest",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r
