"""The Alpaca plugin passes the core's conformance kit, against the fake Alpaca server.

The server speaks Alpaca's wire format with its documented bodies, so the kit
drives alpaca-py over real HTTP on loopback (the recorded-HTTP level).
"""

from __future__ import annotations

import pytest

from tradingagents_brokers.testing.kit import BrokerConformanceTests, BrokerTradingTests

from .fake_data import FakeMarketData


class TestAlpacaOffline(BrokerConformanceTests):
    broker_name = "alpaca"
    distribution = "tradingagents-brokers-alpaca"


class TestAlpacaConformance(BrokerTradingTests):
    broker_name = "alpaca"
    distribution = "tradingagents-brokers-alpaca"

    @pytest.fixture(autouse=True)
    def _server(self, fake):
        self.url = fake.url
        self.stream_url = fake.stream_url
        fake.fill_market_orders = True  # as in market hours: the kit's fill test needs one
        market = FakeMarketData()
        self.quote_stream_url = market.url
        yield
        market.close()

    def broker_options(self):
        return {
            "base_url": self.url,
            "data_url": self.url,
            "stream_url": self.stream_url,
            "quote_stream_url": self.quote_stream_url,
            "read_timeout": 1,
            "connect_timeout": 1,
        }
