"""The error statuses each route declares in the OpenAPI document, with the error body.

A route's statuses follow from what it is: any /api/v1 route authenticates (401) and
reaches the store (503); a route with an id in its path may find nothing (404); one that
takes input may refuse it (422) and one with a body may find it too large (413); a write
may conflict (409); any caller but one logging in (with a password or a display secret)
may lack the role or the object (403: a user's role, a device's own commands); login, the
display-token exchange and the device routes are rate limited (429). Declared before the
router is included, so FastAPI builds each route's response models as for any `responses=`.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter
from fastapi.routing import APIRoute

from farmbridge.api.schemas import ErrorOut

API_PREFIX: Final = "/api/v1"
LOGIN_PATH: Final = "/api/v1/auth/token"
DISPLAY_TOKEN_PATH: Final = "/api/v1/auth/display-token"  # noqa: S105 - a path
LOGIN_PATHS: Final = frozenset({LOGIN_PATH, DISPLAY_TOKEN_PATH})
RATE_LIMITED_PREFIXES: Final = (*LOGIN_PATHS, "/api/v1/ingest", "/api/v1/lorawan")
BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DESCRIPTIONS: Final = {
    401: "no or bad credentials",
    403: "the caller's role is too weak for this action",
    404: "no such object, or not one the caller may see",
    409: "it exists already, or its state forbids the change",
    413: "request body too large",
    422: "invalid input; `field` names it",
    429: "too many requests; see Retry-After",
    503: "the store is unavailable; `message` names the cause",
}


def statuses_of(route: APIRoute) -> set[int]:
    """The error statuses `route` may answer."""
    path, methods = route.path_format, route.methods or set()
    out: set[int] = set()
    # The body limit holds for every request body, also those a route reads raw (LoRaWAN).
    has_body = route.body_field is not None or bool(methods & BODY_METHODS)
    if route.dependant.path_params or route.dependant.query_params or has_body:
        out.add(422)
    if has_body:
        out.add(413)
    if "{" in path:
        out.add(404)
    if path.startswith(API_PREFIX):
        out |= {401, 503}
        if path not in LOGIN_PATHS:
            out.add(403)
        if methods & WRITE_METHODS and path not in LOGIN_PATHS:
            out.add(409)
        if path.startswith(RATE_LIMITED_PREFIXES):
            out.add(429)
    return out


def declare_errors(router: APIRouter) -> APIRouter:
    """Adds each route's error statuses (with the ErrorOut body) to its `responses`,
    keeping whatever a route declares itself; returns the router, for include_router."""
    for route in router.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for status in sorted(statuses_of(route)):
            declared: dict[str, Any] = {"model": ErrorOut, "description": DESCRIPTIONS[status]}
            route.responses.setdefault(status, declared)
    return router
