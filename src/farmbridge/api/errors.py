"""FastAPI's exception handlers: domain errors through farmbridge.http_errors, request
validation errors with the field at fault.

Unknown errors are left to `api.middleware.RequestContext`, which logs each one once and
answers 500 internal_error with the request id. A handler for `Exception` here would run
inside Starlette's ServerErrorMiddleware, which re-raises after it, and the server would
log the same error a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from farmbridge.domain.errors import DomainError
from farmbridge.http_errors import error_body, error_response

FASTAPI_BODY_PARSE_ERROR: Final = "There was an error parsing the body"


def field_path(loc: Sequence[Any], error_type: str = "") -> str:
    """`("body", "sensors", 1, "name")` -> `sensors[1].name`, the style ingest uses too."""
    if error_type == "json_invalid" or (error_type == "missing" and tuple(loc) == ("body",)):
        return "body"
    out = ""
    for i, part in enumerate(loc):
        if i == 0 and part in ("body", "query", "path", "header"):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> Response:
        status, body, headers = error_response(exc)
        return Response(body, status, headers=headers, media_type="application/json")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = field_path(first.get("loc", ()), str(first.get("type", "")))
        body = error_body("invalid", f"{field}: {first.get('msg')}", field)
        return JSONResponse(body, 422)

    @app.exception_handler(ClientDisconnect)
    async def disconnected(_: Request, exc: ClientDisconnect) -> Response:
        return Response(status_code=499)  # nobody is listening any more

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == FASTAPI_BODY_PARSE_ERROR:
            # A body FastAPI could not even decode (bytes that are not UTF-8, nesting past
            # the decoder's recursion) is malformed JSON like any other: 422, field body,
            # on every router (the device routes too), never an undocumented 400.
            return JSONResponse(error_body("invalid", "body: not valid JSON", "body"), 422)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)
