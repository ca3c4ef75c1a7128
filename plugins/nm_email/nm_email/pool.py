"""A small bounded pool of authenticated SMTP sessions to one server with one set of credentials.

Opening a session costs a TCP connect, a TLS handshake and AUTH: several round trips and, on hosted mail
services, a login that counts against rate limits. A burst of notifications to one smart host reuses a few
sessions instead. A session that sat idle for a while is checked with NOOP before reuse, one the server
closed is dropped, and one that saw any failure is never reused.
"""

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

import aiosmtplib
import anyio
import attrs

MAX_SESSIONS = 4
"""Sessions open at once per server and credentials; more concurrent sends wait for a free one."""

CHECK_AFTER = 2.0
"""Seconds idle after which a session is checked with NOOP before it is reused."""

MAX_IDLE = 60.0
"""Seconds idle after which a session is closed rather than reused (servers drop idle clients anyway)."""

QUIT_TIMEOUT = 2.0

Opener = Callable[[], Awaitable[aiosmtplib.SMTP]]


@attrs.define
class _Idle:
    smtp: aiosmtplib.SMTP
    since: float


class SessionPool:
    def __init__(self, size: int = MAX_SESSIONS):
        self._slots = anyio.Semaphore(size)
        self._idle: list[_Idle] = []
        self._closed = False

    @asynccontextmanager
    async def session(self, open_session: Opener) -> AsyncIterator[aiosmtplib.SMTP]:
        """A healthy idle session, or a new one from `open_session`; returned to the pool if all went well."""
        async with self._slots:
            smtp = await self._reusable()
            if smtp is None:
                smtp = await open_session()
            try:
                yield smtp
            except BaseException:
                smtp.close()
                raise
            if self._closed or not smtp.is_connected:
                await _quit(smtp)
            else:
                self._idle.append(_Idle(smtp, time.monotonic()))

    async def _reusable(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            idle = self._idle.pop()  # the most recently used: the likeliest to be alive
            waited = time.monotonic() - idle.since
            if not idle.smtp.is_connected or waited > MAX_IDLE:
                await _quit(idle.smtp)
                continue
            if waited > CHECK_AFTER:
                try:
                    await idle.smtp.noop(timeout=QUIT_TIMEOUT)
                except (aiosmtplib.SMTPException, OSError):
                    idle.smtp.close()
                    continue
            return idle.smtp
        return None

    async def aclose(self) -> None:
        """Say QUIT on every idle session; sessions in use are closed when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for entry in idle:
            await _quit(entry.smtp)


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    if smtp.is_connected:
        with anyio.move_on_after(QUIT_TIMEOUT):
            with suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()
    smtp.close()
