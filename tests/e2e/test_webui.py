"""The bridge serving the dashboard's build: files, the SPA fallback, and the bridge's own paths."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from farmbridge import webui

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def make_app(directory: Path) -> httpx.AsyncClient:
    app = FastAPI()

    @app.get("/api/v1/thing")
    async def thing() -> dict[str, str]:
        return {"ok": "yes"}

    webui.mount(app, directory=directory)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bridge")


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>app</title>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / ".gitignore").write_text("*\n")
    return tmp_path


async def test_webui_serves_index_and_hashed_assets(built: Path) -> None:
    """`/` is the app (never cached stale); assets are cached for good."""
    client = make_app(built)
    r = await client.get("/")
    assert r.status_code == 200
    assert "<title>app</title>" in r.text
    assert r.headers["cache-control"] == webui.PAGE_CACHE_CONTROL
    r = await client.get("/assets/index-abc123.js")
    assert r.status_code == 200
    assert r.headers["cache-control"] == webui.ASSET_CACHE_CONTROL
    assert "javascript" in r.headers["content-type"]


async def test_webui_answers_client_routes_of_a_page_load_with_the_app(built: Path) -> None:
    """A browser opening /farms/3 or /admin/users directly gets index.html."""
    client = make_app(built)
    for path in ("/farms/3", "/admin/users", "/login"):
        r = await client.get(path, headers=HTML)
        assert r.status_code == 200, path
        assert "<title>app</title>" in r.text


async def test_webui_leaves_the_bridges_own_paths_alone(built: Path) -> None:
    """API routes still answer; unknown API paths, missing assets and non-HTML asks get 404s."""
    client = make_app(built)
    assert (await client.get("/api/v1/thing")).json() == {"ok": "yes"}
    for path in ("/api/v1/nope", "/ws", "/metrics/x", "/healthz", "/docs/x", "/assets/gone.js"):
        assert (await client.get(path, headers=HTML)).status_code == 404, path
    assert (await client.get("/nope")).status_code == 404  # an API client's Accept: */*
    assert (await client.post("/farms/3")).status_code in (404, 405)
    assert (await client.get("/api/v1/thing", headers=HTML)).json() == {"ok": "yes"}


async def test_webui_serves_no_hidden_file_and_nothing_outside_its_folder(built: Path) -> None:
    """Dotfiles and paths climbing out of the build are never served as files."""
    (built.parent / "secret.txt").write_text("secret")
    client = make_app(built)
    r = await client.get("/.gitignore", headers=HTML)
    assert "<title>app</title>" in r.text
    r = await client.get("/..%2Fsecret.txt", headers=HTML)
    assert "secret" not in r.text
    assert webui.respond(built, "/../secret.txt", wants_html=False) is None


async def test_webui_without_a_build_says_how_to_make_one(tmp_path: Path) -> None:
    """A checkout without the build answers / with instructions, not an error."""
    client = make_app(tmp_path / "missing")
    r = await client.get("/")
    assert r.status_code == 200
    assert "npm run build" in r.text
    assert (await client.get("/api/v1/thing")).status_code == 200


def test_webui_reserved_paths_match_whole_segments() -> None:
    """/api and /api/... are the bridge's; /apiary is the app's."""
    assert webui.is_reserved("/api")
    assert webui.is_reserved("/api/v1/farms")
    assert webui.is_reserved("/openapi.json")
    assert not webui.is_reserved("/apiary")
    assert not webui.is_reserved("/")
