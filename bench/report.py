"""What a scenario returns, the one table every run prints, and bench/RESULTS.md with versions and machine."""

import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench.systems import alertmanager_version


@dataclass
class Row:
    """One line of the table. `met` is None when the row has no goal (or could not be measured)."""

    scenario: str
    nmcore: str
    peers: str
    ratio: str
    goal: str
    met: bool | None


@dataclass
class Count:
    """Deliveries one party was expected to make and what the sink counted (a run is wrong if these differ)."""

    who: str
    expected: int
    counted: int
    duplicates: int = 0
    misrouted: int = 0

    @property
    def correct(self) -> bool:
        return self.counted == self.expected and not self.duplicates and not self.misrouted

    def __str__(self) -> str:
        extra = "".join(f", {n} {what}" for n, what in ((self.duplicates, "duplicates"),
                                                         (self.misrouted, "misrouted")) if n)
        return f"{self.who}: {self.counted:,} of {self.expected:,} counted{extra}"


def merged(counts: list[Count]) -> list[Count]:
    """One line per party: the runs of a scenario that repeats itself added up."""
    by_who: dict[str, Count] = {}
    for c in counts:
        if c.who in by_who:
            m = by_who[c.who]
            by_who[c.who] = Count(c.who, m.expected + c.expected, m.counted + c.counted,
                                  m.duplicates + c.duplicates, m.misrouted + c.misrouted)
        else:
            by_who[c.who] = c
    return list(by_who.values())


@dataclass
class Outcome:
    scenario: str
    rows: list[Row] = field(default_factory=list)
    counts: list[Count] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    failed: bool = False

    @property
    def correct(self) -> bool:
        """Measured, and every party delivered exactly what it should have."""
        return not self.failed and all(c.correct for c in self.counts)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def rate(value: float, unit: str = "/s") -> str:
    return f"{value:,.0f}{unit}"


def verdict(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: "—"}[met]


HEADER = ("scenario", "nmcore", "peer(s)", "ratio", "goal", "met?")


def table_rows(outcomes: list[Outcome]) -> list[tuple[str, ...]]:
    return [(r.scenario, r.nmcore, r.peers, r.ratio, r.goal, verdict(r.met)) for o in outcomes for r in o.rows]


def text_table(outcomes: list[Outcome]) -> str:
    rows = [HEADER, *table_rows(outcomes)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(outcomes: list[Outcome]) -> str:
    rows = [HEADER, tuple("---" for _ in HEADER), *table_rows(outcomes)]
    return "\n".join("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "nmcore": _version("nmcore"),
             "alertmanager": alertmanager_version()}
    for name in ("apprise", "aiohttp", "httpx", "httpx-aiohttp", "uvicorn", "starlette"):
        found[name] = _version(name)
    return found


def machine() -> dict[str, str]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split()[1])
        memory = f"{total_kb / 1024 / 1024:.0f} GiB"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {"cores": str(os.cpu_count()), "cpu": model, "memory": memory,
            "os": f"{platform.system()} {platform.release()}", "load average at start": load}


def results_markdown(outcomes: list[Outcome], *, size: str, seconds: float, command: str,
                     profile: str = "", started_load: dict[str, str] | None = None) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# nmcore benchmark results",
        "",
        f"Written by `{command}` on {when} ({size} size, {seconds:.0f} s in all). Only ratios taken in the same "
        "run mean anything on a shared machine; every process (nmcore, peers, sinks, load generators) shared "
        "the same cores.",
        "",
        "## Versions",
        "",
        ", ".join(f"{k} {v}" for k, v in versions().items()),
        "",
        "## Machine",
        "",
        ", ".join(f"{k}: {v}" for k, v in (started_load or machine()).items()),
        "",
        "## Results",
        "",
        markdown_table(outcomes),
        "",
        "## Notes",
        "",
    ]
    for outcome in outcomes:
        lines.append(f"**{outcome.scenario}** ({outcome.seconds:.0f} s). Deliveries: "
                     + "; ".join(str(c) for c in merged(outcome.counts)) + ("." if outcome.counts else "none counted."))
        lines += [f"- {note}" for note in outcome.notes]
        lines.append("")
    if profile:
        lines += ["## Profile", "", profile.strip(), ""]
    return "\n".join(lines)


def command_line() -> str:
    return "python -m bench " + " ".join(sys.argv[1:]) if sys.argv[1:] else "python -m bench"
