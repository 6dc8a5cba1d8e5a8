"""The IBKR plugin passes the core's conformance kit at the trading level, against the fake TWS.

The fake speaks TWS's socket API on loopback, so the kit drives ib_async over a
real socket: the handshake, placeOrder, the order events and the listings.
"""

from __future__ import annotations

import pytest

from tradingagents_brokers.testing.kit import BrokerConformanceTests, BrokerTradingTests

from .conftest import options

#: An account of IB's live kind (paper accounts start with D): the plugin connects in its
#: factory and refuses a paper login in live mode, so the kit's live-mode tests get a
#: fake TWS logged in to a live account.
LIVE_ACCOUNT = "U7654321"


class _OnTheFake:
    """Both kit levels run against the fake TWS of each test."""

    broker_name = "ibkr"
    distribution = "tradingagents-brokers-ibkr"

    @pytest.fixture(autouse=True)
    def _server(self, fake, request):
        if any(word in request.node.name for word in ("live_mode", "live_broker")):
            fake.book.accounts[:] = [LIVE_ACCOUNT]
        self.fake = fake

    def broker_options(self):
        return options(self.fake)


class TestIBKROffline(_OnTheFake, BrokerConformanceTests):
    pass


class TestIBKRConformance(_OnTheFake, BrokerTradingTests):
    pass
