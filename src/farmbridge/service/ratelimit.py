"""Token-bucket rate limits keyed by anything hashable (a device, a user, an address), and
the per-account login delay that grows with consecutive failures."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Final

from farmbridge.domain.clock import SYSTEM_CLOCK, Clock
from farmbridge.domain.errors import RateLimited

MAX_TRACKED_KEYS: Final = 100_000


class RateLimiter:
    """Allows `rate_per_s` on average with bursts up to `burst`; memory bounded by key count.

    Buckets refill on `clock`'s monotonic time (the machine's unless told otherwise).
    """

    def __init__(
        self,
        *,
        rate_per_s: float,
        burst: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._rate = rate_per_s
        self._burst = burst
        self._clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def _tokens(self, key: Hashable, now: float) -> float:
        tokens, last = self._buckets.get(key, (self._burst, now))
        return min(self._burst, tokens + (now - last) * self._rate)

    def wait_s(self, key: Hashable, cost: float = 1.0) -> float:
        """Seconds until `key` could spend `cost` tokens (0 when it can now); spends nothing."""
        tokens = self._tokens(key, self._clock.monotonic())
        return 0.0 if tokens >= cost else (cost - tokens) / self._rate

    def charge(self, key: Hashable, cost: float = 1.0) -> None:
        """Spends up to `cost` of `key`'s tokens, never raising: an empty bucket stays empty."""
        now = self._clock.monotonic()
        self._remember(key, max(0.0, self._tokens(key, now) - cost), now)

    def take(self, key: Hashable, cost: float = 1.0) -> None:
        """Spends `cost` tokens of `key`'s bucket or raises RateLimited with the wait."""
        now = self._clock.monotonic()
        tokens = self._tokens(key, now)
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            raise RateLimited("rate limit exceeded", retry_after_s=(cost - tokens) / self._rate)
        self._remember(key, tokens - cost, now)

    def _remember(self, key: Hashable, tokens: float, now: float) -> None:
        if len(self._buckets) >= MAX_TRACKED_KEYS and key not in self._buckets:
            # Full buckets carry no state worth keeping; forget them first.
            self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self._burst}
        self._buckets[key] = (tokens, now)


FREE_LOGIN_FAILURES: Final = 3
LOGIN_DELAY_BASE_S: Final = 1.0
LOGIN_DELAY_CAP_S: Final = 30.0
MAX_TRACKED_ADDRESSES_PER_ACCOUNT: Final = 1_000


@dataclass(slots=True)
class _Streak:
    failures: int = 0
    # Address -> monotonic time of its last failure on the account in this streak.
    last_failure_s: dict[str, float] = field(default_factory=dict)


class LoginDelay:
    """The per-account login delay: it grows with the account's consecutive failures and
    runs, for each address, from that address's own last failure on the account.

    After `FREE_LOGIN_FAILURES` consecutive failures (from anywhere) the delay is
    `LOGIN_DELAY_BASE_S * 2 ** (failures - FREE_LOGIN_FAILURES)`, capped at
    `LOGIN_DELAY_CAP_S`. An address that failed on the account in the current streak
    must wait that long after its last failure before its next attempt is checked; an
    address that has not failed since the account's last success is checked at once.
    So an attacker who keeps failing slows down only himself and cannot keep the real
    user out for longer than the cap after the user's own last failure; a success clears
    the account's streak.
    """

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._streaks: dict[str, _Streak] = {}

    def delay_s(self, failures: int) -> float:
        """The delay after `failures` consecutive failures."""
        if failures < FREE_LOGIN_FAILURES:
            return 0.0
        exponent = min(failures - FREE_LOGIN_FAILURES, 32)  # 2**32 s is far past the cap
        return min(LOGIN_DELAY_CAP_S, LOGIN_DELAY_BASE_S * 2.0**exponent)

    def wait_s(self, account: str, address: str) -> float:
        """Seconds `address` must still wait before an attempt on `account` is checked."""
        streak = self._streaks.get(account)
        last = streak.last_failure_s.get(address) if streak else None
        if streak is None or last is None:
            return 0.0
        return max(0.0, last + self.delay_s(streak.failures) - self._clock.monotonic())

    def check(self, account: str, address: str) -> None:
        """Raises RateLimited (with the wait) while `address`'s delay on `account` runs."""
        wait = self.wait_s(account, address)
        if wait > 0:
            raise RateLimited("too many failed logins, wait", retry_after_s=wait)

    def failed(self, account: str, address: str) -> None:
        """Counts a wrong password for `account` from `address`."""
        now = self._clock.monotonic()
        streak = self._streaks.get(account)
        if streak is None:
            if len(self._streaks) >= MAX_TRACKED_KEYS:
                self._forget_expired(now)
            streak = self._streaks[account] = _Streak()
        streak.failures += 1
        if (
            len(streak.last_failure_s) >= MAX_TRACKED_ADDRESSES_PER_ACCOUNT
            and address not in streak.last_failure_s
        ):
            # An address whose delay has run out is checked at once, as if unknown: forgetting
            # it changes nothing. The newest failures are kept when none has run out.
            delay = self.delay_s(streak.failures)
            live = {a: t for a, t in streak.last_failure_s.items() if t + delay > now}
            newest = sorted(live.items(), key=lambda item: item[1])
            streak.last_failure_s = dict(newest[-(MAX_TRACKED_ADDRESSES_PER_ACCOUNT - 1) :])
        streak.last_failure_s[address] = now

    def succeeded(self, account: str) -> None:
        """The right password: the account's streak ends."""
        self._streaks.pop(account, None)

    def _forget_expired(self, now: float) -> None:
        self._streaks = {
            account: streak
            for account, streak in self._streaks.items()
            if any(t + self.delay_s(streak.failures) > now for t in streak.last_failure_s.values())
        }
