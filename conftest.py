"""Suite-wide guards: isolation for every test and doctest, and the planted credential canary.

The canary (``tradingagents_brokers.testing.canary``) sets the broker credential
variables to a random value in every test and fails the run if that value
reaches a log record, captured output, an error report or a state file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from tradingagents_brokers.config import reset_config
    from tradingagents_brokers.routing import clear_route_cache

    for var in list(os.environ):
        if var.startswith("TRADINGAGENTS_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("TRADINGAGENTS_BROKERS_HOME", str(tmp_path / "home"))
    reset_config()
    clear_route_cache()
    yield
    clear_route_cache()
    reset_config()
