from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tradingagents_brokers import BrokerSettings, TradingMode, get_broker

from .fake_tws import FakeTWS


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in list(os.environ):
        if var.startswith("TRADINGAGENTS_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("TRADINGAGENTS_BROKERS_HOME", str(tmp_path / "home"))


@pytest.fixture
def fake() -> Iterator[FakeTWS]:
    with FakeTWS() as server:
        yield server
        assert server.problems == [], "the fake TWS could not handle a request"


def options(fake: FakeTWS, **more: Any) -> dict[str, Any]:
    """Broker options for the fake: short timeouts, so faults show quickly."""
    return {
        "port": fake.port,
        "client_id": 7,
        "connect_timeout": 2,
        "request_timeout": 2,
        "order_timeout": 0.5,
        "quote_timeout": 1,
        "heartbeat_seconds": 0.2,
        "reconnect_max_seconds": 0.2,
        **more,
    }


def settings(fake: FakeTWS, mode: TradingMode = TradingMode.PAPER, **more: Any) -> BrokerSettings:
    return BrokerSettings(name="ibkr", mode=mode, options=options(fake, **more))


@pytest.fixture
def ibkr(fake: FakeTWS) -> Iterator[Any]:
    """The plugin's broker alone, connected to the fake."""
    from tradingagents_brokers_ibkr.broker import build_ibkr

    broker = build_ibkr(settings(fake))
    yield broker
    broker.close()


def gated_config(fake: FakeTWS, tmp_path: Path, core: dict[str, Any] | None = None, **more: Any):
    return {
        "trading_broker": "ibkr",
        "state_dir": str(tmp_path / "state"),
        "duplicate_window_seconds": 0,
        **(core or {}),
        "broker_options": {"ibkr": options(fake, **more)},
    }


@pytest.fixture
def gated(fake: FakeTWS, tmp_path: Path) -> Iterator[Any]:
    """The whole gate in front of the plugin, on the fake, its order stream live."""
    broker = get_broker("ibkr", config=gated_config(fake, tmp_path))
    broker.submitter.sleep = lambda seconds: None
    wait_until(lambda: broker.order_stream_status()["live"])
    yield broker
    broker.close()


def wait_until(condition: Callable[[], Any], timeout: float = 5.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still not true after {timeout}s: {condition}")
        time.sleep(0.005)
