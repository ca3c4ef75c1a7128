"""Keeping the intake alive against clients that connect and never finish (slowloris), in uvicorn's protocol.

uvicorn closes idle keep-alive connections, but it waits forever for the headers of a request that has
begun, and for its body; its `limit_concurrency` answers 503 only once the headers are complete, so
connections that never complete them are unlimited. 1,500 of them took nm to its 1,024 file descriptors and
the intake died. This protocol (uvicorn's httptools one, extended) gives every request `header_timeout`
seconds for its headers and `body_timeout` for its body, and keeps at most `max_connections` open: at the cap,
the oldest connection still waiting for a request is closed to make room, so a health check or Alertmanager's
next POST still gets through. What it closes is logged as a count at most once per `report_every` seconds.
"""

import asyncio
import logging
import resource
from typing import Any, ClassVar

import attrs
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("nmcore.server")

RESERVED_FDS = 640
"""File descriptors kept for everything but incoming connections: sends in flight (512 at most), the state
file, the config watch, logs."""


@attrs.frozen(kw_only=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000
    report_every: float = 10.0


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connection_cap(requested: int, open_files: int) -> int:
    """`requested`, lowered to what the open-files limit leaves once `RESERVED_FDS` are kept (at least 16)."""
    return max(16, min(requested, open_files - RESERVED_FDS))


class _Tally:
    """Counts connections closed for one reason; logs the first at once, then a count per `every` seconds."""

    def __init__(self, what: str, every: float):
        self.what = what
        self.every = every
        self.count = 0
        self.last_client = ""
        self.flush: asyncio.TimerHandle | None = None

    def note(self, loop: asyncio.AbstractEventLoop, client: str) -> None:
        self.last_client = client
        if self.flush is None:
            log.warning("closed a connection from %s: %s", client, self.what)
            self.flush = loop.call_later(self.every, self._report)
        else:
            self.count += 1

    def _report(self) -> None:
        count, self.count, self.flush = self.count, 0, None
        if count:
            log.warning("closed %d more connections in the last %gs: %s (the last from %s)",
                        count, self.every, self.what, self.last_client)


class _GuardedProtocol(HttpToolsProtocol):
    LIMITS: ClassVar[ConnectionLimits]
    waiting: ClassVar[dict["_GuardedProtocol", None]]
    """This server's connections with no request in progress, oldest first: the ones to close at the cap."""
    tallies: ClassVar[dict[str, _Tally]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._idle()
        self._arm(self.LIMITS.header_timeout, "headers")
        if len(self.connections) > self.LIMITS.max_connections:
            oldest = next(iter(self.waiting))
            self._close(oldest, "at-cap", f"{self.LIMITS.max_connections} connections were open (the limit), "
                                          "and it was the oldest still waiting for a request")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a later request on a kept-alive connection
            self._arm(self.LIMITS.header_timeout, "headers")

    def on_headers_complete(self) -> None:
        self.waiting.pop(self, None)
        self._arm(self.LIMITS.body_timeout, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._idle()  # kept alive: uvicorn's keep-alive timeout closes it if nothing follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.waiting.pop(self, None)
        super().connection_lost(exc)

    def _idle(self) -> None:
        self.waiting[self] = None

    def _arm(self, seconds: float, part: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire, part, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, part: str, seconds: float) -> None:
        self._deadline = None
        if part == "body" and self.cycle is not None and not self.cycle.response_started:
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        self._close(self, part, f"no complete request {part} within {seconds:g}s")

    def _close(self, victim: "_GuardedProtocol", reason: str, what: str) -> None:
        client = f"{victim.client[0]}:{victim.client[1]}" if victim.client else "?"
        tally = self.tallies.get(reason)
        if tally is None:
            tally = self.tallies[reason] = _Tally(what, self.LIMITS.report_every)
        tally.note(self.loop, client)
        self.waiting.pop(victim, None)
        victim.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """A uvicorn `http=` protocol class enforcing `limits`, with its own bookkeeping (one per server)."""
    return type("GuardedHttpProtocol", (_GuardedProtocol,), {"LIMITS": limits, "waiting": {}, "tallies": {}})
