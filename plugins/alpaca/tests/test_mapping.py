"""Alpaca's documented bodies, read into the core's models."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

import pytest

from tradingagents_brokers import BrokerAPIError, InvalidOrderError, OrderChanges, OrderRequest
from tradingagents_brokers.models import ACCOUNT_FIELDS, POSITION_FIELDS
from tradingagents_brokers.orders import ORDER_FIELDS
from tradingagents_brokers_alpaca import mapping

from .fake_alpaca import fixture


def test_an_accepted_limit_order():
    order = mapping.to_order(fixture("order_equity_limit_accepted.spec.json"))
    assert (order.order_id, order.status.value, order.order_type.value) == (
        "7b08df51-c1ac-453c-99f9-323a5f075f0d",
        "accepted",
        "limit",
    )
    assert (order.qty, order.limit_price, order.filled_qty) == (Decimal(2), Decimal(150), 0)
    assert order.order_class.value == "simple"  # Alpaca sends ""
    assert order.submitted_at.microsecond == 577215  # nanoseconds cut to micro
    assert tuple(order.to_dict()) == ORDER_FIELDS


def test_a_market_order_with_numeric_fields_and_test_quirks():
    order = mapping.to_order(fixture("order_market_accepted.json"))
    assert order.order_type.value == "market"
    assert isinstance(order.qty, Decimal)


def test_order_lists_and_the_close_order():
    orders = [mapping.to_order(o) for o in fixture("orders_list.json")]
    assert orders
    close = mapping.to_order(fixture("close_position_order.json"))
    assert close.qty is None
    assert close.notional is not None


def test_positions_account_history_clock_asset():
    positions = [mapping.to_position(p) for p in fixture("positions_list.json")]
    assert all(tuple(p.to_dict()) == POSITION_FIELDS for p in positions)
    single = mapping.to_position(fixture("position_single.json"))
    assert single.symbol == "AAPL"
    assert isinstance(single.unrealized_plpc, Decimal)
    account = mapping.to_account(fixture("account.json"))
    assert tuple(account.to_dict()) == ACCOUNT_FIELDS
    assert account.buying_power > 0
    history = mapping.to_portfolio_history(fixture("portfolio_history.json"))
    assert len(history.timestamps) == len(history.equity) > 0
    assert history.timestamps[0].year == 2020  # the fixture is in milliseconds
    assert (
        mapping.to_portfolio_history(
            {**fixture("portfolio_history.json"), "timestamp": [1580826600, 1580827500, 1580828400]}
        ).timestamps
        == history.timestamps
    )
    clock = mapping.to_clock(fixture("clock.spec.json"))
    assert clock.timestamp.tzinfo is not None
    asset = mapping.to_asset(fixture("asset.json"))
    assert (asset.symbol, asset.asset_class) == ("AAPL", "us_equity")


def test_the_day_trading_fields_are_optional():
    body = fixture("account.json")
    del body["daytrade_count"], body["daytrading_buying_power"]
    account = mapping.to_account(body)
    assert (account.daytrade_count, account.daytrading_buying_power) == (None, None)


def test_history_leaves_out_days_without_equity():
    body = {
        "timestamp": [1, 2, 3],
        "equity": [100, None, 102],
        "profit_loss": [0, None, 2],
        "profit_loss_pct": [0, None, None],
        "base_value": 100,
        "timeframe": "1D",
    }
    history = mapping.to_portfolio_history(body)
    assert history.equity == (Decimal(100), Decimal(102))
    assert history.profit_loss_pct == (Decimal(0), None)


def test_an_unknown_status_is_unknown_and_an_unknown_class_is_logged_once(caplog):
    caplog.set_level(logging.WARNING, logger="tradingagents.broker.alpaca")
    new_class = f"mleg_{uuid.uuid4().hex[:6]}"  # unseen in this process, whatever ran before
    body = {
        **fixture("order_equity_limit_accepted.spec.json"),
        "status": "teleported",
        "order_class": new_class,
    }
    first = mapping.to_order(body)
    mapping.to_order(body)
    assert first.status.value == "unknown"
    assert first.order_class.value == "simple"
    assert caplog.text.count(f"order_class='{new_class}'") == 1


def test_an_order_that_cannot_be_read_is_a_typed_error():
    body = {**fixture("order_equity_limit_accepted.spec.json"), "side": "sideways"}
    with pytest.raises(BrokerAPIError, match="side='sideways'"):
        mapping.to_order(body)
    with pytest.raises(BrokerAPIError, match="cannot read"):
        mapping.to_order({"status": "new"})


def test_the_latest_trade_is_the_quote():
    quote = mapping.to_quote("AAPL", {"trade": {"t": "2026-11-02T15:00:00Z", "p": 190.5}})
    assert quote.price == Decimal("190.5")
    with pytest.raises(BrokerAPIError, match="no recent trade"):
        mapping.to_quote("AAPL", {"trade": None})


def test_order_bodies_carry_decimals_as_strings():
    request = OrderRequest(
        symbol="AAPL",
        side="buy",
        qty="0.1",
        order_type="limit",
        limit_price="190.25",
        order_class="bracket",
        take_profit={"limit_price": 200},
        stop_loss={"stop_price": 180, "limit_price": "179.5"},
        client_order_id="c-1",
    )
    assert mapping.order_body(request) == {
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "time_in_force": "day",
        "client_order_id": "c-1",
        "qty": "0.1",
        "limit_price": "190.25",
        "order_class": "bracket",
        "take_profit": {"limit_price": "200"},
        "stop_loss": {"stop_price": "180", "limit_price": "179.5"},
    }
    notional = mapping.order_body(OrderRequest(symbol="AAPL", side="buy", notional=50))
    assert notional["notional"] == "50"
    assert "qty" not in notional
    trailing = OrderRequest(
        symbol="AAPL",
        side="sell",
        qty=1,
        order_type="trailing_stop",
        trail_percent="1.5",
        extended_hours=False,
    )
    assert mapping.order_body(trailing)["trail_percent"] == "1.5"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"extended_hours": True}, "limit orders with time in force day or gtc"),
        (
            {
                "extended_hours": True,
                "order_type": "limit",
                "limit_price": 10,
                "time_in_force": "ioc",
            },
            "day or gtc",
        ),
        ({"order_type": "limit", "limit_price": "10.005"}, "more than 2 decimal places"),
        ({"order_type": "limit", "limit_price": "1.001"}, "more than 2 decimal places"),
        ({"order_type": "stop", "stop_price": "1.001"}, "stop_price"),
        ({"order_class": "oto", "take_profit": {"limit_price": "2.001"}}, "take_profit"),
        (
            {"order_class": "oto", "stop_loss": {"stop_price": "1", "limit_price": "1.005"}},
            "stop_loss.limit_price",
        ),
    ],
)
def test_stable_alpaca_rules_are_checked_before_sending(fields, message):
    request = OrderRequest(symbol="AAPL", side="buy", qty=1, **fields)
    with pytest.raises(InvalidOrderError, match=message):
        mapping.validate_request(request)


def test_sub_dollar_prices_may_have_four_decimals():
    mapping.validate_request(
        OrderRequest(symbol="SIRI", side="buy", qty=1, order_type="limit", limit_price="0.1234")
    )
    extended = OrderRequest(
        symbol="AAPL",
        side="buy",
        qty=1,
        order_type="limit",
        limit_price=10,
        extended_hours=True,
        time_in_force="gtc",
    )
    mapping.validate_request(extended)


def test_replace_bodies():
    body = mapping.replace_body(OrderChanges(qty=2, limit_price="10.5", time_in_force="gtc"))
    assert body == {"qty": "2", "limit_price": "10.5", "time_in_force": "gtc"}
    with pytest.raises(InvalidOrderError):
        mapping.replace_body(OrderChanges(limit_price="10.505"))
