"""Isolation for every test and doctest: no user configuration, state in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from tradingagents_brokers.config import reset_config
    from tradingagents_brokers.routing import clear_route_cache

    for var in list(os.environ):
        if var.startswith(("TRADINGAGENTS_", "ALPACA_", "APCA_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("TRADINGAGENTS_BROKERS_HOME", str(tmp_path / "home"))
    reset_config()
    clear_route_cache()
    yield
    clear_route_cache()
    reset_config()
