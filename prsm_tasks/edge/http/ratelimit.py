"""A token bucket per user on enqueue: ``rate_per_s`` tokens a second, at most ``burst`` saved.

A bulk enqueue of n tasks costs n tokens. It goes through once the bucket holds
``min(n, burst)`` tokens and may leave it in debt, so a batch larger than the burst is
possible, and the user then waits for the debt to be paid. The buckets live in the edge
process: each edge limits what passes through it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from prsm_tasks.errors import RateLimitedError

MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(
        self,
        *,
        rate_per_s: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0

    def take(self, key: str, cost: int = 1) -> None:
        """Spend ``cost`` tokens of ``key``'s bucket or raise RateLimitedError."""
        if not self.enabled:
            return
        now = self._clock()
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate_per_s)
        needed = min(cost, self.burst)
        if tokens < needed:
            self._buckets[key] = (tokens, now)
            wait_s = (needed - tokens) / self.rate_per_s
            retry_after = max(1, math.ceil(wait_s))
            raise RateLimitedError(
                f"rate limit of {self.rate_per_s:g} tasks/s (burst {self.burst}) exceeded; "
                f"retry in {retry_after} s",
                retry_after_s=retry_after,
            )
        if len(self._buckets) >= MAX_BUCKETS and key not in self._buckets:
            self._forget_full_buckets(now)
        self._buckets[key] = (tokens - cost, now)

    def _forget_full_buckets(self, now: float) -> None:
        """Buckets that refilled completely carry no information: drop them."""
        full_after_s = self.burst / self.rate_per_s
        self._buckets = {
            key: value for key, value in self._buckets.items() if now - value[1] < full_after_s
        }
