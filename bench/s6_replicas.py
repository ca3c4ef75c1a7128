"""S6 replicas: the S1 workload on `nm run` replicas sharing one PostgreSQL, against one replica on SQLite.

Four systems, each on a fresh store, the same run: one replica on SQLite (the S1 setup), one replica on
PostgreSQL, the same with `--no-history` (what keeping the history in the database costs), and two replicas on one
PostgreSQL with the load generator's POSTs spread over both (as a Service spreads Alertmanager's connections).
Deliveries per second, from the first POST to the last arrival, and CPU per 1,000 deliveries: of the nm
processes, and of the PostgreSQL server (postmaster and its backends). The database
transactions per delivery (pg_stat_database) are what the database does for each one.

PostgreSQL runs here with fsync on (the store's commit before 200 means a flushed WAL, as SQLite's synchronous=FULL
does), on the same two cores as everything else; a real deployment has the database on its own machine.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.procs import BenchError, Lab, cpu_seconds, python
from bench.report import Count, Outcome, Row, rate, ratio
from bench.s1_end_to_end import SIZES, Size
from bench.sink import Sink
from bench.systems import NmRun
from bench.workload import write_tenants
from tests.pgserver import PostgresServer, find_bin_dir


@dataclass
class Measured:
    who: str
    rate: float
    nm_cpu_ms_per_k: float
    db_cpu_ms_per_k: float
    transactions_per_delivery: float
    count: Count
    note: str


def _server_cpu(server: PostgresServer) -> float:
    """CPU-seconds of the postmaster and every process it forked that is alive now (its backends)."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    total = cpu_seconds(postmaster)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == postmaster:
                total += cpu_seconds(int(entry))
    return total


def _commits(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return int(row[0]) if row else 0


def _measure(lab: Lab, who: str, size: Size, replicas: int, store: str | None,
             server: PostgresServer | None, history: bool = True) -> Measured:
    sink = Sink(lab, f"sink-{who}")
    config = lab.dir / f"config-{who}"
    write_tenants(config, size.namespaces, sink.url)
    nms = [NmRun(lab, config, name=f"nm-{who}-{n}", store=store, history=history) for n in range(replicas)]
    expected = 2 * size.alerts
    timeout = 120 + size.alerts / 100
    nm_before = sum(cpu_seconds(nm.child.pid) for nm in nms)
    db_before = _server_cpu(server) if server else 0.0
    commits_before = _commits(store) if store else 0
    urls = [arg for nm in nms for arg in ("--url", f"{nm.url}/api/v2/alerts")]
    load = lab.start(f"loadgen-{who}", python(
        "bench.loadgen", "burst", "--target", "nmcore", *urls, "--alerts", str(size.alerts),
        "--namespaces", str(size.namespaces), "--batch", str(size.batch), "--concurrency", str(size.concurrency)),
        stdout_pipe=True)
    sent = load.result(timeout=timeout)
    stats = sink.wait_for("alerts", expected, timeout=timeout, watch=[nm.child for nm in nms])
    nm_cpu = sum(cpu_seconds(nm.child.pid) for nm in nms) - nm_before
    db_cpu = (_server_cpu(server) - db_before) if server else 0.0
    commits = (_commits(store) - commits_before) if store else 0
    elapsed = stats["last"] - sent["start"]
    delivered = max(1, stats["alerts"])
    posts = max(1, stats["posts"])
    for nm in nms:
        nm.child.stop()
    return Measured(
        who=who, rate=stats["alerts"] / elapsed, nm_cpu_ms_per_k=1e6 * nm_cpu / delivered,
        db_cpu_ms_per_k=1e6 * db_cpu / delivered, transactions_per_delivery=commits / posts,
        count=Count(who, expected, stats["alerts"], stats["duplicates"], stats["misrouted"]),
        note=(f"{who}: {stats['alerts']:,} alert-deliveries in {stats['posts']:,} webhook POSTs, last arrival "
              f"{elapsed:.1f} s after the first POST ({stats['alerts'] / elapsed:,.0f}/s; {sent['retried']} POSTs "
              f"answered 503 and retried); nm {nm_cpu:.1f} CPU-s"
              + (f", PostgreSQL {db_cpu:.1f} CPU-s, {commits:,} transactions ({commits / posts:.2f} per webhook "
                 "POST)" if server else "") + "."))


def run(size_name: str = "full") -> Outcome:
    size = SIZES[size_name]
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise BenchError("S6 needs PostgreSQL's server binaries (initdb, pg_ctl): apt-get install postgresql")
    outcome = Outcome("S6 replicas")
    with Lab("s6") as lab:
        server = PostgresServer(bin_dir, fsync=True).init()
        try:
            server.start()
            sqlite = _measure(lab, "1 replica, SQLite", size, 1, None, None)
            one = _measure(lab, "1 replica, PostgreSQL", size, 1, server.new_database(), server)
            bare = _measure(lab, "1 replica, PostgreSQL, no history", size, 1, server.new_database(), server,
                            history=False)
            two = _measure(lab, "2 replicas, PostgreSQL", size, 2, server.new_database(), server)
        finally:
            server.cleanup()
    for measured in (sqlite, one, bare, two):
        outcome.counts.append(measured.count)
        outcome.notes.append(measured.note)

    def cpu(m: Measured) -> str:
        return f"{m.nm_cpu_ms_per_k + m.db_cpu_ms_per_k:,.0f} ms" + (
            f" (nm {m.nm_cpu_ms_per_k:,.0f} + db {m.db_cpu_ms_per_k:,.0f})" if m.db_cpu_ms_per_k else "")

    outcome.rows += [
        Row("S6 2 replicas on PostgreSQL, alert-deliveries/s", rate(two.rate), f"1 on SQLite {rate(sqlite.rate)}",
            ratio(two.rate, sqlite.rate), "— (measured; one machine: no gain expected)", None),
        Row("S6 1 replica on PostgreSQL, alert-deliveries/s", rate(one.rate), f"1 on SQLite {rate(sqlite.rate)}",
            ratio(one.rate, sqlite.rate), "—", None),
        Row("S6 CPU-ms per 1,000 alert-deliveries", f"2 on PG {cpu(two)}; 1 on PG {cpu(one)}",
            f"1 on SQLite {cpu(sqlite)}", f"{ratio(two.nm_cpu_ms_per_k + two.db_cpu_ms_per_k, sqlite.nm_cpu_ms_per_k)}"
            " (2 on PG)", "— (lower is better)", None),
        Row("S6 history on PostgreSQL: CPU-ms per 1,000 alert-deliveries, history on", cpu(one),
            f"--no-history {cpu(bare)}", ratio(one.nm_cpu_ms_per_k + one.db_cpu_ms_per_k,
                                                bare.nm_cpu_ms_per_k + bare.db_cpu_ms_per_k),
            "— (lower is better)", None),
    ]
    outcome.notes.append(
        f"{size.alerts:,} alerts over {size.namespaces:,} namespaces in POSTs of {size.batch} ({size.concurrency} in "
        "flight, spread over the replicas), the S1 workload; each system on a fresh store, one after the other. "
        f"Database transactions per webhook POST: 1 on PG {one.transactions_per_delivery:.2f}, 2 on PG "
        f"{two.transactions_per_delivery:.2f} (accepting, claiming, finishing; batched, so less than one each). "
        "PostgreSQL with fsync on, on the same cores as nm, the sink and the load.")
    return outcome
