"""The token cache every app-token channel shares: one fetch for many sends, refresh before expiry and on
rejection, failures shared by the waiting sends but never cached."""

import anyio
import pytest

from nmcore.errors import PermanentError, TransientError
from nmcore.tokencache import MARGIN, TokenCache, TokenKey

pytestmark = pytest.mark.anyio

KEY = TokenKey.of("http://127.0.0.1/api/", "app", "secret")


async def test_a_late_rejection_of_the_old_token_keeps_the_new_one():
    """A send that met the expired token after another send already refreshed it must not throw the new one away."""
    cache = TokenCache()
    key = KEY
    issued = iter(["old", "new", "newer"])

    async def fetch() -> tuple[str, float]:
        return next(issued), 7200.0

    assert await cache.get(key, fetch) == "old"
    cache.invalidate(key, "old")  # the first send to meet 42001
    assert await cache.get(key, fetch) == "new"
    cache.invalidate(key, "old")  # a second send, whose 42001 arrived later
    assert await cache.get(key, fetch) == "new"


async def test_a_token_is_refreshed_before_it_expires():
    now = [0.0]
    cache = TokenCache(clock=lambda: now[0])
    key = KEY
    issued = iter(["first", "second"])

    async def fetch() -> tuple[str, float]:
        return next(issued), 7200.0

    assert await cache.get(key, fetch) == "first"
    now[0] = 7200.0 - MARGIN - 1
    assert await cache.get(key, fetch) == "first"
    now[0] = 7200.0 - MARGIN + 1
    assert await cache.get(key, fetch) == "second"


async def test_concurrent_gets_share_one_fetch_and_its_error():
    cache = TokenCache()
    fetches = 0
    release = anyio.Event()

    async def fetch() -> tuple[str, float]:
        nonlocal fetches
        fetches += 1
        await release.wait()
        raise TransientError("token API busy", retry_after=7.0)

    errors: list[BaseException] = []

    async def one() -> None:
        try:
            await cache.get(KEY, fetch)
        except TransientError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tasks:
        for _ in range(10):
            tasks.start_soon(one)
        await anyio.wait_all_tasks_blocked()
        release.set()

    assert fetches == 1
    assert len(errors) == 10 and all(e.retry_after == 7.0 for e in errors)


async def test_call_fetches_a_new_token_once_when_the_api_rejects_the_cached_one():
    cache = TokenCache()
    issued = iter(["stale", "fresh", "never"])
    used: list[str] = []

    async def fetch() -> tuple[str, float]:
        return next(issued), 7200.0

    async def use(token: str) -> str:
        used.append(token)
        return "rejected" if token == "stale" else "ok"

    answer = await cache.call(KEY, fetch, use, rejected=lambda answer: answer == "rejected")

    assert answer == "ok" and used == ["stale", "fresh"]


async def test_call_gives_up_after_one_refresh():
    """An API that rejects every token (a revoked app) is answered after one refresh, not in a loop."""
    cache = TokenCache()
    fetches = 0

    async def fetch() -> tuple[str, float]:
        nonlocal fetches
        fetches += 1
        return f"token-{fetches}", 7200.0

    async def use(token: str) -> str:
        return "rejected"

    assert await cache.call(KEY, fetch, use, rejected=lambda answer: answer == "rejected") == "rejected"
    assert fetches == 2


async def test_a_failed_fetch_is_not_cached():
    cache = TokenCache()
    answers = iter([PermanentError("wrong secret"), ("token", 7200.0)])

    async def fetch() -> tuple[str, float]:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with pytest.raises(PermanentError):
        await cache.get(KEY, fetch)
    assert await cache.get(KEY, fetch) == "token"


def test_the_key_never_holds_the_secret():
    key = TokenKey.of("http://127.0.0.1/api/", "app", "s3cr3t-value")
    assert "s3cr3t-value" not in repr(key) + key.secret_digest
    assert TokenKey.of("http://127.0.0.1/api/", "app", "rotated") != key  # a rotated secret gets its own token
