"""Security headers on the app as built: every page has its CSP and framing refusal, every
answer nosniff, and /docs' policy allows exactly what the page loads."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from farmbridge.api.middleware import DASHBOARD_CSP
from farmbridge.app import build_app
from farmbridge.config import Settings
from farmbridge.domain.clock import FakeClock
from farmbridge.webui import respond
from tests.unit.bridge_services import SECRET_KEY, running_services


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_services(tmp_path, FakeClock()) as svc:
        app = build_app(Settings(data_dir=tmp_path, secret_key=SECRET_KEY), svc)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as c:
            yield c


def _directives(csp: str) -> dict[str, list[str]]:
    parts = (d.split() for d in csp.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


def _assert_page_headers(resp: httpx.Response) -> dict[str, list[str]]:
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    directives = _directives(resp.headers["Content-Security-Policy"])
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    return directives


async def test_security_headers_dashboard_page(client: httpx.AsyncClient) -> None:
    """The dashboard (and any client route of it) carries the dashboard's own CSP."""
    for path in ("/", "/farms/3"):
        resp = await client.get(path, headers={"Accept": "text/html"})
        directives = _assert_page_headers(resp)
        assert resp.headers["Content-Security-Policy"] == DASHBOARD_CSP
        assert directives["script-src"] == ["'self'"]
        assert directives["connect-src"] == ["'self'"]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_security_headers_docs_allow_exactly_what_page_loads(
    client: httpx.AsyncClient, path: str
) -> None:
    """Each external script and stylesheet of the API page, and each inline script by its
    hash, is allowed by the page's CSP; nothing else runs."""
    resp = await client.get(path)
    directives = _assert_page_headers(resp)
    page = resp.text
    for src in re.findall(r'<script src="([^"]+)"', page):
        assert _origin(src) in directives["script-src"]
    for href in re.findall(r'<link[^>]*href="([^"]+)"[^>]*rel="stylesheet"', page):
        assert _origin(href) in directives["style-src"]
    for href in re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', page):
        assert _origin(href) in directives["style-src"]
    for href in re.findall(r'<link rel="shortcut icon" href="([^"]+)"', page):
        assert _origin(href) in directives["img-src"]
    inline = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in inline
    ]
    allowed_sources = {s for s in directives["script-src"] if s.startswith("'sha256-")}
    assert set(hashes) == allowed_sources
    assert directives["connect-src"] == ["'self'"]
    assert directives["default-src"] == ["'none'"]


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json", "/api/v1/farms", "/api/v1/nope"])
async def test_security_headers_json_answers_nosniff(client: httpx.AsyncClient, path: str) -> None:
    """JSON answers (ok, 401, 404) are never sniffed and carry a request id."""
    resp = await client.get(path)
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert len(resp.headers["X-Request-ID"]) == 32


def test_security_headers_build_missing_page_allows_its_style(tmp_path: Path) -> None:
    """Without a dashboard build, the explanatory page's inline style is allowed by hash."""
    resp = respond(tmp_path, "/", wants_html=True)
    assert resp is not None
    page = bytes(resp.body).decode()
    (style,) = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    directives = _directives(resp.headers["Content-Security-Policy"])
    assert directives["style-src"] == [f"'sha256-{digest}'"]
    assert directives["frame-ancestors"] == ["'none'"]
