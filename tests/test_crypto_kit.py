"""The conformance kit, as it is, against a crypto exchange: ``cryptosim``.

``tests/crypto_broker.py`` is the sim open around the clock, priced in USDT, in
ticks of 0.01 (BTC/USDT) down to 0.00000001 (SHIB/USDT), fractional lots, gtc by
default and no ``day``. The kit runs with its own symbol and size set and nothing
else: no expected failure, no overridden test.
"""

from __future__ import annotations

import importlib.metadata as md
from decimal import Decimal

import pytest

from tradingagents_brokers import plugins
from tradingagents_brokers.testing.kit import BrokerConformanceTests, BrokerTradingTests


@pytest.fixture(autouse=True)
def _entry_point(monkeypatch):
    ep = md.EntryPoint(name="cryptosim", value="tests.crypto_broker", group="tradingagents_brokers")
    monkeypatch.setattr(plugins, "_entry_points", lambda: [ep])


class TestCryptoOffline(BrokerConformanceTests):
    broker_name = "cryptosim"


class TestCryptoTrading(BrokerTradingTests):
    broker_name = "cryptosim"
    symbol = "BTC/USDT"
    quantity = Decimal("0.001")


class TestCryptoTradingTiny(BrokerTradingTests):
    """A coin priced in hundred-millionths, traded by the million."""

    broker_name = "cryptosim"
    symbol = "SHIB/USDT"
    quantity = Decimal(1_000_000)


def test_the_crypto_kit_runs_with_no_expected_failure_and_no_override():
    for cls in (TestCryptoOffline, TestCryptoTrading, TestCryptoTradingTiny):
        own = {name for name in vars(cls) if name.startswith("test_")}
        assert own == set(), f"{cls.__name__} overrides {own}"
