"""S2's clients, each a process of its own: send `--count` webhook notifications to the sink, `--concurrency`
in flight, and print one JSON line {start, end, cpu, sent, failed}
(cpu: the process's CPU seconds, all threads, over the timed part).

- `nmcore`: the built-in WebhookSender on the core's shared aiohttp session (`nmcore.httpclient.new_session`, as
  the Manager gives it); each send builds its SendRequest as the dispatcher does.
- `nmcore-httpx`: before the fix: the same requests (body, headers) POSTed through a plain `httpx.AsyncClient`
  with the same limits, which is how the first webhook channel sent.
- `manager`: the whole Manager (routing, store in memory, dispatcher lanes) submitting one-alert groups to one
  global webhook receiver; its lane allows `per_receiver` (4) sends in flight, whatever `--concurrency` says.
- `apprise`: Apprise's `json://` notifier, one Apprise object per worker thread (Apprise is synchronous).
- `aiohttp`: a raw aiohttp.ClientSession loop POSTing the same JSON bodies (the ceiling).
"""

import argparse
import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.workload import webhook_body

CHANNEL_YAML = """
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {{name: bench-webhook, labels: {{type: global}}}}
spec: {{url: "{url}"}}
"""
RECEIVER = "WebhookReceiver/kubesphere-monitoring-system/bench-webhook"


def _groups(count: int) -> list[dict[str, Any]]:
    return [webhook_body([n], namespaces=100) for n in range(count)]


async def _pool(count: int, concurrency: int, send: Callable[[int], Awaitable[None]]) -> tuple[int, int]:
    """Run send(0..count-1) with `concurrency` workers; return (sent, failed)."""
    pending = iter(range(count))
    done = {"sent": 0, "failed": 0}

    async def worker() -> None:
        for n in pending:
            try:
                await send(n)
                done["sent"] += 1
            except Exception:
                done["failed"] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done["sent"], done["failed"]


async def nmcore_sender(args: argparse.Namespace, plain_httpx: bool) -> dict[str, Any]:
    import httpx

    from nmcore.builtins.tenants import RbacResolver
    from nmcore.builtins.webhook import WebhookSender, webhook_body
    from nmcore.channel import ChannelContext
    from nmcore.httpclient import MAX_KEEPALIVE, make_http_client, new_session
    from nmcore.ingest import parse_payload
    from nmcore.render import DefaultRenderer
    from nmcore.requests import build_request
    from nmcore.routing import Router
    from nmcore.testing import plugin_host, snapshot_from_yaml

    host = plugin_host()
    snapshot = snapshot_from_yaml(CHANNEL_YAML.format(url=args.url + "/nmcore"), host=host)
    router = Router(host, RbacResolver())
    notifications = []
    for body in _groups(args.count):
        (routed,) = await router.route(parse_payload(body).group, snapshot)
        notifications.append(routed.notification)
    target = snapshot.targets[RECEIVER]
    renderer = DefaultRenderer()
    if plain_httpx:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=MAX_KEEPALIVE)
        http = httpx.AsyncClient(timeout=10.0, limits=limits)

        async def send(n: int) -> None:
            request, _ = build_request(snapshot, target, notifications[n], renderer.render(notifications[n]))
            reply = await http.post(target.receiver.spec.url, json=webhook_body(request.notification))
            reply.raise_for_status()
    else:
        session = new_session()
        http = make_http_client(session=session)
        sender = WebhookSender(ChannelContext(http=http, session=session, logger=logging.getLogger("bench")))

        async def send(n: int) -> None:
            notification = notifications[n]
            request, _ = build_request(snapshot, target, notification, renderer.render(notification))
            await sender.send(request)

    async with http:
        start, cpu = time.monotonic(), time.process_time()
        sent, failed = await _pool(args.count, args.concurrency, send)
        end, cpu = time.monotonic(), time.process_time() - cpu
    return {"start": start, "end": end, "cpu": cpu, "sent": sent, "failed": failed}


async def manager(args: argparse.Namespace) -> dict[str, Any]:
    from nmcore.ingest import parse_payload
    from nmcore.manager import Manager

    groups = [parse_payload(body).group for body in _groups(args.count)]
    async with Manager.from_yaml(CHANNEL_YAML.format(url=args.url + "/manager")) as nm:
        await nm.wait_ready(10)
        start, cpu = time.monotonic(), time.process_time()
        for group in groups:
            await nm.submit(group)
        await nm.drain(timeout=300)
        end, cpu = time.monotonic(), time.process_time() - cpu
        failed = sum(1 for o in nm.outcomes if not o.ok)
    return {"start": start, "end": end, "cpu": cpu, "sent": args.count - failed,
            "failed": failed}


async def raw_aiohttp(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    bodies = _groups(args.count)
    url = args.url + "/aiohttp"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as session:

        async def send(n: int) -> None:
            async with session.post(url, json=bodies[n]) as response:
                await response.read()
                response.raise_for_status()

        start, cpu = time.monotonic(), time.process_time()
        sent, failed = await _pool(args.count, args.concurrency, send)
        end, cpu = time.monotonic(), time.process_time() - cpu
    return {"start": start, "end": end, "cpu": cpu, "sent": sent, "failed": failed}


def apprise_threads(args: argparse.Namespace) -> dict[str, Any]:
    import apprise

    address = args.url.removeprefix("http://")
    pending = iter(range(args.count))
    lock = threading.Lock()
    done = {"sent": 0, "failed": 0}

    def worker() -> None:
        notifier = apprise.Apprise()
        notifier.add(f"json://{address}/apprise")
        while True:
            with lock:
                n = next(pending, None)
            if n is None:
                return
            ok = notifier.notify(title=f"[FIRING] KubePodCrashLooping {n}", body=f"Pod web-{n} is crash looping")
            with lock:
                done["sent" if ok else "failed"] += 1

    start, cpu = time.monotonic(), time.process_time()
    with ThreadPoolExecutor(args.concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(args.concurrency)]:
            future.result()
    end, cpu = time.monotonic(), time.process_time() - cpu
    return {"start": start, "end": end, "cpu": cpu, **done}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.senders")
    parser.add_argument("kind", choices=["nmcore", "nmcore-httpx", "manager", "apprise", "aiohttp"])
    parser.add_argument("--url", required=True, help="the sink, http://127.0.0.1:PORT")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    if args.kind == "apprise":
        result = apprise_threads(args)
    elif args.kind == "manager":
        result = asyncio.run(manager(args))
    elif args.kind == "aiohttp":
        result = asyncio.run(raw_aiohttp(args))
    else:
        result = asyncio.run(nmcore_sender(args, plain_httpx=args.kind == "nmcore-httpx"))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
