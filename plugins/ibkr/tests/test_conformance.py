"""The IBKR plugin passes the core's conformance kit at the trading level, against the fake TWS.

The fake speaks TWS's socket API on loopback, so the kit drives ib_async over a
real socket: the handshake, placeOrder, the order events and the listings.
"""

from __future__ import annotations

import pytest

from tradingagents_brokers.testing.kit import BrokerConformanceTests, BrokerTradingTests

from .conftest import options

LIVE_ON_PAPER = (
    "the fake TWS is logged in to a paper account (DU...), which the plugin refuses in live "
    "mode when it connects, and it connects in the factory"
)


class TestIBKROffline(BrokerConformanceTests):
    broker_name = "ibkr"
    distribution = "tradingagents-brokers-ibkr"

    @pytest.fixture(autouse=True)
    def _server(self, fake):
        self.fake = fake

    def broker_options(self):
        return options(self.fake)

    @pytest.mark.xfail(reason=LIVE_ON_PAPER, strict=True)
    def test_the_factory_builds_a_live_broker_without_its_credentials(
        self, host, tmp_path, monkeypatch
    ):
        super().test_the_factory_builds_a_live_broker_without_its_credentials(
            host, tmp_path, monkeypatch
        )


class TestIBKRConformance(BrokerTradingTests):
    broker_name = "ibkr"
    distribution = "tradingagents-brokers-ibkr"

    @pytest.fixture(autouse=True)
    def _server(self, fake):
        self.fake = fake

    def broker_options(self):
        return options(self.fake)

    @pytest.mark.xfail(reason=LIVE_ON_PAPER, strict=True)
    def test_live_mode_without_the_opt_in_is_blocked(self, tmp_path, monkeypatch):
        super().test_live_mode_without_the_opt_in_is_blocked(tmp_path, monkeypatch)
