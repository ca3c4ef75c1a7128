"""Which messages of a notification a channel already delivered, so that a retry sends only the rest.

A long notification goes as several messages, often to several chats. When the third of five is refused (a
rate limit, a dropped connection) the core retries the whole notification, and without a memory the first
two would arrive twice. A sender sends each message through `once`; on the retry the delivered ones are
skipped, so people read every alert once and in order. The memory is per process, bounded, and dropped when
the notification is delivered or fails for good.
"""

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from nmcore.errors import PermanentError

__all__ = ["Progress"]


class Progress:
    def __init__(self, *, capacity: int = 10_000, ttl: float = 24 * 3600.0,
                 clock: Callable[[], float] = time.monotonic):
        self._capacity = capacity
        self._ttl = ttl
        self._clock = clock
        self._delivered: OrderedDict[str, tuple[float, set[str]]] = OrderedDict()

    @contextmanager
    def notification(self, key: str) -> Iterator[None]:
        """Around one send of a whole notification: what it delivered is remembered only while it may be
        retried, i.e. after a transient failure."""
        try:
            yield
        except PermanentError:
            self._delivered.pop(key, None)
            raise
        self._delivered.pop(key, None)

    async def once(self, key: str, message: str, send: Callable[[], Awaitable[object]]) -> bool:
        """`send()` unless this `message` (say, destination + text) of notification `key` was already
        delivered; returns whether it sent."""
        digest = hashlib.sha256(message.encode()).hexdigest()
        entry = self._delivered.get(key)
        if entry is not None and self._clock() - entry[0] < self._ttl and digest in entry[1]:
            return False
        await send()
        self._remember(key, digest)
        return True

    def _remember(self, key: str, digest: str) -> None:
        now = self._clock()
        created, digests = self._delivered.get(key) or (now, set())
        digests.add(digest)
        self._delivered[key] = (created, digests)
        self._delivered.move_to_end(key)
        while len(self._delivered) > self._capacity:
            self._delivered.popitem(last=False)
