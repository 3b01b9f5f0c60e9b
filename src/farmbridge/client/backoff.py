"""Reconnect delays: exponential backoff with full jitter, pure, with an injectable random.

Full jitter (delay = uniform(0, min(cap, base * 2**attempt))) spreads clients that lost
the same server over the whole window, so they do not come back in one storm.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Final

RESTART_JITTER_MAX_S: Final = 0.1
"""After a server restart (close 1012) a client comes back at once, spread over this much."""

_MAX_EXPONENT: Final = 62
"""2**attempt beyond this is far past any cap; stops the float from overflowing."""

Uniform = Callable[[float, float], float]
"""Draws a float in [a, b]; `random.uniform` by default, a fixed stand-in in tests."""


def full_jitter_s(attempt: int, *, base_s: float, max_s: float, uniform: Uniform) -> float:
    """The delay before retry number `attempt` (0 for the first): uniform over [0, ceiling].

    The ceiling is `min(max_s, base_s * 2**attempt)`.
    """
    ceiling = min(max_s, base_s * 2 ** min(max(attempt, 0), _MAX_EXPONENT))
    return uniform(0.0, ceiling)


class Backoff:
    """Counts failed attempts and draws the next delay; `reset` after a good connection."""

    def __init__(self, *, base_s: float, max_s: float, uniform: Uniform = random.uniform) -> None:
        """
        Args:
            base_s: the ceiling of the first delay, in seconds.
            max_s: the ceiling no delay goes beyond (a server's `retry_after` aside).
            uniform: the random source, `random.uniform` unless a test injects one.
        """
        if base_s < 0 or max_s < 0:
            raise ValueError("backoff delays must not be negative")
        self.base_s = base_s
        self.max_s = max_s
        self._uniform = uniform
        self.attempt = 0

    def next_delay_s(self, *, retry_after_s: float | None = None) -> float:
        """The delay before the next attempt, then counts the attempt.

        `retry_after_s` (a server's `retry_after_ms`) is a floor: the jitter comes on top.
        """
        delay = full_jitter_s(
            self.attempt, base_s=self.base_s, max_s=self.max_s, uniform=self._uniform
        )
        self.attempt += 1
        return delay + max(retry_after_s or 0.0, 0.0)

    def restart_delay_s(self) -> float:
        """The delay after a server restart: at once, jittered by at most 100 ms; resets."""
        self.reset()
        return self.jitter_s()

    def jitter_s(self) -> float:
        """A small random delay, at most 100 ms, that leaves the attempt count alone."""
        return self._uniform(0.0, RESTART_JITTER_MAX_S)

    def reset(self) -> None:
        """Starts over from the shortest delay (after a connection was authenticated)."""
        self.attempt = 0
