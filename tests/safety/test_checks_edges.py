"""The edges of the order checks that mutation testing found unpinned (``nox -s mutation``).

Each denial names its check, its code and its whole reason; the position check's
"an order that shrinks a position passes" shortcut holds at flat and below one
share; the rate windows are one second and one minute, not more.
"""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from tradingagents_brokers import BrokerAPIError, NotFoundError, OrderRequest, Position
from tradingagents_brokers.safety.checks import (
    REQUIRED_CHECKS,
    MissingData,
    _fmt,
    dedupe_key,
    order_price,
    reference_quote,
)

from .test_checks import _account, _intent, _order, buy, context, sell


def verdict(check, request, **kwargs):
    return REQUIRED_CHECKS[check].check_order(request=request, context=context(request, **kwargs))


def held(qty):
    return [Position(symbol="AAPL", qty=qty, avg_entry_price=100, cost_basis=100)]


DOWN = BrokerAPIError("down")


def bracket(side="buy", tp=None, sl=None, sl_limit=None, **fields):
    legs = {}
    if tp is not None:
        legs["take_profit"] = {"limit_price": tp}
    if sl is not None:
        legs["stop_loss"] = {"stop_price": sl, "limit_price": sl_limit}
    return OrderRequest(symbol="AAPL", side=side, qty=10, order_class="bracket", **legs, **fields)


# (check, request, context arguments, code, the whole reason)
DENIALS = [
    (
        "max_order_value",
        buy(qty="10.5"),
        {"config": {"max_order_value": 1000}},
        "ORDER_VALUE_EXCEEDS_MAX",
        "order value 1050 exceeds max_order_value 1000; place a smaller order",
    ),
    (
        "max_order_value",
        buy(),
        {"quote": None},
        "REFERENCE_PRICE_MISSING",
        "no reference price for AAPL: no price for AAPL",
    ),
    (
        "max_order_value",
        buy(),
        {"quote_age": 61, "config": {"quote_max_age_seconds": 60}},
        "REFERENCE_PRICE_STALE",
        "the reference price of AAPL is 61s old (quote_max_age_seconds=60)",
    ),
    (
        "max_position",
        buy(qty=101),
        {},
        "POSITION_EXCEEDS_MAX",
        "projected AAPL position 10100 (current, open and in-flight orders, and this one) "
        "exceeds max_position_size of portfolio value 10000",
    ),
    (
        "buying_power",
        buy(),
        {"account": _account(buying_power="999.994")},
        "INSUFFICIENT_BUYING_POWER",
        "this order and in-flight buys need 1000; buying power is 999.99",
    ),
    (
        "buying_power",
        buy(),
        {"account": DOWN},
        "ACCOUNT_DATA_MISSING",
        "the account could not be read: down",
    ),
    (
        "symbol_lists",
        buy(),
        {"config": {"denied_symbols": ["AAPL"]}},
        "SYMBOL_DENIED",
        "AAPL is on denied_symbols (as AAPL)",
    ),
    (
        "symbol_lists",
        buy(),
        {"config": {"allowed_symbols": ["MSFT"]}},
        "SYMBOL_NOT_ALLOWED",
        "AAPL is not on allowed_symbols",
    ),
    (
        "rate_limit",
        buy(),
        {"config": {"max_orders_per_second": 1}, "recent": [(0, _intent(1))]},
        "RATE_LIMIT_EXCEEDED",
        "1 orders in the last 1s; max_orders_per_second=1; wait and retry",
    ),
    (
        "duplicate_order",
        buy(),
        {
            "config": {"duplicate_window_seconds": 60},
            "recent": [(5, _intent(7, key=dedupe_key(buy())))],
        },
        "DUPLICATE_ORDER",
        "the same order (c-7) was placed less than 60s ago; an identical order passes once "
        "60s have gone by",
    ),
    (
        "price_collar",
        buy(order_type="limit", limit_price="111"),
        {},
        "PRICE_OUTSIDE_COLLAR",
        "limit_price 111 is 11.00% from the reference price 100 (price_collar_pct=10.00%)",
    ),
    (
        "price_collar",
        buy(order_type="stop", stop_price="89"),
        {},
        "PRICE_OUTSIDE_COLLAR",
        "stop_price 89 is 11.00% from the reference price 100 (price_collar_pct=10.00%)",
    ),
    (
        "price_collar",
        bracket(tp="126", sl="90"),
        {},
        "PRICE_OUTSIDE_COLLAR",
        "take_profit.limit_price 126 is 26.00% from the reference price 100 "
        "(leg_collar_pct=25.00%)",
    ),
    (
        "price_collar",
        bracket(tp="110", sl="74"),
        {},
        "PRICE_OUTSIDE_COLLAR",
        "stop_loss.stop_price 74 is 26.00% from the reference price 100 (leg_collar_pct=25.00%)",
    ),
    (
        "price_collar",
        bracket(tp="110", sl="90", sl_limit="74"),
        {},
        "PRICE_OUTSIDE_COLLAR",
        "stop_loss.limit_price 74 is 26.00% from the reference price 100 (leg_collar_pct=25.00%)",
    ),
    (
        "price_collar",
        bracket(tp="95", sl="90"),
        {},
        "LEG_WRONG_SIDE",
        "take_profit.limit_price must be above the entry 100",
    ),
    (
        "price_collar",
        bracket(tp="110", sl="101"),
        {},
        "LEG_WRONG_SIDE",
        "stop_loss.stop_price must be below the entry 100",
    ),
    (
        "price_collar",
        bracket(tp="110", sl="90", sl_limit="91"),
        {},
        "LEG_WRONG_SIDE",
        "stop_loss.limit_price must be at or below its stop_price",
    ),
    (
        "price_collar",
        bracket(side="sell", tp="105", sl="110"),
        {},
        "LEG_WRONG_SIDE",
        "take_profit.limit_price must be below the entry 100",
    ),
    (
        "price_collar",
        bracket(side="sell", tp="90", sl="99"),
        {},
        "LEG_WRONG_SIDE",
        "stop_loss.stop_price must be above the entry 100",
    ),
    (
        "price_collar",
        bracket(side="sell", tp="90", sl="110", sl_limit="109"),
        {},
        "LEG_WRONG_SIDE",
        "stop_loss.limit_price must be at or above its stop_price",
    ),
    (
        "price_collar",
        bracket(tp="110", sl="100.5", order_type="limit", limit_price="100.25"),
        {},
        "LEG_WRONG_SIDE",
        "stop_loss.stop_price must be below the entry 100.25",
    ),
]


@pytest.mark.parametrize(
    ("check", "request_", "kwargs", "code", "reason"),
    DENIALS,
    ids=[f"{d[0]}-{d[3]}-{n}" for n, d in enumerate(DENIALS)],
)
def test_every_denial_names_its_check_code_and_reason(check, request_, kwargs, code, reason):
    decision = verdict(check, request_, **kwargs)
    assert (decision.check, decision.allowed, decision.code, decision.reason) == (
        check,
        False,
        code,
        reason,
    )


def test_a_stop_loss_just_below_the_entry_is_on_the_right_side():
    # the stop-loss at the entry itself is on the wrong side; just below it is not
    assert verdict("price_collar", bracket(tp="110", sl="99.99")).allowed
    entry = {"order_type": "limit", "limit_price": "100.25"}
    assert verdict("price_collar", bracket(tp="110", sl="99.5", **entry)).allowed


def test_a_missing_datum_reads_as_its_message():
    missing = MissingData("ACCOUNT_DATA_MISSING", "positions could not be read")
    assert (str(missing), missing.code) == ("positions could not be read", "ACCOUNT_DATA_MISSING")


@pytest.mark.parametrize(
    ("value", "shown"),
    [("1.234", "1.23"), ("1.235", "1.24"), ("1.5", "1.5"), ("1.25", "1.25"), ("7", "7")],
)
def test_money_in_messages_has_at_most_two_decimals(value, shown):
    assert _fmt(Decimal(value)) == shown


def test_the_largest_order_validation_admits_is_refused_in_words():
    # 10**15 - 1 shares at 10**15 - 1: a value of 30 digits, more than Decimal's 28 at
    # cents; the message shows it whole instead of failing to round it
    most = "999999999999999"
    huge = buy(qty=most, order_type="limit", limit_price=most)
    decision = verdict("max_order_value", huge, config={"max_order_value": 1000})
    assert (decision.code, decision.reason) == (
        "ORDER_VALUE_EXCEEDS_MAX",
        "order value 999999999999998000000000000000 exceeds max_order_value 1000; "
        "place a smaller order",
    )


def test_the_duplicate_key_is_written_field_by_field():
    # keys are stored in the journal: every process and version must write them alike
    assert dedupe_key(buy()) == "AAPL|buy|market|10|||"
    limit = sell(qty=None, notional="250.5", order_type="limit", limit_price="99")
    assert dedupe_key(limit) == "AAPL|sell|limit||250.5|99|"


def test_a_reference_quote_for_another_symbol_asks_for_that_symbol():
    asked = []
    ctx = context(buy())

    def fetch(symbol):
        asked.append(symbol)
        raise NotFoundError(f"no price for {symbol}")

    ctx = attrs.evolve(ctx, fetch_quote=fetch)
    with pytest.raises(MissingData) as missing:
        reference_quote(ctx, "MSFT")
    assert asked == ["MSFT"]
    assert missing.value.message == "no reference price for MSFT: no price for MSFT"


def test_a_buy_trailing_stop_in_percent_is_judged_at_the_reference_plus_its_trail():
    trailing = buy(order_type="trailing_stop", trail_percent="10")
    assert order_price(trailing, context(trailing)) == Decimal("110")
    # 10 shares at 110: 1100, one cent under it denies
    assert verdict("max_order_value", trailing, config={"max_order_value": "1100"}).allowed
    over = verdict("max_order_value", trailing, config={"max_order_value": "1099.99"})
    assert over.code == "ORDER_VALUE_EXCEEDS_MAX"


class TestAnOrderThatShrinksAPositionPasses:
    """Without the account (unreadable here), any order past the shortcut is refused:
    what passes below passed by the shortcut alone."""

    @pytest.mark.parametrize(
        ("position", "order"),
        [
            ("10", sell(qty=10)),  # to flat
            ("-10", buy(qty=10)),  # a short to flat
            ("1", sell(qty=1)),  # one share to flat
            ("0.5", sell(qty="0.25")),  # under one share, still long
            ("0.5", sell(qty="0.5")),
            ("-0.5", buy(qty="0.25")),
            ("2", sell(qty="1.5")),  # to half a share
            ("-2", buy(qty="1.5")),
        ],
    )
    def test_down_to_flat_and_below_one_share(self, position, order):
        decision = verdict("max_position", order, positions=held(position), account=DOWN)
        assert (decision.check, decision.allowed) == ("max_position", True)

    @pytest.mark.parametrize(
        ("position", "order"),
        [
            ("10", sell(qty=15)),  # through flat to a short of 5
            ("-2", buy(qty=3)),  # through flat to a long of one share
            ("2", sell(qty=3)),  # to a short of one share
            ("0.5", buy(qty="0.25")),  # adds
        ],
    )
    def test_through_flat_or_adding_is_judged(self, position, order):
        decision = verdict("max_position", order, positions=held(position), account=DOWN)
        assert (decision.check, decision.code, decision.reason) == (
            "max_position",
            "ACCOUNT_DATA_MISSING",
            "the account could not be read: down",
        )

    def test_the_side_left_after_flat_is_held_to_the_limit(self):
        # portfolio 100000 x 0.10: 100 shares at 100. Long 10, sell 111: short 101.
        assert not verdict("max_position", sell(qty=111), positions=held("10")).allowed
        assert verdict("max_position", sell(qty=110), positions=held("10")).allowed
        # short 2, buy 3: long one share, against a limit of half a share
        half = {"config": {"max_position_size": "0.0005"}}
        assert not verdict("max_position", buy(qty=3), positions=held("-2"), **half).allowed


class TestPendingOrders:
    @staticmethod
    def from_sums(request):
        def broken():
            raise BrokerAPIError("orders down")

        ctx = context(request, open_orders=[_order(qty="80")], book=True)
        ctx = attrs.evolve(ctx, fetch_open_orders=broken)
        return REQUIRED_CHECKS["max_position"].check_order(request=request, context=ctx)

    def test_with_the_running_sums_the_open_orders_are_not_read_again(self):
        assert self.from_sums(buy(qty=20)).allowed  # 80 resting + 20: at the limit
        assert self.from_sums(buy(qty="20.01")).code == "POSITION_EXCEEDS_MAX"

    def test_the_orders_of_the_symbol_are_asked_for_by_symbol(self):
        request = buy(qty=20)
        asked = []

        def by_symbol(symbol):
            asked.append(symbol)
            return [_order(qty="81")]

        ctx = attrs.evolve(
            context(request, open_orders=[_order(symbol="MSFT", qty="1")]),
            fetch_symbol_orders=by_symbol,
        )
        decision = REQUIRED_CHECKS["max_position"].check_order(request=request, context=ctx)
        assert (asked, decision.code) == (["AAPL"], "POSITION_EXCEEDS_MAX")


class TestRateWindows:
    def test_the_per_second_window_is_one_second(self):
        config = {"max_orders_per_second": 1}
        assert verdict("rate_limit", buy(), config=config, recent=[(1.5, _intent(1))]).allowed
        late = verdict("rate_limit", buy(), config=config, recent=[(1, _intent(1))])
        assert (late.check, late.code) == ("rate_limit", "RATE_LIMIT_EXCEEDED")

    def test_the_per_minute_window_is_one_minute(self):
        config = {"max_orders_per_minute": 1}
        assert verdict("rate_limit", buy(), config=config, recent=[(60.5, _intent(1))]).allowed
        late = verdict("rate_limit", buy(), config=config, recent=[(60, _intent(1))])
        assert late.reason == "1 orders in the last 60s; max_orders_per_minute=1; wait and retry"


def test_a_denial_for_missing_data_is_recorded_with_its_checks_name():
    for check in ("max_order_value", "max_position", "buying_power", "price_collar"):
        request = buy(order_type="limit", limit_price="100") if check == "price_collar" else buy()
        decision = verdict(check, request, quote=None)
        assert (decision.check, decision.code) == (check, "REFERENCE_PRICE_MISSING")


# found by the mutant MaxPosition.decide <= to <: an overfilled open order counted as a
# negative pending quantity (checks.pending_qty, book._left) and lowered the projection
@pytest.mark.parametrize("book", [False, True])
def test_an_order_reported_filled_beyond_its_quantity_does_not_lower_the_projection(book):
    # 1000 shares at 100 is ten times max_position_size; the broker's nonsense order
    # (5 ordered, 1000 filled) must not make room for them
    nonsense = _order(qty="5", filled="1000")
    decision = verdict("max_position", buy(qty=1000), open_orders=[nonsense], book=book)
    assert decision.code == "POSITION_EXCEEDS_MAX"
