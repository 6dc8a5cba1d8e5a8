"""A close by percentage on a broker without fractional shares is whole shares, rounded down."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from tradingagents_brokers import (
    Approval,
    InvalidOrderError,
    PluginHost,
    hookimpl,
    make_plugin_manager,
)

from ..conftest import make_gated
from ..fakes import FAKE_CAPABILITIES, FakeBroker, FakePlugin


class Recording(FakeBroker):
    """Holds 5 AAPL; notes what each close_position call was sent."""

    def __init__(self, fractional):
        super().__init__(attrs.evolve(FAKE_CAPABILITIES, fractional=fractional))
        self.closes = []

    def close_position(self, symbol, qty=None, percentage=None):
        self.closes.append((qty, percentage))
        return super().close_position(symbol, qty, percentage)


def _gated(fractional, **config):
    broker = Recording(fractional)
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(broker), name="fake-plugin")
    return make_gated(PluginHost(pm), **config), broker


@pytest.mark.parametrize(
    ("percentage", "shown"), [(50, "2"), (99, "4"), (20, "1"), (Decimal("39.9"), "1"), (100, "5")]
)
def test_the_shown_close_rounds_down_to_whole_shares(percentage, shown):
    gated, _ = _gated(fractional=False)
    assert gated.close_request("AAPL", percentage=percentage).qty == Decimal(shown)


def test_a_fractional_broker_is_shown_the_exact_share():
    gated, _ = _gated(fractional=True)
    assert gated.close_request("AAPL", percentage=50).qty == Decimal("2.5")


def test_the_broker_is_sent_the_whole_shares_that_were_shown():
    gated, broker = _gated(fractional=False)
    gated.close_position("AAPL", percentage=50)
    assert broker.closes == [(Decimal(2), None)]


def test_a_fractional_broker_is_sent_the_percentage():
    gated, broker = _gated(fractional=True)
    gated.close_position("AAPL", percentage=50)
    assert broker.closes == [(None, Decimal(50))]


def test_the_person_confirming_is_shown_the_rounded_quantity():
    shown = []

    class Confirm:
        @hookimpl
        def confirm_order(self, request):
            shown.append(request.qty)
            return Approval(True, "desk", "looked at it")

    gated, broker = _gated(fractional=False, require_confirmation=True)
    gated.host.pm.register(Confirm(), name="confirm")
    gated.close_position("AAPL", percentage=50)
    assert shown == [Decimal(2)]
    assert broker.closes == [(Decimal(2), None)]


def test_under_one_share_is_refused_before_anything_is_sent():
    gated, broker = _gated(fractional=False)
    with pytest.raises(InvalidOrderError, match="under one share") as raised:
        gated.close_position("AAPL", percentage=10)
    assert "close a larger percentage or give qty" in raised.value.message
    assert broker.closes == []


def test_a_fractional_qty_is_refused_on_a_whole_share_broker():
    gated, broker = _gated(fractional=False)
    with pytest.raises(InvalidOrderError, match="whole shares only"):
        gated.close_position("AAPL", qty="1.5")
    assert broker.closes == []
    gated.close_position("AAPL", qty=1)
    assert broker.closes == [(Decimal(1), None)]
