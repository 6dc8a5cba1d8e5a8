"""Bracket, OTO and OCO legs: within leg_collar_pct of the reference, on the right side."""

from __future__ import annotations

import pytest

from tradingagents_brokers import OrderRequest

from .test_checks import decide


def bracket(side="buy", tp=None, sl=None, sl_limit=None, order_class="bracket", **fields):
    legs = {}
    if tp is not None:
        legs["take_profit"] = {"limit_price": tp}
    if sl is not None:
        legs["stop_loss"] = {"stop_price": sl, "limit_price": sl_limit}
    return OrderRequest(symbol="AAPL", side=side, qty=10, order_class=order_class, **legs, **fields)


def collar(request, **kwargs):
    return decide("price_collar", request, **kwargs)


class TestLegDistance:
    def test_at_the_leg_collar_allows_one_tick_over_denies(self):
        # The reference price is 100; leg_collar_pct is 0.25.
        assert collar(bracket(tp="125", sl="75")) == "ALLOWED"
        assert collar(bracket(tp="125.01", sl="75")) == "PRICE_OUTSIDE_COLLAR"
        assert collar(bracket(tp="125", sl="74.99")) == "PRICE_OUTSIDE_COLLAR"
        assert collar(bracket(tp="125", sl="80", sl_limit="74.99")) == "PRICE_OUTSIDE_COLLAR"

    def test_the_leg_collar_is_configurable_and_names_its_key(self):
        config = {"leg_collar_pct": "0.05"}
        assert collar(bracket(tp="105", sl="95"), config=config) == "ALLOWED"
        assert collar(bracket(tp="105.01", sl="95"), config=config) == "PRICE_OUTSIDE_COLLAR"

    def test_a_missing_reference_denies_a_market_bracket(self):
        assert collar(bracket(tp="110", sl="90"), quote=None) == "REFERENCE_PRICE_MISSING"


class TestLegSide:
    @pytest.mark.parametrize(
        ("request_", "expected"),
        [
            (bracket(tp="110", sl="90"), "ALLOWED"),
            (bracket(tp="100", sl="90"), "LEG_WRONG_SIDE"),  # at the entry: no profit
            (bracket(tp="110", sl="100"), "LEG_WRONG_SIDE"),
            (bracket(tp="90", sl="110"), "LEG_WRONG_SIDE"),
            (bracket(side="sell", tp="90", sl="110"), "ALLOWED"),
            (bracket(side="sell", tp="110", sl="90"), "LEG_WRONG_SIDE"),
            # A stop-limit stop-loss: its limit at or beyond its stop, away from the market.
            (bracket(tp="110", sl="90", sl_limit="90"), "ALLOWED"),
            (bracket(tp="110", sl="90", sl_limit="90.01"), "LEG_WRONG_SIDE"),
            (bracket(side="sell", tp="90", sl="110", sl_limit="109.99"), "LEG_WRONG_SIDE"),
            # The entry is the order's limit when it has one.
            (bracket(tp="104", sl="90", order_type="limit", limit_price="105"), "LEG_WRONG_SIDE"),
            (bracket(tp="106", sl="90", order_type="limit", limit_price="105"), "ALLOWED"),
            # OTO: one leg.
            (bracket(tp="110", order_class="oto"), "ALLOWED"),
            (bracket(sl="101", order_class="oto"), "LEG_WRONG_SIDE"),
        ],
    )
    def test_each_leg_protects_the_position(self, request_, expected):
        assert collar(request_) == expected

    def test_an_oco_exits_a_position_so_its_side_is_the_exit(self):
        # Selling out of a long: take profit above the market, stop below it.
        oco = {"order_class": "oco", "order_type": "limit", "limit_price": "110"}
        assert collar(bracket(side="sell", tp="110", sl="90", **oco)) == "ALLOWED"
        assert collar(bracket(side="sell", tp="95", sl="90", **oco)) == "LEG_WRONG_SIDE"
        buy_back = {**oco, "limit_price": "90"}
        assert collar(bracket(side="buy", tp="90", sl="110", **buy_back)) == "ALLOWED"
