"""`python -m bench [--quick] [--only S1,S2] [--profile DIR]`: run the scenarios, print the table, write RESULTS.md.

A scenario that fails is reported as such in the table (and its processes stopped); the others still run.
The exit status is 1 if any scenario failed or counted a wrong number of deliveries, so CI notices a broken
harness. Goals not met do not change the exit status: they are findings, not failures.
"""

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import s1_end_to_end, s2_sending, s3_routing, s4_config_scale, s5_latency, s6_replicas, s7_rules
from bench.profiling import summarize
from bench.report import Outcome, Row, command_line, machine, merged, results_markdown, text_table

RESULTS = Path(__file__).with_name("RESULTS.md")
PROFILE_HEADING = "## Profile"


def scenarios(size: str, profile: Path | None, durable: bool) -> dict[str, Callable[[], Outcome]]:
    def at(name: str) -> Path | None:
        return profile / f"{name}.txt" if profile else None

    return {
        "S1": lambda: s1_end_to_end.run(size, durable=durable, profile=at("S1-nm-run")),
        "S2": lambda: s2_sending.run(size, profile=at("S2-webhook-sender")),
        "S3": lambda: s3_routing.run(size),
        "S4": lambda: s4_config_scale.run(size),
        "S5": lambda: s5_latency.run(size, durable=durable),
        "S6": lambda: s6_replicas.run(size),
        "S7": lambda: s7_rules.run(size),
    }


def run_all(names: list[str], size: str, *, profile: Path | None = None, durable: bool = True) -> list[Outcome]:
    available = scenarios(size, profile, durable)
    outcomes = []
    for name in names:
        print(f"{name} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            outcome = available[name]()
        except Exception as exc:
            traceback.print_exc()
            first_line = f"{type(exc).__name__}: {exc}".splitlines()[0]
            outcome = Outcome(name, rows=[Row(name, "FAILED", "—", "—", "—", False)], failed=True,
                              notes=[f"the harness failed here ({first_line}); the traceback is on stderr"])
        outcome.seconds = time.monotonic() - started
        print(f"{name} done in {outcome.seconds:.0f} s", file=sys.stderr, flush=True)
        outcomes.append(outcome)
    return outcomes


def kept_profile_section(path: Path) -> str:
    """The hand-written profile findings of the previous RESULTS.md, carried over to the new one."""
    if not path.exists():
        return ""
    text = path.read_text()
    index = text.find(f"\n{PROFILE_HEADING}\n")
    return text[index + len(PROFILE_HEADING) + 2:] if index >= 0 else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: the whole run in about a minute")
    parser.add_argument("--size", choices=["full", "quick", "tiny"], help="explicit size (tiny: the smoke test's)")
    parser.add_argument("--only", default="S1,S2,S3,S4,S5,S6,S7", help="comma-separated scenarios (default all)")
    parser.add_argument("--no-state", action="store_true",
                        help="run nm with the in-memory store instead of the durable one (S1, S5)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample `nm run` in S1 and the webhook sender in S2 with py-spy; collapsed stacks "
                             "and a summary go to DIR")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results file (default %(default)s)")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    size = args.size or ("quick" if args.quick else "full")
    names = [n.strip().upper() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(scenarios(size, None, True)))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from S1-S7")

    start_machine = machine()
    started = time.monotonic()
    outcomes = run_all(names, size, profile=args.profile, durable=not args.no_state)
    seconds = time.monotonic() - started

    print()
    print(text_table(outcomes))
    print()
    for outcome in outcomes:
        for count in merged(outcome.counts):
            print(f"{outcome.scenario}: {count}{'' if count.correct else '  <-- WRONG'}")
    print(f"\n{size} run: {seconds:.0f} s")
    if args.profile:
        for stacks in sorted(args.profile.glob("*.txt")):
            if stacks.name.endswith(".summary.txt"):
                continue
            summary = summarize(stacks, top=20)
            stacks.with_suffix(".summary.txt").write_text(summary + "\n")
            print(f"\nprofile {stacks.name}: summary in {stacks.with_suffix('.summary.txt')}")
    if not args.no_write:
        args.results.write_text(results_markdown(
            outcomes, size=size, seconds=seconds, command=command_line(), started_load=start_machine,
            profile=kept_profile_section(args.results)))
        print(f"written to {args.results}")
    return 0 if all(o.correct for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
