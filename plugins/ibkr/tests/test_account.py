"""Positions, closing, the account, the clock, assets and reference prices, from the fake TWS."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tradingagents_brokers import (
    BrokerAPIError,
    InvalidOrderError,
    NotFoundError,
)
from tradingagents_brokers_ibkr.broker import build_ibkr
from tradingagents_brokers_ibkr.market import parse_hours

from .conftest import settings, wait_until
from .test_orders import request


def test_positions_carry_cost_and_market_value_as_decimals(ibkr, fake):
    ibkr.place_order(request(qty=10))
    fake.set_price("AAPL", "191.5")
    wait_until(lambda: ibkr.get_position("AAPL").current_price == Decimal("191.5"))
    position = ibkr.get_position("AAPL")
    assert (position.qty, position.avg_entry_price, position.cost_basis) == (
        10,
        Decimal("190.5"),
        Decimal("1905.0"),
    )
    assert position.market_value == Decimal("1915.0")
    assert position.unrealized_pl == Decimal("10.0")
    assert position.unrealized_plpc == Decimal("0.005249")
    assert (position.side.value, position.exchange) == ("long", "NASDAQ")
    with pytest.raises(NotFoundError, match="no open position in MSFT"):
        ibkr.get_position("MSFT")


def test_a_short_position_is_negative(ibkr):
    ibkr.place_order(request(side="sell", qty=3))
    wait_until(lambda: ibkr.get_positions() != [])
    position = ibkr.get_position("AAPL")
    assert (position.qty, position.side.value) == (-3, "short")
    assert position.cost_basis < 0


def test_closing_all_part_or_a_percentage_in_whole_shares(ibkr, fake):
    ibkr.place_order(request(qty=10))
    wait_until(lambda: ibkr.get_positions() != [])
    order = ibkr.close_position("AAPL", qty=2)
    assert (order.side.value, order.qty) == ("sell", 2)
    assert order.client_order_id.startswith("close-")
    wait_until(lambda: ibkr.get_position("AAPL").qty == 8)
    assert ibkr.close_position("AAPL", percentage=33).qty == 2  # 2.64 rounds down
    wait_until(lambda: ibkr.get_position("AAPL").qty == 6)
    with pytest.raises(InvalidOrderError, match="cannot close 7"):
        ibkr.close_position("AAPL", qty=7)
    with pytest.raises(InvalidOrderError, match="cannot close 0"):
        ibkr.close_position("AAPL", percentage=5)
    assert ibkr.close_position("AAPL").qty == 6
    wait_until(lambda: ibkr.get_positions() == [])
    with pytest.raises(NotFoundError):
        ibkr.close_position("AAPL")


def test_close_all_cancels_every_order_first_when_asked(ibkr, fake):
    ibkr.place_order(request(coid="a", qty=2))
    ibkr.place_order(request(coid="m", symbol="MSFT", qty=1))
    resting = ibkr.place_order(request(coid="r", order_type="limit", limit_price="100"))
    wait_until(lambda: len(ibkr.get_positions()) == 2)
    fake.book.faults.append("reject")
    results = {r.symbol: r for r in ibkr.close_all_positions(cancel_orders=True)}
    assert set(results) == {"AAPL", "MSFT"}
    assert [r.ok for r in results.values()].count(True) == 1
    refused = next(r for r in results.values() if not r.ok)
    assert refused.error["code"] == "order_rejected"
    wait_until(lambda: ibkr.get_order(resting.order_id).status.value == "canceled")


def test_the_account_in_decimals_with_long_and_short_values(ibkr, fake):
    ibkr.place_order(request(qty=10))
    ibkr.place_order(request(coid="s", symbol="MSFT", side="sell", qty=2))
    wait_until(lambda: ibkr.get_account().short_market_value != 0)
    account = ibkr.get_account()
    assert account.account_number == "DU1234567"
    assert account.currency == "USD"
    assert account.cash == Decimal("100000") - Decimal("1905") + Decimal("820.5")
    assert (
        account.equity
        == account.portfolio_value
        == account.cash + Decimal("1905") - Decimal("820.5")
    )
    assert account.buying_power == account.equity * 2
    assert account.last_equity == 100_000
    assert (account.long_market_value, account.short_market_value) == (
        Decimal("1905"),
        Decimal("-820.5"),
    )
    assert account.daytrade_count is None
    assert isinstance(account.initial_margin, Decimal)


def test_portfolio_history_is_not_in_ibs_api(ibkr):
    from tradingagents_brokers import NotSupportedError
    from tradingagents_brokers_ibkr.plugin import CAPABILITIES

    with pytest.raises(NotSupportedError, match="no history of the account's equity"):
        ibkr.get_portfolio_history("1M", "1D")
    assert CAPABILITIES.portfolio_history is False  # declared, so the gate asks nothing


def test_the_clock_reads_the_regular_hours_of_the_clock_symbol(ibkr, fake):
    clock = ibkr.get_clock()
    now = dt.datetime.now(dt.UTC)
    sessions = parse_hours(fake.hours, "US/Eastern")
    assert clock.is_open == any(start <= now < end for start, end in sessions)
    assert clock.next_open is not None
    assert clock.next_open > now
    assert clock.next_close is not None
    assert clock.next_close > now


def test_trading_hours_parse_in_their_time_zone():
    sessions = parse_hours("20250102:0930-20250102:1600;20250104:CLOSED;;", "US/Eastern")
    assert sessions == [
        (
            dt.datetime(2025, 1, 2, 14, 30, tzinfo=dt.UTC),
            dt.datetime(2025, 1, 2, 21, 0, tzinfo=dt.UTC),
        )
    ]
    assert parse_hours("", "") == []
    with pytest.raises(BrokerAPIError, match="unknown time zone"):
        parse_hours("x", "Mars/Olympus")
    with pytest.raises(BrokerAPIError, match="cannot read"):
        parse_hours("2025:0930-soon", "UTC")


def test_an_asset_is_a_stock_ib_knows(ibkr):
    asset = ibkr.get_asset("BRK.B")
    assert (asset.symbol, asset.tradable, asset.exchange) == ("BRK.B", True, "NYSE")
    assert not asset.fractionable
    assert asset.asset_class == "us_equity"
    with pytest.raises(NotFoundError, match="IB knows no stock NOPE"):
        ibkr.get_asset("NOPE")


def test_a_quote_is_the_last_trade_with_its_time(ibkr, fake):
    quote = ibkr.get_quote("AAPL")
    assert (quote.price, quote.source) == (Decimal("190.5"), "ibkr:last")
    assert dt.datetime.now(dt.UTC) - quote.as_of < dt.timedelta(seconds=5)
    fake.set_price("AAPL", "191.25")
    wait_until(lambda: ibkr.get_quote("AAPL").price == Decimal("191.25"))
    requests = [r for r in fake.requests if r[0] == "1"]
    assert len(requests) == 1, "one subscription, kept for the next quotes"


def test_quotes_keep_at_most_quote_symbols_subscriptions(fake):
    broker = build_ibkr(settings(fake, quote_symbols=1))
    try:
        broker.get_quote("AAPL")
        broker.get_quote("MSFT")
        wait_until(lambda: [r for r in fake.requests if r[0] == "2"])  # AAPL's was cancelled
        assert broker.get_quote("AAPL").price == Decimal("190.5")
    finally:
        broker.close()


def test_delayed_data_is_dated_fifteen_minutes_back(fake):
    broker = build_ibkr(settings(fake, market_data_type=3))
    try:
        quote = broker.get_quote("AAPL")
        assert quote.source == "ibkr:delayed_last"
        assert dt.datetime.now(dt.UTC) - quote.as_of >= dt.timedelta(minutes=14)
    finally:
        broker.close()


def test_no_market_data_subscription_is_a_clear_error(ibkr, fake):
    fake.no_data.add("MSFT")
    with pytest.raises(BrokerAPIError, match="market-data subscription") as raised:
        ibkr.get_quote("MSFT")
    assert raised.value.details["ib_code"] == 354


def test_no_trade_price_in_time_is_a_clear_error(ibkr, fake):
    fake.call(lambda: fake.book.prices.__setitem__("MSFT", Decimal(-1)))
    with pytest.raises(BrokerAPIError, match="no trade price for MSFT"):
        ibkr.get_quote("MSFT")
