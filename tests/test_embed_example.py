"""examples/embed.py runs as documented: configuration and a channel built in code, tenant routing applied."""

import importlib.util
from pathlib import Path

import anyio


def test_the_embedding_example_routes_by_tenant() -> None:
    path = Path(__file__).resolve().parent.parent / "examples" / "embed.py"
    spec = importlib.util.spec_from_file_location("embed_example", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    printed = anyio.run(module.main)
    assert sorted(line.split(":")[0] for line in printed) == [
        "[ops] to alice (tenant alice)",  # alice can access payments, not search
        "[ops] to ops (tenant -)",
        "[ops] to ops (tenant -)",
    ]
    assert all("payments" in line for line in printed if "alice" in line)
