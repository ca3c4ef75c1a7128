"""S1 end to end: alerts POSTed in Alertmanager-sized batches until every entitled receiver has each one.

nmcore: `nm run` with the durable store, one webhook receiver per tenant (RoleBindings) plus a global one;
the load generator POSTs Alertmanager webhook bodies of 100 alerts spread over 100 namespaces, so each POST
becomes 100 one-alert tenant notifications and one 100-alert global notification. Peer: the real Alertmanager
fed the same alerts (Prometheus's push format) and configured for the same alert-deliveries: `group_by: ['...']`
(a group per alert) and two receivers, tenant then global, with `continue: true`. Its tenant receiver is one
URL, not one per tenant: a thousand routes would only slow it down. The metric is alert-deliveries per second
(an alert reaching one receiver), from the first POST to the last arrival at the sink.

Batching's cost: the same run with a NotificationManager (groupLabels [namespace], batchMaxWait 1m, batchMaxSize the
alerts each namespace gets), so each receiver's alerts of a namespace, from POSTs spread over the whole run, go as one
notification the moment the last arrives; its CPU per alert-delivery against the unbatched run's. The batches fill
rather than time out, so the sends saved do not depend on how fast this machine posts (with a 1 s wait, a slow
machine's namespace batches went out a few alerts at a time, and split into more sends than unbatched).
"""

from dataclasses import dataclass
from pathlib import Path

from bench.procs import Child, Lab, cpu_seconds, python
from bench.report import Count, Outcome, Row, rate, ratio
from bench.sink import Sink
from bench.systems import Alertmanager, NmRun, alertmanager_available
from bench.workload import alertmanager_config, write_batching, write_tenants


@dataclass(frozen=True)
class Size:
    alerts: int
    namespaces: int
    batch: int = 100
    concurrency: int = 4
    runs: int = 1


SIZES = {"full": Size(20_000, 1_000, runs=2), "quick": Size(4_000, 200), "tiny": Size(200, 20, batch=20)}
GOAL = 1.5
BATCH_WAIT = "1m"


@dataclass
class Measured:
    rate: float
    cpu_ms_per_k: float
    count: Count
    note: str


def _measure(lab: Lab, sink: Sink, who: str, system: Child, url: str, size: Size) -> tuple[Measured, dict, dict]:
    """POST every alert, wait for every alert-delivery at the sink; the rate and the system's CPU per delivery."""
    expected = 2 * size.alerts  # each alert: its tenant's receiver and the global one
    timeout = 120 + size.alerts / 100
    target = "alertmanager" if who == "Alertmanager" else "nmcore"
    cpu_before = cpu_seconds(system.pid)
    load = lab.start(f"loadgen-{target}", python(
        "bench.loadgen", "burst", "--target", target, "--url", url, "--alerts", str(size.alerts),
        "--namespaces", str(size.namespaces), "--batch", str(size.batch), "--concurrency", str(size.concurrency)),
        stdout_pipe=True)
    sent = load.result(timeout=timeout)
    stats = sink.wait_for("alerts", expected, timeout=timeout, watch=[system])
    cpu = cpu_seconds(system.pid) - cpu_before
    elapsed = stats["last"] - sent["start"]
    measured = Measured(
        rate=stats["alerts"] / elapsed, cpu_ms_per_k=1e6 * cpu / max(1, stats["alerts"]),
        count=Count(who, expected, stats["alerts"], stats["duplicates"], stats["misrouted"]),
        note=(f"{who}: POSTs accepted in {sent['end'] - sent['start']:.1f} s ({sent['retried']} answered 503 and "
              f"were retried); {stats['posts']:,} webhook POSTs to {stats['paths']} receiver paths; last arrival "
              f"{elapsed:.1f} s after the first POST: {stats['alerts'] / elapsed:,.0f}/s; {cpu:.1f} CPU-s."))
    return measured, sent, stats


def _nmcore(size: Size, durable: bool, profile: Path | None, history: bool = True, batched: bool = False) -> Measured:
    name = "s1-nmcore" + ("" if history else "-no-history") + ("-batched" if batched else "")
    with Lab(name) as lab:
        sink = Sink(lab)
        config = lab.dir / "config"
        write_tenants(config, size.namespaces, sink.url)
        if batched:
            write_batching(config, ["namespace"], BATCH_WAIT, size.alerts // size.namespaces)
        nm = NmRun(lab, config, durable=durable, profile=profile, history=history)
        who = "nmcore" + ("" if history else " --no-history") + (
            f" batchMaxWait {BATCH_WAIT}, batchMaxSize {size.alerts // size.namespaces}" if batched else "")
        measured, _, _ = _measure(lab, sink, who, nm.child, f"{nm.url}/api/v2/alerts", size)
        nm.stop_profiler()
        return measured


def _alertmanager(size: Size) -> Measured:
    with Lab("s1-alertmanager") as lab:
        sink = Sink(lab)
        am = Alertmanager(lab, alertmanager_config(sink.url, group_wait="0s"))
        measured, _, _ = _measure(lab, sink, "Alertmanager", am.child, f"{am.url}/api/v2/alerts", size)
        return measured


def run(size_name: str = "full", *, durable: bool = True, profile: Path | None = None) -> Outcome:
    size = SIZES[size_name]
    outcome = Outcome("S1 end to end")
    nm_runs: list[Measured] = []
    am_runs: list[Measured] = []
    bare_runs: list[Measured] = []
    batched_runs: list[Measured] = []
    for attempt in range(size.runs):
        nm_runs.append(_nmcore(size, durable, profile if attempt == 0 else None))
        bare_runs.append(_nmcore(size, durable, None, history=False))
        batched_runs.append(_nmcore(size, durable, None, batched=True))
        if alertmanager_available():
            am_runs.append(_alertmanager(size))
    for measured in nm_runs + bare_runs + batched_runs + am_runs:
        outcome.counts.append(measured.count)
        outcome.notes.append(measured.note)
    nm = max(nm_runs, key=lambda m: m.rate)
    am = max(am_runs, key=lambda m: m.rate) if am_runs else None
    nm_cpu = min(m.cpu_ms_per_k for m in nm_runs)  # the least disturbed run of each, as for the rates
    bare_cpu = min(m.cpu_ms_per_k for m in bare_runs)
    batched_cpu = min(m.cpu_ms_per_k for m in batched_runs)
    outcome.rows += [
        Row("S1 end to end, alert-deliveries/s", rate(nm.rate), f"Alertmanager {rate(am.rate)}" if am else "n/a",
            ratio(nm.rate, am.rate) if am else "n/a", f"≥ {GOAL}x Alertmanager",
            nm.rate >= GOAL * am.rate if am else None),
        Row("S1 CPU-ms per 1,000 alert-deliveries", f"{nm.cpu_ms_per_k:,.0f} ms",
            f"Alertmanager {am.cpu_ms_per_k:,.0f} ms" if am else "n/a",
            f"{ratio(nm.cpu_ms_per_k, am.cpu_ms_per_k)} of AM's" if am else "n/a",
            "— (lower is better; steadier than rates)", None),
        Row("S1 CPU-ms per 1,000 with history on / off", f"{nm_cpu:,.0f} ms",
            f"--no-history {bare_cpu:,.0f} ms", ratio(nm_cpu, bare_cpu), "≤ 1.10x", nm_cpu <= 1.10 * bare_cpu),
        Row(f"S1 CPU-ms per 1,000 with batches of a namespace ({size.alerts // size.namespaces}) / without",
            f"{batched_cpu:,.0f} ms",
            f"unbatched {nm_cpu:,.0f} ms", ratio(batched_cpu, nm_cpu), "≤ 1.00x (batching saves sends)",
            batched_cpu <= nm_cpu),
    ]
    outcome.notes.append(
        f"{size.alerts:,} alerts over {size.namespaces:,} namespaces in POSTs of {size.batch} ({size.concurrency} in "
        f"flight); best of {size.runs} alternating run(s) per system. nmcore store: "
        f"{'durable SQLite (--state-dir)' if durable else 'in memory (--no-state)'}; every POST makes "
        f"{min(size.batch, size.namespaces)} one-alert tenant notifications and one global notification. "
        "Alertmanager: group_by ['...'], group_wait 0s, receivers tenant and global with continue: true, so one "
        "webhook POST per alert-delivery. CPU is the system's own process (all threads), sink and load excluded.")
    return outcome
