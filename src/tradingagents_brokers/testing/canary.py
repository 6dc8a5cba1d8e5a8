"""A planted credential canary for a whole test run (a pytest plugin).

Enable it with ``-p tradingagents_brokers.testing.canary`` in pytest's ``addopts``
(early, so that its module is loaded before any test imports it). Every test then
runs with these variables set to a random canary value:

* every variable that an installed broker type names in its ``credential_env``
  (so a plugin's canary follows its declaration and cannot drift from it; turn
  this off with the ``canary_from_credential_env = false`` ini option);
* the variables listed in the ``canary_credential_variables`` ini option.

The run fails if the canary reaches:

* any log record, from any logger, at DEBUG and up;
* a test's captured stdout, stderr or log, or its error report;
* a file the suite wrote under pytest's temporary directory, or under the
  ``canary_scan_paths`` ini option (cassettes, for example) - SQLite journals and
  databases, JSON, YAML, TOML, CSV, text and log files.

Tests that need the value (to pass it as a key) take the ``canary`` fixture.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Generator, Iterable
from pathlib import Path

import pytest

__all__ = ["CANARY", "leaks", "scan_files"]

CANARY = f"CANARY-SECRET-{uuid.uuid4().hex}"
DEFAULT_VARIABLES = (
    "ALPACA_PAPER_API_KEY",
    "ALPACA_PAPER_SECRET_KEY",
    "ALPACA_LIVE_API_KEY",
    "ALPACA_LIVE_SECRET_KEY",
)
SCANNED_SUFFIXES = (
    ".db",
    ".db-wal",
    ".db-shm",
    ".json",
    ".log",
    ".toml",
    ".csv",
    ".txt",
    ".yaml",
    ".yml",
)
#: Where each leak was seen; the run fails when it is not empty at the end.
leaks: list[str] = []


class CanaryHandler(logging.Handler):
    """Notes in ``sink`` every log record whose formatted text holds ``needle``."""

    def __init__(self, needle: str, sink: list[str]) -> None:
        super().__init__(level=logging.DEBUG)
        self.needle = needle
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is not a leak
            return
        if self.needle in text:
            self.sink.append(f"log record from {record.name}: {text[:200]}")


handler = CanaryHandler(CANARY, leaks)


def scan_files(bases: Iterable[Path], needle_text: str = CANARY) -> list[str]:
    """Files under ``bases`` (state, data and text files) that hold the canary."""
    needle = needle_text.encode()
    found = []
    for base in bases:
        for path in Path(base).rglob("*"):
            wanted = path.name.endswith(SCANNED_SUFFIXES) and "site-packages" not in path.parts
            if wanted and path.is_file() and needle in path.read_bytes():
                found.append(str(path))
    return found


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "canary_credential_variables",
        "environment variables set to the planted canary in every test",
        type="linelist",
        default=list(DEFAULT_VARIABLES),
    )
    parser.addini(
        "canary_from_credential_env",
        "also plant the canary in every installed broker type's credential_env variables",
        type="bool",
        default=True,
    )
    parser.addini(
        "canary_scan_paths",
        "extra directories scanned for the canary at the end of the run",
        type="paths",
        default=[],
    )


def declared_variables() -> list[str]:
    """Every variable the installed broker types name in ``credential_env`` (or as optional)."""
    from .. import BrokerError, PluginHost, make_plugin_manager

    try:
        types = PluginHost(make_plugin_manager()).broker_types.values()
    except BrokerError:  # a plugin that fails to load is reported by the tests that use it
        return []
    return sorted(
        {
            v
            for t in types
            for env in (t.credential_env, t.optional_credential_env)
            for names in env.values()
            for v in names
        }
    )


_VARIABLES = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    listed = list(config.getini("canary_credential_variables"))
    declared = declared_variables() if config.getini("canary_from_credential_env") else []
    config.stash[_VARIABLES] = sorted(set(listed) | set(declared))


def planted_variables(config: pytest.Config) -> list[str]:
    """The variables this run plants the canary in."""
    return config.stash[_VARIABLES]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    texts = [content for _, content in report.sections]
    if report.longrepr is not None:
        texts.append(str(report.longrepr))
    if any(CANARY in text for text in texts):
        leaks.append(f"{item.nodeid} ({report.when}): output or error report")
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    bases = [Path(p) for p in session.config.getini("canary_scan_paths")]
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        with contextlib.suppress(OSError, ValueError):
            bases.append(factory.getbasetemp())
    leaks.extend(f"file {path}" for path in scan_files(bases))
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("planted credential canary leaked:", red=True)
            for leak in leaks:
                reporter.write_line(f"  {leak}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _plant_canary(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in planted_variables(request.config):
        monkeypatch.setenv(variable, CANARY)


@pytest.fixture
def canary() -> str:
    """The planted secret, to use as a credential value."""
    return CANARY
