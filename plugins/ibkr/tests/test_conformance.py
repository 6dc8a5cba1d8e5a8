"""The IBKR plugin passes the core's conformance kit at the trading level, against the fake TWS.

The fake speaks TWS's socket API on loopback, so the kit drives ib_async over a
real socket: the handshake, placeOrder, the order events and the listings.
"""

from __future__ import annotations

import pytest

from tradingagents_brokers.testing.kit import BrokerTradingTests

from .conftest import options


class TestIBKRConformance(BrokerTradingTests):
    broker_name = "ibkr"
    distribution = "tradingagents-brokers-ibkr"

    @pytest.fixture(autouse=True)
    def _server(self, fake):
        self.fake = fake

    def broker_options(self):
        return options(self.fake)
