"""Device liveness: the expected reporting interval, how it is learned, and when silence
means offline.

Pure functions on plain numbers, shared by the store's ingest write path (which keeps the
learned estimate on the devices row), the liveness sweep and the live snapshot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

BURST_FLOOR_MS: Final = 1_000
"""Messages closer than this to the start of their burst are one report: a device that
posts three messages at once every minute learns a minute, not a few milliseconds."""

LEARN_WEIGHT: Final = 0.25
"""How far one gap moves the estimate, in log space (an exponentially weighted mean)."""

MAX_STEP_RATIO: Final = 2.0
"""One gap counts as at most this many times the estimate (or its inverse): a single
outage or burst moves the estimate by at most 2 ** 0.25, about 19 %, so the estimate is
robust to outliers yet follows a device whose interval really changed in a dozen reports."""

MIN_EXPECTED_INTERVAL_S: Final = 0.1
MAX_EXPECTED_INTERVAL_S: Final = 7 * 86_400.0
"""The bounds of an interval set by hand (a week: a device that reports less often than
that is not watched for liveness)."""

DEFAULT_MULTIPLE: Final = 3.0
DEFAULT_MIN_SILENCE_S: Final = 60.0


def next_estimate(estimate_s: float | None, gap_s: float) -> float:
    """The interval estimate after one more gap between reports (seconds)."""
    if estimate_s is None or estimate_s <= 0:
        return gap_s
    ratio = min(max(gap_s / estimate_s, 1 / MAX_STEP_RATIO), MAX_STEP_RATIO)
    return estimate_s * math.exp(LEARN_WEIGHT * math.log(ratio))


def learn(
    estimate_s: float | None, anchor_ms: int | None, received_ms: int
) -> tuple[float | None, int | None]:
    """(estimate, anchor) after a report received at `received_ms`.

    The anchor is when the current burst began; a report at least BURST_FLOOR_MS after
    it is one gap, and starts the next burst. A report older than the anchor (a clock
    step back) only moves the anchor.
    """
    if anchor_ms is None or received_ms < anchor_ms:
        return estimate_s, received_ms
    gap_ms = received_ms - anchor_ms
    if gap_ms < BURST_FLOOR_MS:
        return estimate_s, anchor_ms
    return next_estimate(estimate_s, gap_ms / 1000), received_ms


@dataclass(frozen=True, slots=True)
class LivenessPolicy:
    """When a silent device is taken as offline: after `multiple` times its interval, and
    never before `min_silence_s` (so a fast device is not marked offline by one hiccup)."""

    multiple: float = DEFAULT_MULTIPLE
    min_silence_s: float = DEFAULT_MIN_SILENCE_S

    def offline_after_s(self, interval_s: float | None) -> float | None:
        """Seconds of silence after which a device of that interval is offline; None when
        its interval is unknown (it is then never marked offline by silence)."""
        if interval_s is None:
            return None
        return max(self.multiple * interval_s, self.min_silence_s)

    def silent_too_long(self, interval_s: float | None, last_seen_ms: int, now_ms: int) -> bool:
        """Whether a device last heard of at `last_seen_ms` is offline at `now_ms`:
        strictly more than `offline_after_s` of silence."""
        after = self.offline_after_s(interval_s)
        return after is not None and now_ms - last_seen_ms > after * 1000
