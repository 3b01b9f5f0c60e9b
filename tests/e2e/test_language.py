"""The dashboard in Korean for a Korean browser, switched to English and back in the header."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from farmbridge.demo import DEMO_FARM, DEMO_PASSWORD, DEMO_USER
from tests.e2e.conftest import DemoBridge, Probe, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

LANGUAGE_KEY = "farmbridge.language"
"""web-admin/src/i18n/index.ts LANGUAGE_STORAGE_KEY: the user's choice, in localStorage."""
SWITCH = "[data-testid=language-switch]"


@pytest.fixture
def korean_page(browser: Browser, demo: DemoBridge, probe: Probe) -> Iterator[Page]:
    """A fresh tab of a browser whose language is Korean; its page errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    yield tab
    context.close()
    assert not errors, errors


def html_lang(page: Page) -> str:
    return str(page.evaluate("document.documentElement.lang"))


def test_language_follows_a_korean_browser_and_switches(
    korean_page: Page, demo: DemoBridge, probe: Probe
) -> None:
    """A ko-KR browser gets Korean and lang="ko" from the login on; the header switches to
    English and back, each choice kept across a reload."""
    page = korean_page
    page.goto(demo.url + "/")
    page.wait_for_selector("input[name=username]")
    assert html_lang(page) == "ko"
    assert page.inner_text("h1") == "로그인"
    screenshot(page, "login-ko")
    page.fill("input[name=username]", DEMO_USER)
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    page.wait_for_selector("text=사용자 이름 또는 비밀번호가 틀렸습니다.")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")

    page.wait_for_selector(f"[data-testid=farm-card-{DEMO_FARM}]")
    page.wait_for_selector("nav >> text=농장 현황")
    assert page.inner_text("h1.page-title") == "농장"
    page.click(f"[data-testid=farm-card-{DEMO_FARM}]")
    page.wait_for_selector(f"[data-testid=value-{probe.sensor_id}]")
    page.wait_for_selector("[data-testid=alarms-panel] h2 >> text=경보")
    page.wait_for_selector("[data-testid=connection-indicator] >> text=연결됨")
    assert page.input_value(SWITCH) == "ko"
    screenshot(page, "farm-dashboard-ko")

    page.select_option(SWITCH, "en")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_selector("[data-testid=alarms-panel] h2 >> text=Alarms")
    page.wait_for_selector("nav >> text=Overview")
    assert page.query_selector("nav >> text=농장 현황") is None
    assert page.evaluate(f"localStorage.getItem('{LANGUAGE_KEY}')") == "en"

    page.reload()
    page.wait_for_selector(f"[data-testid=value-{probe.sensor_id}]")
    assert html_lang(page) == "en"
    page.wait_for_selector("nav >> text=Overview")

    page.select_option(SWITCH, "ko")
    page.wait_for_function("document.documentElement.lang === 'ko'")
    page.wait_for_selector("[data-testid=alarms-panel] h2 >> text=경보")
    page.wait_for_selector("nav >> text=농장 현황")
    assert page.evaluate(f"localStorage.getItem('{LANGUAGE_KEY}')") == "ko"
