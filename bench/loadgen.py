"""Load generators, each a process of its own, printing one JSON line with what they did.

`burst`: all alerts as fast as the target takes them, `--batch` alerts per POST, `--concurrency` POSTs in
flight; a 503 is retried after its Retry-After, as Alertmanager would. `steady`: one alert per POST at a
fixed rate (open loop: a slow answer never delays the next send), each stamped with its send time.
`--target nmcore` POSTs Alertmanager's webhook body to /api/v2/alerts; `--target alertmanager` POSTs the
bare alerts Prometheus sends to Alertmanager's /api/v2/alerts.
"""

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp

from bench.workload import prometheus_alert, webhook_body


def body_of(target: str, ns: list[int], namespaces: int, sent: float | None = None) -> bytes:
    if target == "nmcore":
        payload: Any = webhook_body(ns, namespaces, sent)
    else:
        payload = [prometheus_alert(n, namespaces, sent) for n in ns]
    return json.dumps(payload).encode()


HEADERS = {"Content-Type": "application/json"}


async def post(session: aiohttp.ClientSession, url: str, body: bytes, counts: dict[str, int]) -> None:
    """POST until accepted: 503 (nmcore busy) waits for Retry-After; anything else non-2xx fails the run."""
    while True:
        async with session.post(url, data=body, headers=HEADERS) as response:
            await response.read()
            if response.status < 300:
                return
            if response.status != 503:
                raise RuntimeError(f"POST {url} answered {response.status}")
            counts["retried"] += 1
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))


async def burst(args: argparse.Namespace) -> dict[str, Any]:
    bodies = [body_of(args.target, list(range(start, min(args.alerts, start + args.batch))), args.namespaces)
              for start in range(0, args.alerts, args.batch)]
    pending = iter(bodies)
    counts = {"retried": 0}

    async def worker(session: aiohttp.ClientSession, url: str) -> None:
        for body in pending:
            await post(session, url, body, counts)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as session:
        start = time.monotonic()  # several --url: the workers take turns, as a Service spreads its connections
        await asyncio.gather(*(worker(session, args.url[i % len(args.url)]) for i in range(args.concurrency)))
        end = time.monotonic()
    return {"start": start, "end": end, "posts": len(bodies), "alerts": args.alerts, **counts}


async def steady(args: argparse.Namespace) -> dict[str, Any]:
    total = int(args.rate * args.seconds)
    counts = {"retried": 0}
    answered: list[float] = []

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        sent = time.monotonic()
        await post(session, args.url[0], body_of(args.target, [n], args.namespaces, sent), counts)
        answered.append(time.monotonic() - sent)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
        start = time.monotonic()
        tasks = []
        for n in range(total):
            await asyncio.sleep(max(0.0, start + n / args.rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(session, n)))
        await asyncio.gather(*tasks)
        end = time.monotonic()
    answered.sort()
    return {"start": start, "end": end, "posts": total, "alerts": total,
            "answer_p50": answered[len(answered) // 2], "answer_p99": answered[int(len(answered) * 0.99)], **counts}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("mode", choices=["burst", "steady"])
    parser.add_argument("--target", choices=["nmcore", "alertmanager"], required=True)
    parser.add_argument("--url", required=True, action="append", help="repeat to spread bursts over replicas")
    parser.add_argument("--namespaces", type=int, required=True)
    parser.add_argument("--alerts", type=int, default=0, help="burst: how many alerts")
    parser.add_argument("--batch", type=int, default=100, help="burst: alerts per POST")
    parser.add_argument("--concurrency", type=int, default=4, help="burst: POSTs in flight")
    parser.add_argument("--rate", type=float, default=200.0, help="steady: alerts per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="steady: for how long")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(burst(args) if args.mode == "burst" else steady(args))), flush=True)


if __name__ == "__main__":
    main()
