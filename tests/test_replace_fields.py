"""A broker declares which fields a replace may change; the gate refuses the rest first."""

from __future__ import annotations

import attrs
import pytest

from tradingagents_brokers import (
    BrokerCapabilities,
    InvalidOrderError,
    OrderChanges,
    PluginHost,
    make_plugin_manager,
)
from tradingagents_brokers.models import REPLACE_FIELDS
from tradingagents_brokers.safety.validation import check_replace

from .conftest import make_gated
from .fakes import FAKE_CAPABILITIES, FakeBroker, FakePlugin


class Counting(FakeBroker):
    def __init__(self, capabilities):
        super().__init__(capabilities)
        self.calls = []

    def replace_order(self, order_id, changes):
        self.calls.append(("replace_order", order_id))
        return super().replace_order(order_id, changes)

    def get_order(self, order_id):
        self.calls.append(("get_order", order_id))
        return super().get_order(order_id)


def _gated(**caps):
    broker = Counting(attrs.evolve(FAKE_CAPABILITIES, **caps))
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(broker), name="fake-plugin")
    return make_gated(PluginHost(pm)), broker


def test_every_field_is_declared_by_default():
    assert BrokerCapabilities().replace_fields == REPLACE_FIELDS
    assert "client_order_id" not in REPLACE_FIELDS


def test_an_unknown_field_in_the_declaration_is_refused():
    with pytest.raises(ValueError, match="not fields a replace changes"):
        BrokerCapabilities(replace_fields={"qty", "symbol"})


def test_an_undeclared_field_is_refused_before_any_broker_call():
    gated, broker = _gated(replace_fields={"limit_price"})
    order = gated.place_order(symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=90)
    intents = len(gated.journal.intents())
    with pytest.raises(InvalidOrderError, match="cannot change qty in a replace") as raised:
        gated.replace_order(order.order_id, qty=2, limit_price=94)
    assert "it can change: limit_price" in raised.value.message
    assert "Cancel the order and place a new one" in raised.value.message
    assert raised.value.details["refused"] == ["qty"]
    assert broker.calls == []
    assert len(gated.journal.intents()) == intents


def test_a_declared_field_is_sent():
    gated, broker = _gated(replace_fields={"limit_price"})
    order = gated.place_order(symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=90)
    new = gated.replace_order(order.order_id, limit_price=94)
    assert new.limit_price == 94
    assert ("replace_order", order.order_id) in broker.calls


def test_a_broker_that_declares_no_field_names_nothing():
    caps = attrs.evolve(FAKE_CAPABILITIES, replace_fields=())
    with pytest.raises(InvalidOrderError, match="it can change: nothing"):
        check_replace(OrderChanges(limit_price=1), "fake", caps)


def test_the_capabilities_dict_lists_the_fields():
    assert FAKE_CAPABILITIES.to_dict()["replace_fields"] == sorted(REPLACE_FIELDS)
