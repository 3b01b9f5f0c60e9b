"""The signature of a webhook body: `sha256=` and the hex HMAC-SHA256 of the raw bytes.

A receiver recomputes it with the webhook's secret over the body exactly as received
(before any JSON parsing) and compares in constant time; docs/operations.md has the recipe.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "X-FarmBridge-Signature"
DELIVERY_HEADER: Final = "X-FarmBridge-Delivery"
TIMESTAMP_HEADER: Final = "X-FarmBridge-Timestamp"
TOPIC_HEADER: Final = "X-FarmBridge-Topic"
SCHEME: Final = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value for `body` signed with `secret`: `sha256=<64 hex digits>`."""
    return SCHEME + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """True when `header` is the signature of `body` with `secret` (constant time)."""
    return hmac.compare_digest(sign(secret, body), header)
