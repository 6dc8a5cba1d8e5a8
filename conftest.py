"""Suite-wide guards: isolation for every test and doctest, and a planted canary secret.

Every test runs with broker credential variables set to a random canary value.
The canary must never show up in a log record (any logger, DEBUG and up),
captured stdout/stderr, an exception report, or any state file the suite writes
(journals, sim databases, configuration). A leak fails the whole run.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

CANARY = f"CANARY-SECRET-{uuid.uuid4().hex}"
CREDENTIAL_VARS = (
    "ALPACA_PAPER_API_KEY",
    "ALPACA_PAPER_SECRET_KEY",
    "ALPACA_LIVE_API_KEY",
    "ALPACA_LIVE_SECRET_KEY",
)
SCANNED_SUFFIXES = (".db", ".db-wal", ".db-shm", ".json", ".log", ".toml", ".csv", ".txt", ".yaml")
_leaks: list[str] = []


class _CanaryHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 - a broken record is not a leak
            return
        if CANARY in text:
            _leaks.append(f"log record from {record.name}: {text[:200]}")


_handler = _CanaryHandler(level=logging.DEBUG)


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.addHandler(_handler)
    root.setLevel(logging.DEBUG)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    texts = [content for _, content in report.sections]
    if report.longrepr is not None:
        texts.append(str(report.longrepr))
    if any(CANARY in text for text in texts):
        _leaks.append(f"{item.nodeid} ({report.when}): output or error report")
    return report


def scan_files(base: Path) -> list[str]:
    """State files under ``base`` that contain the canary."""
    found = []
    for path in base.rglob("*"):
        wanted = path.name.endswith(SCANNED_SUFFIXES) and "site-packages" not in path.parts
        if wanted and path.is_file() and CANARY.encode() in path.read_bytes():
            found.append(str(path))
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        try:
            base = factory.getbasetemp()
        except (OSError, ValueError):
            base = None
        if base is not None:
            _leaks.extend(f"state file {p}" for p in scan_files(base))
    if _leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("planted credential canary leaked:", red=True)
            for leak in _leaks:
                reporter.write_line(f"  {leak}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from tradingagents_brokers.config import reset_config
    from tradingagents_brokers.routing import clear_route_cache

    for var in list(os.environ):
        if var.startswith(("TRADINGAGENTS_", "ALPACA_", "APCA_")):
            monkeypatch.delenv(var)
    for var in CREDENTIAL_VARS:
        monkeypatch.setenv(var, CANARY)
    monkeypatch.setenv("TRADINGAGENTS_BROKERS_HOME", str(tmp_path / "home"))
    reset_config()
    clear_route_cache()
    yield
    clear_route_cache()
    reset_config()


@pytest.fixture
def canary() -> str:
    """The planted secret: use it as a credential value to prove it never leaks."""
    return CANARY
