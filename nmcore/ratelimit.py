"""A destination's documented send rate, enforced before sending, as a wait the core's retry honours.

A DingTalk robot takes 20 messages a minute and then refuses everything for a while; a Feishu robot takes
5 a second and 100 a minute. Sending past the limit only earns refusals, so a channel counts its own sends
per destination in sliding windows and, when the next one would be over, raises TransientError with the
time until a slot frees: the dispatcher keeps the notification at the head of its lane and sends it then.
Nothing is dropped (the Go original dropped a DingTalk message that would have waited more than 10 s).
"""

import hashlib
import time
from collections import deque
from collections.abc import Callable

import attrs

from nmcore.errors import TransientError

__all__ = ["Rate", "RateLimiter"]

_KEEP_IDLE_DESTINATIONS = 10_000


@attrs.frozen
class Rate:
    count: int
    per: float
    """Seconds."""

    def __str__(self) -> str:
        unit = {1.0: "second", 60.0: "minute", 3600.0: "hour"}.get(self.per)
        return f"{self.count} per {unit}" if unit else f"{self.count} per {self.per:g}s"


class RateLimiter:
    """Sliding windows per destination. Destinations are known by a digest: a webhook URL holds a credential."""

    def __init__(self, *rates: Rate, clock: Callable[[], float] = time.monotonic):
        if not rates:
            raise ValueError("a rate limiter needs at least one rate")
        self.rates = rates
        self._clock = clock
        self._depth = max(rate.count for rate in rates)
        self._horizon = max(rate.per for rate in rates)
        self._sent: dict[str, deque[float]] = {}

    def take(self, destination: str, what: str) -> None:
        """Count one send to `destination`, or raise TransientError naming `what` and the wait."""
        now = self._clock()
        key = hashlib.sha256(destination.encode()).hexdigest()
        sent = self._sent.get(key)
        if sent is None:
            self._forget_idle(now)
            sent = self._sent[key] = deque(maxlen=self._depth)
        waits = [(sent[-rate.count] + rate.per - now, rate) for rate in self.rates if len(sent) >= rate.count]
        wait, rate = max(waits, default=(0.0, None), key=lambda pair: pair[0])
        if wait > 0:
            raise TransientError(f"{what} takes {rate}: holding this message {wait:.1f}s rather than have it "
                                 "refused", retry_after=wait)
        sent.append(now)

    def _forget_idle(self, now: float) -> None:
        if len(self._sent) >= _KEEP_IDLE_DESTINATIONS:
            self._sent = {k: s for k, s in self._sent.items() if s and now - s[-1] < self._horizon}
