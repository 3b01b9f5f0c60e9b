"""The route class of every REST router: JSON bodies parsed with a bound on their nesting.

Python's JSON decoder recurses once per level, so a body of many thousand `[` fails deep
inside FastAPI with RecursionError, and bytes that are not UTF-8 fail with
UnicodeDecodeError: FastAPI answers both with an undocumented 400. Here they are JSON
errors like any other malformed body (422 `invalid`, field `body`). The schemas bound
nesting further where free-form JSON is kept (domain/bounds.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response


class BoundedJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = json.loads(body)
            except RecursionError:
                doc = body.decode(errors="replace")
                raise json.JSONDecodeError("JSON nested too deep", doc, 0) from None
            except UnicodeDecodeError as exc:
                doc = body.decode(errors="replace")
                raise json.JSONDecodeError("not UTF-8 text", doc, exc.start) from None
        return self._json


class BoundedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            return await handler(BoundedJsonRequest(request.scope, request.receive))

        return bounded
