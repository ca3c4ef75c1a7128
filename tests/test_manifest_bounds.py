"""Manifests are input too: a YAML bomb, self-referring aliases, absurd nesting or a huge file is one located
problem; the other documents and files load, and nm becomes ready."""

import resource
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from nmcore import manifests
from nmcore.manifests import documents_from_folder, documents_from_text
from tests.support import REPO, Nm, wait_for

LOL = '"lol"'
BILLION_LAUGHS = "\n".join(
    [f"a: &a [{', '.join([LOL] * 9)}]"]
    + [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]) + "\n"
"""Nine levels of nine aliases: a few hundred bytes that expand to 9^9 strings."""

GOOD = """\
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {name: survivor, labels: {type: global}}
spec: {url: "http://127.0.0.1:9/"}
"""


def limited_memory() -> None:
    """In the child: at most 1.5 GiB, so an unbounded expansion fails instead of taking the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))


@pytest.mark.parametrize(("text", "why"), [
    (BILLION_LAUGHS, "its aliases expand it past 1,000,000 values: a YAML bomb?"),
    ("m: {<<: {z: 1}}\n" + BILLION_LAUGHS, "its aliases expand it from 34 to 490329070 nodes"),
    ("a: &a [1, *a]\n", "it nests too deep, or refers to itself through an alias"),
    ("m: {<<: {z: 1}}\na: &a [1, *a]\n", "it refers to itself through an alias"),
    ("a: " + "[" * 900 + "]" * 900 + "\n", "it nests too deep"),
])
def test_a_document_that_would_explode_is_left_out_with_its_location(text: str, why: str) -> None:
    documents, problems = documents_from_text(GOOD + "---\n" + text + "---\n" + GOOD.replace("survivor", "second"),
                                              "bomb.yaml")
    assert [d.origin for d in documents] == ["bomb.yaml#1", "bomb.yaml#3"]
    [problem] = problems
    assert problem.origin == "bomb.yaml" and problem.message.startswith("document at line 6 left out: ")
    assert why in problem.message


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifests, "MAX_FILE_BYTES", 1000)
    (tmp_path / "huge.yaml").write_text(GOOD + "# padding\n" * 200)
    (tmp_path / "good.yaml").write_text(GOOD)
    documents, problems = documents_from_folder(tmp_path)
    assert [d.origin for d in documents] == [str(tmp_path / "good.yaml")]
    size = (tmp_path / "huge.yaml").stat().st_size
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'huge.yaml'}: not read: {size:,} bytes, more than the 1,000 a manifest file may have (split it)"]


def test_nm_validate_reports_the_bomb_and_counts_the_rest(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(BILLION_LAUGHS)
    (tmp_path / "good.yaml").write_text(GOOD)
    result = subprocess.run([sys.executable, "-m", "nmcore", "validate", str(tmp_path)], capture_output=True,
                            text=True, timeout=120, cwd=REPO, preexec_fn=limited_memory)
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stdout.splitlines() == [f"{tmp_path / 'bomb.yaml'}: document at line 1 left out: its aliases "
                                          "expand it past 1,000,000 values: a YAML bomb?"]
    assert "1 receivers can send, 0 cannot, 1 problems" in result.stderr


def test_nm_run_with_a_bomb_in_its_folder_becomes_ready_with_the_other_files(tmp_path: Path, nm) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config"
    config.mkdir()
    (config / "bomb.yaml").write_text(BILLION_LAUGHS)
    (config / "good.yaml").write_text(GOOD)
    server: Nm = nm(config, tmp_path / "state", preexec_fn=limited_memory)
    status = httpx.get(f"{server.url}/api/v2/status", timeout=10).json()
    assert [r["receiver"] for r in status["receivers"]] == ["WebhookReceiver/kubesphere-monitoring-system/survivor"]
    assert status["problems"] == [f"{config / 'bomb.yaml'}: document at line 1 left out: its aliases expand it "
                                  "past 1,000,000 values: a YAML bomb?"]
    wait_for(lambda: "a YAML bomb?" in server.output(), "the problem in the log")
