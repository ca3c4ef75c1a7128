"""Access-token caching for channels whose API trades an app's credentials for a short-lived token.

WeChat Work, DingTalk and Feishu all work this way. One token per application is fetched once however many
sends need it at the same time (single flight: the others wait for that fetch and share its result or its
error), kept until its lifetime minus a margin, and forgotten when the API says it is invalid, so the next
send fetches a new one. Failures are never cached: after the operator fixes the credentials, the next send
tries again.
"""

import hashlib
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any, TypeVar

import anyio
import attrs

from nmcore.errors import DeliveryError, PermanentError

__all__ = ["MARGIN", "App", "Fetcher", "TokenCache", "TokenKey", "token_of"]

MARGIN = 300.0
"""Refresh this long before the API says the token expires (at most half its lifetime)."""


@attrs.frozen
class TokenKey:
    """Which application a token belongs to: where its API is, its public ID, and a digest of its secret.

    The secret itself is never kept: its digest tells a rotated secret from the old one, so the new secret
    gets a token of its own at once.
    """

    api: str
    app_id: str
    secret_digest: str = attrs.field(repr=False)

    @classmethod
    def of(cls, api: str, app_id: str, secret: str) -> "TokenKey":
        return cls(api, app_id, hashlib.sha256(secret.encode()).hexdigest())


def _api_root(url: str) -> str:
    return url.rstrip("/") + "/"


@attrs.frozen
class App:
    """An application of a token API as one send resolved it: its API root (one trailing slash, so paths can
    be appended), its ID and secret (never shown), and the object that configured it, for errors."""

    api: str = attrs.field(converter=_api_root)
    app_id: str
    secret: str = attrs.field(repr=False)
    owner: str

    @property
    def key(self) -> TokenKey:
        return TokenKey.of(self.api, self.app_id, self.secret)


@attrs.frozen
class _Token:
    value: str = attrs.field(repr=False)
    refresh_at: float


@attrs.define
class _Fetch:
    """A fetch in flight: the sends that arrive meanwhile wait for it and share its result or its error."""

    done: anyio.Event = attrs.field(factory=anyio.Event)
    error: DeliveryError | None = None


R = TypeVar("R")

Fetcher = Callable[[], Awaitable[tuple[str, float]]]
"""Fetches a token: returns it with its lifetime in seconds, or raises DeliveryError."""


class TokenCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._tokens: dict[Hashable, _Token] = {}
        self._fetches: dict[Hashable, _Fetch] = {}

    async def get(self, key: Hashable, fetch: Fetcher) -> str:
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

    async def _fetch(self, key: Hashable, fetch: Fetcher) -> str:
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

    def invalidate(self, key: Hashable, value: str) -> None:
        """Forget `value` if it is still the cached token: another send may have replaced it already."""
        cached = self._tokens.get(key)
        if cached is not None and cached.value == value:
            del self._tokens[key]

    async def call(self, key: Hashable, fetch: Fetcher, use: Callable[[str], Awaitable[R]],
                   rejected: Callable[[R], bool]) -> R:
        """`use(token)`, and once more with a new token if its answer says the token was `rejected`
        (expired or revoked before its time): the refresh-on-invalid every token API needs."""
        token = await self.get(key, fetch)
        answer = await use(token)
        if rejected(answer):
            self.invalidate(key, token)
            answer = await use(await self.get(key, fetch))
        return answer


def token_of(reply: Mapping[str, Any], service: str, *, check: str, token: str = "access_token",
             lifetime: str = "expires_in", default_lifetime: float = 7200.0) -> tuple[str, float]:
    """The token and its lifetime from a successful token reply, as a `Fetcher` returns them; a reply
    without a token means the URL is not the API's: `check` names the setting."""
    value, seconds = reply.get(token), reply.get(lifetime)
    if not isinstance(value, str) or not value:
        raise PermanentError(f"{service} answered without {token}: check {check}")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
        seconds = default_lifetime
    return value, float(seconds)
