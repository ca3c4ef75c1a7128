"""S2 sending: N webhook notifications to one sink, each client in its own process at the same concurrency.

The nmcore number is the built-in WebhookSender (the code every webhook delivery runs) on the core's shared
HTTP client, driven directly at the peers' concurrency: the dispatcher's per-receiver lane would otherwise cap
one receiver at 4 sends in flight, which the `manager` row shows separately. Before/after of the client fix:
the same sender on a plain `httpx.AsyncClient`.
"""

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Lab, python
from bench.report import Count, Outcome, Row, rate, ratio
from bench.sink import Sink
from bench.systems import start_profiler, stop_profiler


@dataclass(frozen=True)
class Size:
    count: int
    concurrency: int = 50
    runs: int = 1


SIZES = {"full": Size(5_000, runs=3), "quick": Size(1_000), "tiny": Size(60, concurrency=10)}
CLIENTS = {
    "nmcore": "nmcore WebhookSender (aiohttp session)",
    "nmcore-httpx": "before: plain httpx.AsyncClient",
    "manager": "nmcore Manager, 1 receiver",
    "apprise": "Apprise json://",
    "aiohttp": "raw aiohttp loop",
}


@dataclass
class Measured:
    rate: float
    cpu_us: float


def _send(kind: str, size: Size, profile: Path | None) -> tuple[Measured, Count, dict]:
    with Lab(f"s2-{kind}") as lab:
        sink = Sink(lab)
        client = lab.start(f"sender-{kind}", python(
            "bench.senders", kind, "--url", sink.url, "--count", str(size.count),
            "--concurrency", str(size.concurrency)), stdout_pipe=True)
        profiler = start_profiler(client.pid, profile) if profile else None
        result = client.result(timeout=60 + size.count / 20)
        if profiler:
            stop_profiler(profiler)
        stats = sink.wait_for("posts", size.count, timeout=30)
        measured = Measured(rate=result["sent"] / (result["end"] - result["start"]),
                            cpu_us=1e6 * result["cpu"] / max(1, result["sent"]))
        count = Count(CLIENTS[kind], size.count, stats["posts"], stats["duplicates"], stats["misrouted"])
        return measured, count, result


def run(size_name: str = "full", *, profile: Path | None = None) -> Outcome:
    size = SIZES[size_name]
    outcome = Outcome("S2 sending")
    kinds = [k for k in CLIENTS if k != "apprise" or importlib.util.find_spec("apprise") is not None]
    if "apprise" not in kinds:
        outcome.notes.append("Apprise is not installed (pip install apprise): no Apprise peer measured.")
    runs: dict[str, list[Measured]] = {kind: [] for kind in kinds}
    for attempt in range(size.runs):
        for kind in kinds:
            measured, count, result = _send(kind, size, profile if kind == "nmcore" and attempt == 0 else None)
            runs[kind].append(measured)
            outcome.counts.append(count)
            if result["failed"]:
                outcome.notes.append(f"{CLIENTS[kind]}: {result['failed']} sends failed.")
    best = {kind: max(found, key=lambda m: m.rate) for kind, found in runs.items()}
    least_cpu = {kind: min(m.cpu_us for m in found) for kind, found in runs.items()}
    nm, raw = best["nmcore"].rate, best["aiohttp"].rate
    apprise = best["apprise"].rate if "apprise" in best else 0.0
    outcome.rows += [
        Row("S2 sending vs Apprise, notifications/s", rate(nm),
            f"Apprise json:// {rate(apprise)}" if apprise else "n/a",
            ratio(nm, apprise), "≥ 5x Apprise", nm >= 5 * apprise if apprise else None),
        Row("S2 sending vs raw aiohttp, notifications/s", rate(nm), f"raw aiohttp {rate(raw)}", ratio(nm, raw),
            "≥ 0.7x raw aiohttp", nm >= 0.7 * raw),
        Row("S2 client CPU-µs per notification", f"{least_cpu['nmcore']:.0f} µs",
            f"raw aiohttp {least_cpu['aiohttp']:.0f} µs"
            + (f", Apprise {least_cpu['apprise']:.0f} µs" if apprise else ""),
            f"{ratio(least_cpu['nmcore'], least_cpu['aiohttp'])} of aiohttp's", "— (lower is better)", None),
        Row("S2 client fix: after / before", f"WebhookSender on aiohttp {rate(nm)}",
            f"plain httpx.AsyncClient {rate(best['nmcore-httpx'].rate)}", ratio(nm, best["nmcore-httpx"].rate),
            "— (before/after)", None),
        Row("S2 through the Manager, 1 receiver", rate(best["manager"].rate), f"raw aiohttp {rate(raw)}",
            ratio(best["manager"].rate, raw), "— (lane of 4 in flight)", None),
    ]
    outcome.notes.append(
        f"{size.count:,} notifications of one alert each, {size.concurrency} in flight for every client except the "
        f"Manager (its per-receiver lane sends at most 4 at a time to one receiver); best of {size.runs} "
        "interleaved run(s) per client. Rate, CPU-µs per send: "
        + ", ".join(f"{CLIENTS[k]} {rate(best[k].rate)}, {least_cpu[k]:.0f} µs" for k in kinds) + ".")
    return outcome
