"""access_token caching: one token per application, fetched once however many sends need it at the same time.

A token is cached under (API url, corp ID, a digest of the Secret) until `expires_in` minus a margin.
When message/send says the token is invalid or expired, the sender invalidates it under that same key (the
Go original used a different key there, so the stale token stayed) and fetches a new one.
"""

import hashlib
import time
from collections.abc import Awaitable, Callable

import anyio
import attrs

from nmcore.sdk import DeliveryError

MARGIN = 300.0
"""Refresh this long before WeChat Work says the token expires (at most half its lifetime)."""


@attrs.frozen
class TokenKey:
    api: str
    corp_id: str
    secret_digest: str = attrs.field(repr=False)

    @classmethod
    def of(cls, api: str, corp_id: str, secret: str) -> "TokenKey":
        """The Secret itself is never kept: only its digest tells applications apart."""
        return cls(api, corp_id, hashlib.sha256(secret.encode()).hexdigest())


@attrs.frozen
class _Token:
    value: str = attrs.field(repr=False)
    refresh_at: float


@attrs.define
class _Fetch:
    """A fetch in flight: the sends that arrive meanwhile wait for it and share its result or its error."""

    done: anyio.Event = attrs.field(factory=anyio.Event)
    error: DeliveryError | None = None


Fetcher = Callable[[], Awaitable[tuple[str, float]]]
"""Fetches a token: returns it with its lifetime in seconds, or raises DeliveryError."""


class TokenCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._tokens: dict[TokenKey, _Token] = {}
        self._fetches: dict[TokenKey, _Fetch] = {}

    async def get(self, key: TokenKey, fetch: Fetcher) -> str:
        while True:
            cached = self._tokens.get(key)
            if cached is not None and cached.refresh_at > self._clock():
                return cached.value
            pending = self._fetches.get(key)
            if pending is None:
                return await self._fetch(key, fetch)
            await pending.done.wait()
            if pending.error is not None:
                raise type(pending.error)(str(pending.error), retry_after=pending.error.retry_after)
            # Fetched (and cached), or the fetching send was cancelled: look again.

    async def _fetch(self, key: TokenKey, fetch: Fetcher) -> str:
        pending = self._fetches[key] = _Fetch()
        try:
            value, lifetime = await fetch()
            self._tokens[key] = _Token(value, self._clock() + lifetime - min(MARGIN, lifetime / 2))
            return value
        except DeliveryError as exc:
            pending.error = exc
            raise
        finally:
            del self._fetches[key]
            pending.done.set()

    def invalidate(self, key: TokenKey, value: str) -> None:
        """Forget `value` if it is still the cached token: another send may have replaced it already."""
        cached = self._tokens.get(key)
        if cached is not None and cached.value == value:
            del self._tokens[key]
