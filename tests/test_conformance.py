"""The sim broker, the reference implementation, passes the whole conformance kit."""

from __future__ import annotations

import pytest

from tradingagents_brokers.testing.kit import BrokerConformanceTests, BrokerTradingTests


class TestSimConformance(BrokerTradingTests):
    broker_name = "sim"

    def broker_options(self):
        return {"prices": {"AAPL": 100}}


def test_overriding_a_kit_test_without_xfail_is_an_error():
    with pytest.raises(TypeError, match=r"mark it @pytest.mark.xfail\(reason="):

        class Quiet(BrokerConformanceTests):
            broker_name = "sim"

            def test_the_broker_type_describes_itself(self, broker_type):
                pass


def test_a_test_overridden_with_xfail_and_a_reason_is_accepted():
    class Honest(BrokerConformanceTests):
        broker_name = "sim"

        @pytest.mark.xfail(reason="this broker has no description yet")
        def test_the_broker_type_describes_itself(self, broker_type):
            raise AssertionError

    assert Honest.broker_name == "sim"
    with pytest.raises(TypeError):

        class NoReason(BrokerConformanceTests):
            @pytest.mark.xfail
            def test_the_plugin_is_discovered(self, host):
                pass
