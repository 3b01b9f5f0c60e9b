"""The Web Admin's built files (`web-admin/`, built into `farmbridge/web/`) served at `/`.

The dashboard is a single-page app: a page load of one of its client routes (`/farms/3`,
`/admin/users`) is answered with `index.html`, its hashed assets with long-lived caching.
Paths that belong to the bridge itself (the API, its docs, metrics, health and the
stream) are never taken over, and an API client asking for an unknown path still gets the
JSON 404. Without a build, `/` answers a short page that says how to make one, so a
source checkout without Node.js still starts.

The API's pages (`/docs`, `/redoc`) are served here too, each with a Content-Security-Policy
that allows exactly what its page loads; every other page gets the dashboard's policy
from `api.middleware.RequestContext`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import mimetypes
import re
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.datastructures import Headers
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

WEB_DIR: Final = Path(__file__).parent / "web"
"""Where `npm run build` in web-admin/ puts the dashboard (Vite's outDir)."""

RESERVED_PREFIXES: Final = (
    "/api",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/metrics",
    "/healthz",
    "/readyz",
    "/ws",
)
"""The bridge's own paths: never answered with the dashboard."""

# Not in every system's mime.types: the web app manifest's own type (W3C Web App Manifest).
mimetypes.add_type("application/manifest+json", ".webmanifest")

ASSET_CACHE_CONTROL: Final = "public, max-age=31536000, immutable"
"""Assets carry a content hash in their names, so a browser may keep them for good."""
PAGE_CACHE_CONTROL: Final = "no-cache"
"""index.html names the current assets: a browser asks again each time (cheap with ETag)."""

BUILD_MISSING_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Farm Bridge</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;
line-height:1.5;color:#16211b}}code,pre{{background:#f0f3f1;padding:.1rem .3rem;border-radius:4px}}
pre{{padding:.75rem}}</style></head>
<body><h1>Farm Bridge is running</h1>
<p>The Web Admin dashboard has not been built into this installation
(nothing at <code>{web_dir}</code>). Build it from a source checkout with Node.js 20.19+:</p>
<pre>cd web-admin
npm ci
npm run build</pre>
<p>then reload this page. Meanwhile the API is live: see <a href="/docs">/docs</a>.</p>
</body></html>
"""


CDN: Final = "https://cdn.jsdelivr.net"
"""Where FastAPI's Swagger UI and ReDoc pages load their scripts and styles from."""
FAVICON_ORIGIN: Final = "https://fastapi.tiangolo.com"
SWAGGER_CSP: Final = (
    "default-src 'none'; script-src {cdn} {inline}; style-src {cdn} 'unsafe-inline'; "
    "img-src 'self' data: {favicon}; connect-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""Swagger UI: its bundle and CSS from the CDN, the page's one inline script by hash, the
OpenAPI document and "try it out" calls to the bridge itself."""
REDOC_CSP: Final = (
    "default-src 'none'; script-src {cdn}; "
    "style-src https://fonts.googleapis.com 'unsafe-inline'; font-src https://fonts.gstatic.com; "
    "img-src 'self' data: {favicon} https://cdn.redoc.ly; worker-src blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""ReDoc: its standalone bundle (which injects its styles and runs search in a blob worker)
and Google's fonts, as FastAPI's page names them."""
_INLINE_SCRIPT: Final = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_INLINE_STYLE: Final = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def _hashes(pattern: re.Pattern[str], page: str) -> str:
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in pattern.findall(page)
    )


def inline_script_hashes(page: str) -> str:
    """CSP sources ('sha256-...') for each inline `<script>` of `page`."""
    return _hashes(_INLINE_SCRIPT, page)


_BUILD_MISSING_STYLE: Final = _hashes(_INLINE_STYLE, BUILD_MISSING_PAGE.format(web_dir=""))
BUILD_MISSING_CSP: Final = (
    f"default-src 'none'; style-src {_BUILD_MISSING_STYLE}; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""The no-build page: its one inline style block, nothing else."""


def mount_docs(app: FastAPI) -> None:
    """Serves `/docs` (Swagger UI) and `/redoc` for `app`'s OpenAPI document, each with its
    own Content-Security-Policy; build `app` with `docs_url=None, redoc_url=None`."""
    openapi_url = app.openapi_url or "/openapi.json"
    swagger = get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} - Swagger UI")
    swagger_page = bytes(swagger.body).decode()
    swagger_csp = SWAGGER_CSP.format(
        cdn=CDN, inline=inline_script_hashes(swagger_page), favicon=FAVICON_ORIGIN
    )
    redoc_page = bytes(
        get_redoc_html(openapi_url=openapi_url, title=f"{app.title} - ReDoc").body
    ).decode()
    redoc_csp = REDOC_CSP.format(cdn=CDN, favicon=FAVICON_ORIGIN)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(swagger_page, headers={"Content-Security-Policy": swagger_csp})

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return HTMLResponse(redoc_page, headers={"Content-Security-Policy": redoc_csp})


def is_reserved(path: str) -> bool:
    """True for the bridge's own paths (`/api/...`, `/ws`, ...), which the SPA never answers."""
    return any(path == p or path.startswith(p + "/") for p in RESERVED_PREFIXES)


def _file_in(directory: Path, path: str) -> Path | None:
    """The file `path` names inside `directory`, or None (missing, a folder, hidden, or outside)."""
    rel = path.lstrip("/")
    if not rel or any(part.startswith(".") for part in rel.split("/")):
        return None
    try:
        root = directory.resolve()
        candidate = (root / rel).resolve()
    except (OSError, ValueError):
        return None
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def respond(directory: Path, path: str, *, wants_html: bool) -> Response | None:
    """The dashboard's answer to a GET of `path`; None when it has none.

    A file of the build is served as it is. Any other path gets `index.html` (the app
    routes it), but only for a page load (`wants_html`, an Accept naming text/html) or
    `/` itself: an API client that asks for a path that does not exist keeps the JSON 404.
    """
    found = _file_in(directory, path)
    if found is not None:
        is_asset = path.startswith("/assets/")
        cache = ASSET_CACHE_CONTROL if is_asset else PAGE_CACHE_CONTROL
        return FileResponse(found, headers={"Cache-Control": cache})
    if path.startswith("/assets/") or not (wants_html or path == "/"):
        return None
    index = directory / "index.html"
    if index.is_file():
        return FileResponse(index, headers={"Cache-Control": PAGE_CACHE_CONTROL})
    page = BUILD_MISSING_PAGE.format(web_dir=html.escape(str(directory)))
    headers = {"Cache-Control": PAGE_CACHE_CONTROL, "Content-Security-Policy": BUILD_MISSING_CSP}
    return HTMLResponse(page, headers=headers)


def mount(app: FastAPI, *, directory: Path = WEB_DIR) -> None:
    """Serves the dashboard from `directory` for every GET no route of `app` answers.

    Installed as the router's fallback, after the API's routes: a path an API route
    matches with another method still gets 405, an unknown API path still gets the JSON
    404, and nothing about the API changes.
    """
    fallback: ASGIApp = app.router.default

    async def dashboard(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            if not is_reserved(path):
                accept = Headers(scope=scope).get("accept", "")
                response = respond(directory, path, wants_html="text/html" in accept)
                if response is not None:
                    await response(scope, receive, send)
                    return
        await fallback(scope, receive, send)

    app.router.default = dashboard
