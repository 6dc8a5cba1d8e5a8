"""The texts a model reads: units, ids, and a sentence for empty results."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tradingagents_brokers import Order, OrderRequest
from tradingagents_brokers.models import PortfolioHistory
from tradingagents_brokers.tools import render


def test_a_request_names_every_price_it_carries():
    request = OrderRequest(
        symbol="AAPL",
        side="buy",
        qty=2,
        order_type="stop_limit",
        limit_price="101.5",
        stop_price=100,
        order_class="bracket",
        stop_loss={"stop_price": 90},
        take_profit={"limit_price": 120},
    )
    assert render.request_text(request) == (
        "BUY 2 shares of AAPL (stop_limit, limit $101.50, stop $100.00, day) with a stop "
        "loss at $90.00 and a take profit at $120.00"
    )
    dollars = OrderRequest(symbol="SPY", side="sell", notional="250.5")
    assert render.request_text(dollars) == "SELL $250.50 of SPY (market, day)"


def test_an_order_with_a_stop_and_no_fill_says_to_check_again():
    order = Order(
        order_id="o-1",
        client_order_id="tab-1-1",
        symbol="AAPL",
        side="sell",
        order_type="stop",
        time_in_force="gtc",
        status="new",
        qty="1.5",
        stop_price="95",
    )
    assert render.order_text(order) == (
        "Order o-1 (client order id tab-1-1): SELL 1.5 shares of AAPL, stop stop $95.00, gtc. "
        "Status: new. Not (fully) filled yet: check again with check_order_status."
    )


def test_money_and_empty_history():
    assert render.money(None) == "n/a"
    assert render.money(Decimal("-0.5")) == "-$0.50"
    empty = PortfolioHistory(timestamps=[], equity=[], profit_loss=[], profit_loss_pct=[])
    assert render.portfolio_text(empty) == "No portfolio history yet."
    flat = PortfolioHistory(
        timestamps=[dt.datetime(2026, 1, 2, tzinfo=dt.UTC)] * 2,
        equity=[Decimal(0), Decimal(0)],
        profit_loss=[Decimal(0)] * 2,
        profit_loss_pct=[None, None],
    )
    assert "change $0.00 (n/a)" in render.portfolio_text(flat)
