"""The benchmark harness keeps working: every scenario runs at a tiny size, reports numbers, and every party
delivers exactly the alert-deliveries it should (none missing, duplicated or sent to the wrong tenant).

No timing is asserted: the numbers of a tiny run on a shared machine mean nothing; `python -m bench` measures.
"""

import re
from pathlib import Path

import pytest

from bench.__main__ import main, run_all
from bench.systems import alertmanager_available

NUMBER = re.compile(r"\d")
PEERS = {"S1": ["nmcore", "Alertmanager"], "S5": ["nmcore", "Alertmanager"],
         "S2": ["nmcore WebhookSender (aiohttp session)", "raw aiohttp loop", "nmcore Manager, 1 receiver"]}


@pytest.mark.parametrize("scenario", ["S1", "S2", "S3", "S4", "S5", "S7"])
def test_scenario_runs_and_counts_every_delivery(scenario: str) -> None:
    (outcome,) = run_all([scenario], "tiny")
    assert not outcome.failed, outcome.notes
    assert outcome.rows and all(NUMBER.search(row.nmcore) for row in outcome.rows), outcome.rows
    assert outcome.counts, "the scenario counted no deliveries"
    for count in outcome.counts:
        assert count.expected > 0
        assert count.correct, str(count)
    who = {count.who for count in outcome.counts}
    for party in PEERS.get(scenario, []):
        if party == "Alertmanager" and not alertmanager_available():
            continue
        assert party in who, f"{party} was not measured in {scenario}: {sorted(who)}"


def test_the_command_prints_the_table_and_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# old\n\n## Profile\n\nfindings written by hand\n")

    assert main(["--size", "tiny", "--only", "S3,S4", "--results", str(results)]) == 0

    printed = capsys.readouterr().out
    assert "scenario" in printed and "S3 routing" in printed and "S4 100 receivers" in printed
    written = results.read_text()
    for needed in ("## Versions", "python ", "alertmanager ", "## Machine", "cores: ", "| S3 routing",
                   "| S4 100 receivers", "## Notes"):
        assert needed in written
    assert written.rstrip().endswith("## Profile\n\nfindings written by hand"), "the hand-written profile was lost"
