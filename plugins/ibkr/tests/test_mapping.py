"""IB's values into the core's models: numbers, statuses, order types, accounts, quotes, errors."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from types import SimpleNamespace as NS

import pytest
from ib_async import Order as IBOrder
from ib_async import OrderStatus, Stock, Trade, TradeLogEntry

from tradingagents_brokers import (
    BrokerAPIError,
    BrokerConfigurationError,
    BrokerRateLimitError,
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    InvalidOrderError,
    NotFoundError,
    OrderRejectedError,
)
from tradingagents_brokers_ibkr import mapping
from tradingagents_brokers_ibkr.errors import is_rejection, map_error

UNSET = 1.7976931348623157e308
NOW = dt.datetime(2025, 1, 2, 15, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (190.1, Decimal("190.1")),
        (0.1, Decimal("0.1")),
        (3, Decimal(3)),
        ("12.50", Decimal("12.50")),
        (Decimal("7"), Decimal(7)),
        (None, None),
        ("", None),
        (UNSET, None),
        (float("nan"), None),
        (2**31 - 1, None),
        ("1.7976931348623157E308", None),
        ("NaN", None),
    ],
)
def test_numbers_enter_through_their_text_and_unset_means_absent(value, expected):
    assert mapping.optional_number(value, "x") == expected


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), "Infinity", True, "abc", object()])
def test_infinite_and_odd_numbers_are_errors(value):
    with pytest.raises(BrokerAPIError, match="IB sent"):
        mapping.optional_number(value, "price")


def test_a_required_number_must_be_there():
    assert mapping.number(1.5, "x") == Decimal("1.5")
    with pytest.raises(BrokerAPIError, match="no value for avgCost"):
        mapping.number(UNSET, "avgCost")
    assert str(mapping.quantity(3.0, "qty")) == "3"
    assert mapping.quantity(0.5, "qty") == Decimal("0.5")


def trade(status="Submitted", *, log=(), fills=(), filled=0.0, **order) -> Trade:
    fields = {"orderId": 5, "clientId": 7, "permId": 901, "action": "BUY", "totalQuantity": 2.0}
    fields.update({"orderType": "LMT", "lmtPrice": 180.0, "tif": "DAY", "orderRef": "c-1"})
    fields.update(order)
    entries = [TradeLogEntry(NOW, s, m, c) for s, m, c in log] or [TradeLogEntry(NOW, status)]
    return Trade(
        Stock("BRK B", "SMART", "USD"),
        IBOrder(**fields),
        OrderStatus(orderId=5, status=status, filled=filled),
        list(fills),
        entries,
    )


@pytest.mark.parametrize(
    ("status", "filled", "expected"),
    [
        ("PendingSubmit", 0, "pending_new"),
        ("ApiPending", 0, "pending_new"),
        ("PreSubmitted", 0, "accepted"),
        ("Submitted", 0, "new"),
        ("Submitted", 1, "partially_filled"),
        ("PreSubmitted", 1, "partially_filled"),
        ("Submitted", 2, "filled"),
        ("PendingCancel", 0, "pending_cancel"),
        ("Cancelled", 0, "canceled"),
        ("ApiCancelled", 0, "canceled"),
        ("Cancelled", 1, "canceled"),
        ("Filled", 2, "filled"),
        ("Inactive", 0, "rejected"),
        ("SomethingNew", 0, "unknown"),
    ],
)
def test_ib_statuses_map_to_the_cores(status, filled, expected):
    assert mapping.core_status(trade(status, filled=filled)) == expected


def test_a_rejection_reads_its_error_and_warnings_keep_the_real_status():
    rejected = trade("Cancelled", log=[("PendingSubmit", "", 0), ("Cancelled", "no", 201)])
    assert mapping.core_status(rejected) == "rejected"
    assert mapping.rejection(rejected) == (201, "no")
    canceled = trade("Cancelled", log=[("Submitted", "", 0), ("Cancelled", "", 202)])
    assert mapping.core_status(canceled) == "canceled"
    warned = trade("ValidationError", log=[("Submitted", "", 0), ("ValidationError", "w", 399)])
    assert mapping.core_status(warned) == "new"
    refused = trade("Cancelled", log=[("Submitted", "", 0), ("Cancelled", "filled", 10148)])
    assert mapping.core_status(refused) == "new", "a refused cancel does not cancel the order"
    assert mapping.ib_status(trade("ValidationError", log=[("ValidationError", "", 399)])) == (
        "PendingSubmit"
    )


def test_a_refused_change_does_not_cancel_the_order():
    """ib_async logs ``Modify``, then marks the order cancelled when TWS refuses the change."""
    refused = trade(
        "Cancelled",
        log=[("Submitted", "", 0), ("Submitted", "Modify", 0), ("Cancelled", "margin", 201)],
    )
    assert (mapping.ib_status(refused), mapping.core_status(refused)) == ("Submitted", "new")
    later = trade(  # the change went through; a later error is the order's own
        "Cancelled",
        log=[("Submitted", "Modify", 0), ("Submitted", "", 0), ("Cancelled", "no", 201)],
    )
    assert mapping.core_status(later) == "rejected"
    canceled = trade("Cancelled", log=[("Submitted", "Modify", 0), ("Cancelled", "", 202)])
    assert mapping.core_status(canceled) == "canceled", "a cancel is not a refused change"


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ({"orderType": "MKT", "lmtPrice": UNSET}, ("market", "day", None, None)),
        ({"orderType": "LMT", "tif": "GTC"}, ("limit", "gtc", Decimal(180), None)),
        ({"orderType": "STP", "auxPrice": 170.5}, ("stop", "day", None, Decimal("170.5"))),
        (
            {"orderType": "STP LMT", "auxPrice": 170.5},
            ("stop_limit", "day", Decimal(180), Decimal("170.5")),
        ),
        ({"orderType": "MOC", "lmtPrice": UNSET}, ("market", "cls", None, None)),
        ({"orderType": "LOC"}, ("limit", "cls", Decimal(180), None)),
        ({"orderType": "LMT", "tif": "OPG"}, ("limit", "opg", Decimal(180), None)),
        ({"orderType": "LMT", "tif": "GTD"}, ("limit", "gtd", Decimal(180), None)),
        ({"orderType": "LMT", "tif": "DTC"}, ("limit", "day", Decimal(180), None)),
        ({"orderType": "LMT", "tif": "WEIRD"}, ("limit", "day", Decimal(180), None)),
        ({"orderType": "REL"}, ("limit", "day", Decimal(180), None)),
        ({"orderType": "PEG MID", "lmtPrice": UNSET}, ("market", "day", None, None)),
    ],
)
def test_order_types_and_times_in_force_map_with_fallbacks(order, expected):
    read = mapping.to_order(trade(**order))
    assert (read.order_type.value, read.time_in_force.value, read.limit_price, read.stop_price) == (
        expected
    )
    assert read.symbol == "BRK.B"
    assert read.order_id == "901"
    assert read.client_order_id == "c-1"


@pytest.mark.parametrize(
    ("good_till", "expected"),
    [
        ("20270115-20:00:00", dt.datetime(2027, 1, 15, 20, tzinfo=dt.UTC)),  # IB's UTC form
        ("20270115-20:00", dt.datetime(2027, 1, 15, 20, tzinfo=dt.UTC)),
        ("20270115 15:00:00 US/Eastern", dt.datetime(2027, 1, 15, 20, tzinfo=dt.UTC)),
        ("20270715-16:00:00 America/New_York", dt.datetime(2027, 7, 15, 20, tzinfo=dt.UTC)),
        ("20270115 20:00:00 UTC", dt.datetime(2027, 1, 15, 20, tzinfo=dt.UTC)),
        ("20270115 15:00:00", None),  # the TWS login's own zone: unknown here
        ("20270115", None),  # the close of that day: not an instant
        ("20270115 15:00:00 EST", None),  # an abbreviation: no rule for summer time
        ("20270115 15:00:00 Nowhere/Atall", None),
        ("20271315-20:00:00", None),
        ("soon", None),
        ("", None),
    ],
)
def test_a_gtd_order_reads_its_expiry_or_leaves_it_empty(good_till, expected, caplog):
    caplog.set_level(logging.WARNING)
    read = mapping.to_order(trade(orderType="LMT", tif="GTD", goodTillDate=good_till))
    assert (read.time_in_force.value, read.expire_at) == ("gtd", expected)
    if expected is None and good_till:
        assert f"goodTillDate {good_till!r}" in caplog.text, "an unreadable expiry is logged"


def test_only_a_gtd_order_has_an_expiry():
    read = mapping.to_order(trade(orderType="LMT", tif="GTC", goodTillDate="20270115-20:00:00"))
    assert (read.time_in_force.value, read.expire_at) == ("gtc", None)


def test_unknown_values_are_logged_once(caplog):
    caplog.set_level(logging.WARNING)
    mapping.to_order(trade(orderType="ODD ONE"))
    mapping.to_order(trade(orderType="ODD ONE"))
    assert caplog.text.count("'ODD ONE'") == 1


def test_trailing_stops_and_fills():
    by_price = mapping.to_order(trade(orderType="TRAIL", auxPrice=2.5, lmtPrice=UNSET))
    assert (by_price.trail_price, by_price.trail_percent) == (Decimal("2.5"), None)
    by_percent = mapping.to_order(trade(orderType="TRAIL", trailingPercent=1.5, lmtPrice=UNSET))
    assert (by_percent.trail_percent, by_percent.trail_price) == (Decimal("1.5"), None)
    execution = NS(shares=2.0, cumQty=2.0, avgPrice=181.25, time=NOW, execId="e1")
    filled = mapping.to_order(
        trade("Filled", fills=[NS(execution=execution, time=NOW)], action="SELL")
    )
    assert (filled.side.value, filled.filled_qty, filled.filled_avg_price) == (
        "sell",
        2,
        Decimal("181.25"),
    )
    assert filled.filled_at == NOW


def test_an_order_without_a_permanent_id_is_named_by_client_and_order_id():
    assert mapping.to_order(trade(permId=0)).order_id == "7/5"


def test_an_order_that_cannot_be_read_is_an_api_error():
    with pytest.raises(BrokerAPIError, match="cannot read"):
        mapping.to_order(trade(clientId="x", permId=0))


def value(tag, amount, currency="USD", account="DU1", model=""):
    return NS(tag=tag, value=amount, currency=currency, account=account, modelCode=model)


def test_an_account_from_ib_tags_prefers_the_base_currency_figures():
    values = [
        value("NetLiquidation", "1000", "BASE"),
        value("NetLiquidation", "1500.5"),
        value("TotalCashValue", "500"),
        value("BuyingPower", "3000"),
        value("NetLiquidation", "9", account="DU2"),
        value("NetLiquidation", "8", model="m"),
    ]
    items = [NS(account="DU1", marketValue=1000.5), NS(account="DU1", marketValue=-1.0)]
    account = mapping.to_account("DU1", values, items)
    assert (account.equity, account.cash, account.buying_power, account.last_equity) == (
        Decimal("1500.5"),
        500,
        3000,
        Decimal("1500.5"),
    )
    assert (account.long_market_value, account.short_market_value) == (Decimal("1000.5"), -1)
    assert account.initial_margin == 0
    with pytest.raises(BrokerAPIError, match="not sent the account's BuyingPower"):
        mapping.to_account("DU1", values[:3])


def test_a_quote_needs_a_positive_last_price():
    ticker = NS(last=float("nan"), lastTimestamp=None, time=NOW)
    assert mapping.to_quote("AAPL", ticker, delayed=False, now=NOW) is None
    ticker.last = 190.5
    assert mapping.to_quote("AAPL", ticker, delayed=False, now=NOW).as_of == NOW
    ticker.time = None
    assert mapping.to_quote("AAPL", ticker, delayed=False, now=NOW).as_of == NOW
    ticker.lastTimestamp = NOW - dt.timedelta(seconds=3)
    assert mapping.to_quote("AAPL", ticker, delayed=True, now=NOW).as_of == ticker.lastTimestamp


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        (103, "Duplicate order id", DuplicateClientOrderIdError),
        (201, "Order rejected - reason: not allowed", OrderRejectedError),
        (
            201,
            "Order rejected - reason: Your Equity with Loan Value is short",
            InsufficientFundsError,
        ),
        (10147, "not found", NotFoundError),
        (135, "Can't find order", NotFoundError),
        (110, "price does not conform", InvalidOrderError),
        (10148, "cannot be cancelled, state: Filled", InvalidOrderError),
        (100, "Max rate of messages", BrokerRateLimitError),
        (326, "client id is already in use", BrokerConfigurationError),
        (354, "not subscribed", BrokerAPIError),
        (504, "Not connected", BrokerAPIError),
    ],
)
def test_ib_error_codes_map_to_the_cores_errors(code, message, kind):
    error = map_error(code, message, order_id="9")
    assert type(error) is kind
    assert error.details["ib_code"] == code
    assert error.details["order_id"] == "9"
    assert str(code) in error.message or code == 326


def test_a_short_sale_refusal_says_so():
    error = map_error(201, "Order rejected - reason: no shares to short (locate)")
    assert error.reason_codes == ("SHORT_NOT_ALLOWED",)


def test_what_counts_as_a_rejection():
    assert is_rejection(201)
    assert is_rejection(103)
    assert not any(is_rejection(code) for code in (202, 399, 2104, 10148, 161))
