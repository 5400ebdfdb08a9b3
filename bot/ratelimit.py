"""Token-bucket rate limits, per key (a session id, a client address), in memory per process.

With several worker processes each enforces its own limits; a limit of N per process is then
at most N x workers overall, which is what these limits are for (stopping floods, not billing).
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """`allow(key)` spends one token; buckets hold `burst` tokens and refill at `rate` per second."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, stamp)

    def allow(self, key: str) -> bool:
        now = self.clock()
        tokens, stamp = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:  # forget the least recently seen keys
            self._buckets.popitem(last=False)
        return allowed
