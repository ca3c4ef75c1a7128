"""The repository stands alone: a fresh clone with nothing beside it runs the README's commands."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".git", ".venv", ".nox", "__pycache__", ".hypothesis", ".mypy_cache", ".ruff_cache", ".pytest_cache",
        "build", "dist"}
OUTSIDE = re.compile(r"\.\./shared|shared/research|shared/seed|/work/")


def repository_files() -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if path.is_file() and not parts & SKIP and not any(p.endswith(".egg-info") for p in parts):
            found.append(path)
    return found


def test_nothing_points_outside_the_repository() -> None:
    offenders = []
    for path in repository_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line) and path != Path(__file__).resolve():
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_samples_tests_use_are_in_the_repository() -> None:
    samples = ROOT / "tests" / "samples"
    assert {p.name for p in samples.glob("*.json")} >= {"alertmanager-webhook.json",
                                                        "alertmanager-webhook-resolved.json"}
