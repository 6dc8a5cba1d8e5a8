from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradingagents_brokers import BrokerSettings, TradingMode, get_broker
from tradingagents_brokers.testing.canary import CANARY

from .fake_alpaca import FakeAlpaca

#: The planted canary is every Alpaca key in these tests (the canary plugin sets
#: the ALPACA_* variables); the run fails if it leaks anywhere.
CANARY_KEY = CANARY_SECRET = CANARY


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in list(os.environ):
        if var.startswith("TRADINGAGENTS_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("TRADINGAGENTS_BROKERS_HOME", str(tmp_path / "home"))


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca() as server:
        yield server


def settings(fake_url: str, **options) -> BrokerSettings:
    return BrokerSettings(
        name="alpaca",
        mode=TradingMode.PAPER,
        options={
            "base_url": fake_url,
            "data_url": fake_url,
            "read_timeout": 1,
            "connect_timeout": 1,
            **options,
        },
    )


@pytest.fixture
def alpaca(fake):
    from tradingagents_brokers_alpaca.broker import build_alpaca

    broker = build_alpaca(settings(fake.url, read_retries=1))
    broker._http.sleep = lambda seconds: None
    yield broker
    broker.close()


def gated_config(fake, tmp_path, core=None, **options):
    """A configuration of the whole gate in front of the plugin, on the fake server."""
    return {
        "trading_broker": "alpaca",
        "state_dir": str(tmp_path / "state"),
        "duplicate_window_seconds": 0,
        **(core or {}),
        "broker_options": {
            "alpaca": {
                "base_url": fake.url,
                "data_url": fake.url,
                "stream_url": fake.stream_url,
                "read_timeout": 1,
                "connect_timeout": 1,
                **options,
            }
        },
    }


@pytest.fixture
def gated(fake, tmp_path):
    """The whole gate in front of the plugin, talking to the fake server, its stream live."""
    broker = get_broker("alpaca", config=gated_config(fake, tmp_path))
    broker.submitter.sleep = lambda seconds: None
    broker.broker._http.sleep = lambda seconds: None
    wait_until(lambda: broker.order_stream_status()["live"])
    yield broker
    broker.close()


def wait_until(condition, timeout: float = 5.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still not true after {timeout}s: {condition}")
        time.sleep(0.005)
