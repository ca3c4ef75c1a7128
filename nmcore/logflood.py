"""A log that does not flood: the same message at most a few times a minute, then a count of the rest.

Under attack or an outage one cause can repeat thousands of times a second (asyncio's "socket.accept() out
of system resource", once per connection it could not take: 97,469 lines in 15 s), burying everything else
and filling disks. The first few of each identical message pass; the next one after the window says how many
were held back.
"""

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

import attrs

MAX_TRACKED = 1000
"""Distinct messages remembered; the least recently seen is forgotten beyond that."""


@attrs.define
class _Seen:
    window_start: float
    passed: int = 0
    held: int = 0


class RepeatLimiter(logging.Filter):
    """Passes at most `burst` records with the same logger, level and text per `window` seconds."""

    def __init__(self, burst: int = 5, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.burst = burst
        self.window = window
        self._clock = clock
        self._seen: OrderedDict[tuple[str, int, str], _Seen] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.getMessage())
        now = self._clock()
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = _Seen(now)
            if len(self._seen) > MAX_TRACKED:
                self._seen.popitem(last=False)
        self._seen.move_to_end(key)
        if now - seen.window_start >= self.window:
            if seen.held:
                record.msg, record.args = f"{key[2]} (and {seen.held} more like it in {self.window:g}s)", None
            seen.window_start, seen.passed, seen.held = now, 0, 0
        if seen.passed >= self.burst:
            seen.held += 1
            return False
        seen.passed += 1
        return True
