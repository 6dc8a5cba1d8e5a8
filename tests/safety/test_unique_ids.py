"""A broker that takes a second order with one client order id is never sent an order twice."""

from __future__ import annotations

import attrs
import pytest

from tradingagents_brokers import (
    BrokerAPIError,
    BrokerRateLimitError,
    OrderOutcomeUnknownError,
    PluginHost,
    make_plugin_manager,
)

from ..conftest import make_gated
from ..fakes import FAKE_CAPABILITIES, FakeBroker, FakePlugin


class Lenient(FakeBroker):
    """Takes any order, whatever its client order id (as a broker with a free-text tag)."""

    def place_order(self, request):
        kept, self.orders = self.orders, {}
        try:
            return super().place_order(request)
        finally:
            self.orders = {**kept, **self.orders}


def _gated(unique):
    broker = Lenient(attrs.evolve(FAKE_CAPABILITIES, unique_client_order_ids=unique))
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(broker), name="fake-plugin")
    return make_gated(PluginHost(pm), submit_retries=2), broker


def _lose_the_answer_and_the_look_up(broker):
    broker.accept_before_failing = True
    broker.fail_next = BrokerAPIError("HTTP 503 after the order was taken", status_code=503)
    broker.lookup_error = BrokerAPIError("the look-up timed out too")


def test_after_a_failed_look_up_the_order_is_not_sent_again():
    gated, broker = _gated(unique=False)
    _lose_the_answer_and_the_look_up(broker)
    with pytest.raises(OrderOutcomeUnknownError):
        gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert len(broker.place_calls) == 1
    assert len(broker.orders) == 1
    assert gated.journal.intent(1).status == "unknown"


def test_a_broker_wrongly_declaring_unique_ids_would_get_the_order_twice():
    gated, broker = _gated(unique=True)
    _lose_the_answer_and_the_look_up(broker)
    gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert len(broker.orders) == 2  # what the capability exists to prevent


def test_after_a_certain_not_found_the_order_is_sent_again_once():
    gated, broker = _gated(unique=False)
    broker.fail_next = BrokerRateLimitError("slow down", retry_after=0.01)
    order = gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert len(broker.place_calls) == 2
    assert list(broker.orders) == [order.order_id]


def test_the_capability_is_reported():
    assert FAKE_CAPABILITIES.to_dict()["unique_client_order_ids"] is True
