"""Shared fixtures: a real HTTP webhook sink on loopback, a real PostgreSQL server, and the anyio backend."""

import asyncio
import json
import os
import threading
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

if TYPE_CHECKING:
    from tests.pgserver import PostgresServer

from tests.support import Nm


class WebhookSink:
    """An HTTP server in its own thread that records every POST and answers as scripted.

    `script(path, [500, (429, {"Retry-After": "2"}), (500, {}, "a body"), 200])` makes the next requests to
    `path` get those answers in turn (then 200). Runs in a thread so it serves `nm run` subprocesses and sync tests alike.
    A `handler` of its own replaces the recording and scripting, and answers every method. `with WebhookSink() as
    sink:` starts it and stops it at the end.
    """

    def __init__(self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None) -> None:
        self.handler = handler
        self.received: list[dict[str, Any]] = []
        self._scripts: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        if self.handler is not None:  # a handler of its own answers every method (a token API's GET too)
            app.router.add_route("*", "/{tail:.*}", self.handler)
        else:
            app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._started.set()
        self._loop.run_forever()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            script = self._scripts[request.path]
            answer = script.popleft() if script else 200
        status, headers, *text = answer if isinstance(answer, tuple) else (answer, {})
        if status < 300:
            with self._lock:
                self.received.append({"path": request.path, "headers": dict(request.headers),
                                      "body": json.loads(body) if body else None})
        return web.Response(status=status, headers=headers,
                            text=text[0] if text else "ok" if status < 300 else "failure")

    def start(self) -> "WebhookSink":
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> "WebhookSink":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def script(self, path: str, answers: list) -> None:
        with self._lock:
            self._scripts["/" + path.lstrip("/")].extend(answers)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r["body"] for r in self.received if r["path"] == "/" + path.lstrip("/")]

    def alerts_by_path(self) -> dict[str, list[dict[str, Any]]]:
        """Every alert received, per path (one list entry per alert per notification)."""
        with self._lock:
            found: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for r in self.received:
                found[r["path"]] += r["body"]["alerts"]
            return dict(found)


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator["PostgresServer"]:
    """A real PostgreSQL server for the whole session (initdb + pg_ctl in a temporary folder, loopback only)."""
    from tests.pgserver import find_bin_dir, running_server

    bin_dir = find_bin_dir()
    if bin_dir is None:
        reason = ("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH, in "
                  "/usr/lib/postgresql/*/bin or /usr/local/bin: apt-get install postgresql")
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI installs it (.ci/run): never skip there
        pytest.skip(reason)
    with running_server(bin_dir) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: "PostgresServer") -> str:
    """The URL of a new, empty database on the session's server."""
    return postgres_server.new_database()


@pytest.fixture
def nm(tmp_path: Path) -> Iterator[Callable[..., Nm]]:
    """Start `nm run` processes; any still running at the end are killed."""
    started: list[Nm] = []

    def start(config: Path, state: Path | str, *options: str, **popen: Any) -> Nm:
        process = Nm(tmp_path / f"nm-{len(started)}.log", config, state, *options, **popen)
        started.append(process)
        return process.wait_ready()

    yield start
    for process in started:
        if process.popen.poll() is None:
            process.kill()
