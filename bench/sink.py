"""The webhook sink, a process of its own: counts every POST and every alert-delivery, per receiver path.

`python -m bench.sink` binds 127.0.0.1 on a free port, prints `PORT <n>` and serves until SIGTERM.
`GET /stats` returns the tally: posts, alert-deliveries (each alert in each body), how many were duplicates
(the same alert_id twice on one path) or misrouted (a tenant path getting another namespace's alert), the
monotonic times of the first and last arrival, and the POST → arrival latency of alerts that carry one.
Bodies without `alerts` (Apprise's) count as posts only.
"""

import asyncio
import json
import signal
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence

from aiohttp import web

from bench.procs import Child, Lab, python
from bench.workload import SENT, entitled


class Tally:
    def __init__(self) -> None:
        self.posts = 0
        self.alerts = 0
        self.duplicates = 0
        self.misrouted = 0
        self.first = 0.0
        self.last = 0.0
        self.per_path: Counter[str] = Counter()
        self.seen: set[tuple[str, str]] = set()
        self.latencies: list[float] = []

    def record(self, path: str, body: bytes) -> None:
        now = time.monotonic()
        self.posts += 1
        self.first = self.first or now
        self.last = now
        data = json.loads(body) if body else None
        alerts = data.get("alerts") if isinstance(data, dict) else None
        if not isinstance(alerts, list):
            return
        self.alerts += len(alerts)
        self.per_path[path] += len(alerts)
        for alert in alerts:
            alert_labels = alert.get("labels", {})
            identity = (path, alert_labels.get("alert_id", ""))
            if identity in self.seen:
                self.duplicates += 1
            self.seen.add(identity)
            if not entitled(path, alert_labels.get("namespace", "")):
                self.misrouted += 1
            sent = alert.get("annotations", {}).get(SENT)
            if sent:
                self.latencies.append(now - float(sent))

    def stats(self) -> dict:
        return {"posts": self.posts, "alerts": self.alerts, "unique": len(self.seen), "duplicates": self.duplicates,
                "misrouted": self.misrouted, "first": self.first, "last": self.last,
                "paths": len(self.per_path), "per_path": dict(self.per_path), "latencies": self.latencies}


async def serve() -> None:
    tally = Tally()

    async def receive(request: web.Request) -> web.Response:
        tally.record(request.path, await request.read())
        return web.Response(text="ok")

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(tally.stats())

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_get("/stats", stats)
    app.router.add_post("/{tail:.*}", receive)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"PORT {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


class Sink:
    """The harness's handle on a sink process."""

    def __init__(self, lab: Lab, name: str = "sink"):
        self.child: Child = lab.start(name, python("bench.sink"), stdout_pipe=True)
        self.port = int(self.child.read_line(timeout=20).split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/stats", timeout=30) as response:
            return json.loads(response.read())

    def wait_for(self, field: str, expected: int, *, timeout: float, stall: float = 20.0,
                  watch: Sequence[Child] = ()) -> dict:
        """Poll until `field` reaches `expected` (then a short settle, to catch late duplicates), the count
        stops moving for `stall` seconds, or `timeout`; return the last stats."""
        deadline = time.monotonic() + timeout
        last_value, last_change = -1, time.monotonic()
        while True:
            for child in (self.child, *watch):
                child.check_alive()
            stats = self.stats()
            now = time.monotonic()
            if stats[field] >= expected:
                time.sleep(0.3)
                return self.stats()
            if stats[field] != last_value:
                last_value, last_change = stats[field], now
            if now > deadline or now - last_change > stall:
                return stats
            time.sleep(0.1)


if __name__ == "__main__":
    asyncio.run(serve())
