"""S4 scale of configuration: `nm run` on N tenants, each with a Secret, a WebhookConfig reading a bearer token
from it and a WebhookReceiver selecting that config (3N objects in 10 YAML files).

Time to ready is from process start (Popen) to the first 200 from /readyz, polled every 10 ms; it includes the
interpreter and imports. RSS and its peak (VmHWM) come from /proc once ready. /api/v2/status then has to list
all N receivers as able to send, so a fast start that dropped receivers would not count.
"""

import json
import time
import urllib.request
from dataclasses import dataclass

from bench.procs import Lab, rss_mb
from bench.report import Count, Outcome, Row
from bench.systems import NmRun
from bench.workload import write_config_scale


@dataclass(frozen=True)
class Size:
    tenants: int


SIZES = {"full": Size(10_000), "quick": Size(10_000), "tiny": Size(100)}
GOAL_MB = 200
GOAL_SECONDS = 3.0


def run(size_name: str = "full") -> Outcome:
    size = SIZES[size_name]
    outcome = Outcome("S4 config scale")
    with Lab("s4") as lab:
        config = lab.dir / "config"
        write_config_scale(config, size.tenants, "http://127.0.0.1:9")
        nm = NmRun(lab, config, durable=True)
        rss, peak = rss_mb(nm.child.pid)
        time.sleep(1.0)
        settled, peak = rss_mb(nm.child.pid)
        with urllib.request.urlopen(f"{nm.url}/api/v2/status", timeout=60) as response:
            status = json.loads(response.read())
    outcome.counts.append(Count("receivers able to send", size.tenants, len(status["receivers"])))
    if status["problems"]:
        outcome.notes.append(f"{len(status['problems'])} config problems, first: {status['problems'][0]}")
    outcome.rows += [
        Row(f"S4 {size.tenants:,} receivers+configs+Secrets: peak RSS", f"{peak:.0f} MB", "—", "—",
            f"≤ {GOAL_MB} MB", peak <= GOAL_MB),
        Row(f"S4 {size.tenants:,} receivers+configs+Secrets: time to ready", f"{nm.ready_after:.2f} s", "—", "—",
            f"≤ {GOAL_SECONDS:g} s", nm.ready_after <= GOAL_SECONDS),
    ]
    outcome.notes.append(
        f"{3 * size.tenants:,} objects; RSS at ready {rss:.0f} MB, 1 s later {settled:.0f} MB, peak (VmHWM) "
        f"{peak:.0f} MB, judged on the peak; durable store on.")
    return outcome
