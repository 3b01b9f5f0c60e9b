"""Posting a notification to a webhook: the JSON body, its signature, a short timeout.

2xx is delivered; any other status, a time-out or a connection error is an outcome to
retry. httpx's exceptions stop here, turned into the outcome's error text.
"""

from __future__ import annotations

from typing import Final

import httpx
import orjson

from farmbridge import __version__
from farmbridge.domain.notifications import Delivery, Outcome, Webhook
from farmbridge.egress.signature import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOPIC_HEADER,
    sign,
)

MAX_ERROR_CHARS: Final = 500
USER_AGENT: Final = f"FarmBridge-Webhook/{__version__}"


class WebhookSender:
    """One pooled httpx client for every webhook; redirects are not followed (a 3xx is
    not a delivery), and the body is the payload's JSON, exactly the signed bytes."""

    def __init__(self, *, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None  # made on the loop that sends

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout_s),
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT},
            )
        return self._client

    async def post(self, webhook: Webhook, delivery: Delivery, timestamp_ms: int) -> Outcome:
        body = orjson.dumps(delivery.payload)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(webhook.secret, body),
            DELIVERY_HEADER: str(delivery.id),
            TIMESTAMP_HEADER: str(timestamp_ms),
            TOPIC_HEADER: delivery.topic,
        }
        try:
            response = await self._http().post(webhook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Outcome(ok=False, error=_describe(exc))
        if 200 <= response.status_code < 300:
            return Outcome(ok=True, status=response.status_code)
        return Outcome(ok=False, status=response.status_code, error=f"HTTP {response.status_code}")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:MAX_ERROR_CHARS]
