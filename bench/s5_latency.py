"""S5 latency: a steady rate of alerts, one per POST, and the time from each POST to its arrival at the sink.

The load generator stamps each alert with its time.monotonic() when it POSTs it (the clock is system-wide on
Linux, so the sink process can subtract); the sink takes the difference on arrival, once per receiver (tenant
and global), so p50/p99 are over alert-deliveries. nmcore runs with S1's tenants and the durable store (each
POST is committed before its 200); Alertmanager with `group_wait: 0s` and S1's two receivers.
"""

from dataclasses import dataclass

from bench.procs import Lab, python
from bench.report import Count, Outcome, Row, ratio
from bench.sink import Sink
from bench.systems import Alertmanager, NmRun, alertmanager_available
from bench.workload import alertmanager_config, write_tenants


@dataclass(frozen=True)
class Size:
    rate: float
    seconds: float
    namespaces: int


SIZES = {"full": Size(200, 10, 1_000), "quick": Size(200, 4, 200), "tiny": Size(50, 1, 20)}
GOAL_P99 = 0.050


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


def _measure(lab: Lab, sink: Sink, target: str, url: str, size: Size, watch: list) -> tuple[dict, dict]:
    alerts = int(size.rate * size.seconds)
    load = lab.start(f"loadgen-{target}", python(
        "bench.loadgen", "steady", "--target", target, "--url", url, "--rate", str(size.rate),
        "--seconds", str(size.seconds), "--namespaces", str(size.namespaces)), stdout_pipe=True)
    sent = load.result(timeout=size.seconds + 60)
    stats = sink.wait_for("alerts", 2 * alerts, timeout=60, watch=watch)
    return sent, stats


def _describe(who: str, stats: dict, sent: dict) -> str:
    latencies = stats["latencies"]
    return (f"{who}: p50 {percentile(latencies, 0.5) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
            f"max {max(latencies, default=0) * 1000:.1f} ms over {len(latencies):,} alert-deliveries; its POSTs "
            f"answered in p50 {sent['answer_p50'] * 1000:.1f} ms, p99 {sent['answer_p99'] * 1000:.1f} ms.")


def run(size_name: str = "full", *, durable: bool = True) -> Outcome:
    size = SIZES[size_name]
    alerts = int(size.rate * size.seconds)
    outcome = Outcome("S5 latency")
    with Lab("s5-nmcore") as lab:
        sink = Sink(lab)
        config = lab.dir / "config"
        write_tenants(config, size.namespaces, sink.url)
        nm = NmRun(lab, config, durable=durable)
        sent, nm_stats = _measure(lab, sink, "nmcore", f"{nm.url}/api/v2/alerts", size, [nm.child])
        outcome.counts.append(Count("nmcore", 2 * alerts, nm_stats["alerts"], nm_stats["duplicates"],
                                    nm_stats["misrouted"]))
        outcome.notes.append(_describe("nmcore", nm_stats, sent))
    am_stats: dict = {"latencies": []}
    if alertmanager_available():
        with Lab("s5-alertmanager") as lab:
            sink = Sink(lab)
            am = Alertmanager(lab, alertmanager_config(sink.url, group_wait="0s"))
            sent, am_stats = _measure(lab, sink, "alertmanager", f"{am.url}/api/v2/alerts", size, [am.child])
            outcome.counts.append(Count("Alertmanager", 2 * alerts, am_stats["alerts"], am_stats["duplicates"],
                                        am_stats["misrouted"]))
            outcome.notes.append(_describe("Alertmanager", am_stats, sent))
    nm_p50, nm_p99 = (percentile(nm_stats["latencies"], f) for f in (0.5, 0.99))
    am_p50, am_p99 = (percentile(am_stats["latencies"], f) for f in (0.5, 0.99))
    peer = f"Alertmanager p50 {am_p50 * 1000:.1f} ms, p99 {am_p99 * 1000:.1f} ms" if am_stats["latencies"] else "n/a"
    outcome.rows.append(Row(
        f"S5 latency at {size.rate:g} alerts/s, POST → sink",
        f"p50 {nm_p50 * 1000:.1f} ms, p99 {nm_p99 * 1000:.1f} ms", peer,
        ratio(nm_p99, am_p99) + " (p99)" if am_stats["latencies"] else "n/a",
        f"p99 ≤ {GOAL_P99 * 1000:.0f} ms", nm_p99 <= GOAL_P99))
    outcome.notes.append(f"{alerts:,} alerts, one per POST, {size.rate:g}/s for {size.seconds:g} s (open loop), "
                         f"over {size.namespaces:,} namespaces; store: {'durable' if durable else 'in memory'}.")
    return outcome
