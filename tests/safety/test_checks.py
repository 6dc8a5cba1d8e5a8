"""Boundary tests of every built-in check.

At the limit allows, one tick over denies, missing or stale data denies.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tradingagents_brokers import (
    Account,
    BrokerAPIError,
    BrokerConfigurationError,
    NotFoundError,
    Order,
    OrderContext,
    OrderRequest,
    Position,
    Quote,
    TradingMode,
)
from tradingagents_brokers.config import effective_config
from tradingagents_brokers.decisions import CheckContext
from tradingagents_brokers.safety.book import OpenBook
from tradingagents_brokers.safety.checks import REQUIRED_CHECKS, dedupe_key
from tradingagents_brokers.safety.journal import IntentRecord

NOW = dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)


def _account(portfolio="100000", buying_power="100000"):
    return Account(
        account_number="T",
        status="ACTIVE",
        buying_power=buying_power,
        cash=buying_power,
        portfolio_value=portfolio,
        equity=portfolio,
        last_equity=portfolio,
    )


def _intent(n, *, symbol="AAPL", side="buy", qty="1", value="100", key="k", notional=None):
    return IntentRecord(
        intent_id=n,
        client_order_id=f"c-{n}",
        broker="fake",
        symbol=symbol,
        side=side,
        qty=None if qty is None else Decimal(qty),
        notional=None if notional is None else Decimal(notional),
        value=Decimal(value),
        dedupe_key=key,
        status="submitting",
        order_id=None,
        source="python",
        created_at="",
        updated_at="",
    )


def _order(side="buy", qty="1", filled="0", symbol="AAPL", notional=None):
    return Order(
        order_id=f"o-{side}-{qty}",
        client_order_id="x",
        symbol=symbol,
        side=side,
        order_type="limit",
        time_in_force="day",
        status="new",
        qty=qty,
        filled_qty=filled,
        limit_price="100",
        notional=notional,
    )


def context(
    request,
    *,
    config=None,
    account=None,
    positions=(),
    open_orders=(),
    quote="100",
    quote_age=0,
    in_flight=(),
    recent=(),
    allow_repeat=False,
    replaces=None,
    book=False,
):
    """``book``: the open orders come as the state cache gives them, with running sums."""
    unfilled = None
    if book:
        kept = OpenBook()
        for order in open_orders:
            kept.put(order)
        unfilled = kept.unfilled

    def fetch_quote(symbol):
        if quote is None:
            raise NotFoundError(f"no price for {symbol}")
        if isinstance(quote, Exception):
            raise quote
        return Quote(symbol=symbol, price=quote, as_of=NOW - dt.timedelta(seconds=quote_age))

    def fetch_account():
        if isinstance(account, Exception):
            raise account
        return account or _account()

    return CheckContext(
        request=request,
        order=OrderContext(allow_repeat=allow_repeat),
        broker_name="fake",
        mode=TradingMode.PAPER,
        config=effective_config(config or {}),
        fetch_account=fetch_account,
        fetch_positions=lambda: list(positions),
        fetch_open_orders=lambda: list(open_orders),
        fetch_quote=fetch_quote,
        fetch_in_flight=lambda: list(in_flight),
        # ``recent`` holds (seconds ago, intent) pairs.
        fetch_recent=lambda seconds: [i for age, i in recent if age <= seconds],
        now=lambda: NOW,
        replaces=replaces,
        fetch_unfilled=unfilled,
    )


def decide(check, request, **kwargs):
    decision = REQUIRED_CHECKS[check].check_order(
        request=request, context=context(request, **kwargs)
    )
    return decision.code if not decision.allowed else "ALLOWED"


def buy(**fields):
    return OrderRequest(symbol="AAPL", side="buy", **{"qty": 10, **fields})


def sell(**fields):
    return OrderRequest(symbol="AAPL", side="sell", **{"qty": 10, **fields})


LIMIT_1000 = {"max_order_value": 1000}


class TestMaxOrderValue:
    def test_at_the_limit_allows(self):
        assert (
            decide("max_order_value", buy(order_type="limit", limit_price=100), config=LIMIT_1000)
            == "ALLOWED"
        )
        assert decide("max_order_value", buy(), config=LIMIT_1000, quote="100") == "ALLOWED"
        assert (
            decide("max_order_value", buy(qty=None, notional="1000"), config=LIMIT_1000)
            == "ALLOWED"
        )

    def test_one_tick_over_denies(self):
        over = buy(order_type="limit", limit_price="100.0001")
        assert decide("max_order_value", over, config=LIMIT_1000) == "ORDER_VALUE_EXCEEDS_MAX"
        assert (
            decide("max_order_value", buy(qty="10.000000001"), config=LIMIT_1000)
            == "ORDER_VALUE_EXCEEDS_MAX"
        )
        notional = buy(qty=None, notional="1000.01")
        assert decide("max_order_value", notional, config=LIMIT_1000) == "ORDER_VALUE_EXCEEDS_MAX"

    def test_sells_are_limited_too(self):
        assert (
            decide("max_order_value", sell(qty=11), config=LIMIT_1000) == "ORDER_VALUE_EXCEEDS_MAX"
        )

    @pytest.mark.parametrize(
        ("request_", "quote", "at_limit"),
        [
            # a buy stop below the market buys at the market, not at its stop
            (buy(order_type="stop", stop_price="90"), "100", True),
            (buy(order_type="stop", stop_price="90"), "100.0001", False),
            # a buy stop above it at its stop
            (buy(order_type="stop", stop_price="100"), "95", True),
            (buy(order_type="stop", stop_price="100.0001"), "95", False),
            # a sell limit below the market sells at the market
            (sell(order_type="limit", limit_price="90"), "100", True),
            (sell(order_type="limit", limit_price="90"), "100.0001", False),
            # a sell limit above it rests at its limit
            (sell(order_type="limit", limit_price="100"), "90", True),
            (sell(order_type="limit", limit_price="100.0001"), "90", False),
            # a sell stop above the market (triggered now) at its stop, the higher one
            (sell(order_type="stop", stop_price="100"), "95", True),
            (sell(order_type="stop", stop_price="90"), "100.0001", False),
            # a buy never pays more than its limit, marketable or not
            (buy(order_type="limit", limit_price="100"), "90", True),
            (buy(order_type="stop_limit", stop_price="90", limit_price="100"), "120", True),
            (buy(order_type="stop_limit", stop_price="90", limit_price="100.0001"), "95", False),
            # a buy trailing stop at the market plus its trail
            (buy(order_type="trailing_stop", trail_price="1"), "99", True),
            (buy(order_type="trailing_stop", trail_price="1"), "99.0001", False),
            (buy(qty="9.9", order_type="trailing_stop", trail_percent="1"), "100", True),
            (buy(order_type="trailing_stop", trail_percent="1"), "100", False),
        ],
    )
    def test_an_order_is_worth_the_worst_price_it_can_execute_at_now(
        self, request_, quote, at_limit
    ):
        expected = "ALLOWED" if at_limit else "ORDER_VALUE_EXCEEDS_MAX"
        assert decide("max_order_value", request_, config=LIMIT_1000, quote=quote) == expected

    def test_an_order_the_market_may_fill_needs_a_reference_price(self):
        stop = buy(order_type="stop", stop_price="50")
        assert decide("max_order_value", stop, quote=None) == "REFERENCE_PRICE_MISSING"
        below = sell(order_type="limit", limit_price="50")
        assert decide("max_order_value", below, quote=None) == "REFERENCE_PRICE_MISSING"
        capped = buy(order_type="limit", limit_price="50")  # never pays more: no price needed
        assert decide("max_order_value", capped, quote=None) == "ALLOWED"

    def test_the_issues_examples_no_longer_pass(self):
        """AAPL at 100, MSFT at 400, max_order_value 10,000 (the red team's orders)."""
        apple = {"quote": "100"}
        assert decide(
            "max_order_value", buy(qty=111, order_type="stop", stop_price="90"), **apple
        ) == ("ORDER_VALUE_EXCEEDS_MAX")
        assert decide(
            "max_order_value", sell(qty=111, order_type="limit", limit_price="90"), **apple
        ) == ("ORDER_VALUE_EXCEEDS_MAX")
        msft = OrderRequest(
            symbol="MSFT", side="buy", qty=26, order_type="stop", stop_price="370.5"
        )
        assert decide("max_order_value", msft, quote="400") == "ORDER_VALUE_EXCEEDS_MAX"

    def test_market_order_without_reference_price_denies(self):
        assert decide("max_order_value", buy(), quote=None) == "REFERENCE_PRICE_MISSING"

    def test_stale_reference_price_denies(self):
        assert decide("max_order_value", buy(), quote_age=120) == "ALLOWED"
        assert decide("max_order_value", buy(), quote_age=121) == "REFERENCE_PRICE_STALE"

    def test_a_broker_failure_reading_the_price_denies(self):
        assert (
            decide("max_order_value", buy(), quote=BrokerAPIError("down"))
            == "REFERENCE_PRICE_MISSING"
        )


class TestMaxPosition:
    # portfolio 100000 x 0.10 -> 10000 = 100 shares at 100
    def test_at_the_limit_allows(self):
        assert decide("max_position", buy(qty=100)) == "ALLOWED"

    def test_a_marketable_order_is_judged_at_the_market_or_worse(self):
        crossed = buy(qty=100, order_type="stop", stop_price="50")  # buys at the market, 100
        assert decide("max_position", crossed) == "ALLOWED"
        assert decide("max_position", crossed, quote="100.0001") == "POSITION_EXCEEDS_MAX"
        high = buy(qty=100, order_type="limit", limit_price="100.0001")  # may pay its limit
        assert decide("max_position", high) == "POSITION_EXCEEDS_MAX"
        low = buy(qty=100, order_type="limit", limit_price="50")  # marked at the market
        assert decide("max_position", low) == "ALLOWED"

    def test_one_tick_over_denies(self):
        assert decide("max_position", buy(qty="100.000000001")) == "POSITION_EXCEEDS_MAX"

    @pytest.mark.parametrize("book", [False, True])
    def test_projection_counts_position_open_orders_and_in_flight_intents(self, book):
        kwargs = {
            "book": book,
            "positions": [Position(symbol="AAPL", qty=40, avg_entry_price=90, cost_basis=3600)],
            "open_orders": [_order(qty="25", filled="5"), _order(side="sell", qty="50")],
            "in_flight": [_intent(1, qty="20"), _intent(2, symbol="MSFT", qty="500")],
        }
        assert decide("max_position", buy(qty=20), **kwargs) == "ALLOWED"  # 40 + 20 + 20 + 20
        assert decide("max_position", buy(qty="20.000000001"), **kwargs) == "POSITION_EXCEEDS_MAX"

    @pytest.mark.parametrize("book", [False, True])
    def test_every_open_order_and_intent_on_the_side_adds_up(self, book):
        kwargs = {
            "book": book,
            "open_orders": [
                _order(qty="30"),
                _order(qty="20"),
                _order(qty=None, notional="1000"),
                _order(side="sell", qty="99"),
            ],
            "in_flight": [
                _intent(1, qty=None, notional="500"),
                _intent(2, qty=None, notional="500"),
            ],
        }
        # 30 + 20 + 10 (notional 1000 at 100) + 5 + 5 (two notional intents) + 30 = 100
        assert decide("max_position", buy(qty=30), **kwargs) == "ALLOWED"
        assert decide("max_position", buy(qty="30.000000001"), **kwargs) == "POSITION_EXCEEDS_MAX"

    def test_a_replacement_leaves_out_the_order_it_replaces_with_running_sums_too(self):
        replaced = _order(qty="60")
        kwargs = {"open_orders": [replaced, _order(qty="30")], "book": True}
        assert decide("max_position", buy(qty=70), **kwargs) == "POSITION_EXCEEDS_MAX"
        kwargs["replaces"] = replaced.order_id
        assert decide("max_position", buy(qty=70), **kwargs) == "ALLOWED"  # 30 + 70
        assert context(buy(), **kwargs).unfilled("AAPL", buy().side) is None

    def test_unreadable_positions_or_open_orders_deny_with_a_reason(self):
        request = buy(qty=1)
        context_ = context(request)
        context_.fetch_positions = lambda: (_ for _ in ()).throw(BrokerAPIError("positions down"))
        decision = REQUIRED_CHECKS["max_position"].check_order(request=request, context=context_)
        assert (decision.code, decision.reason) == (
            "ACCOUNT_DATA_MISSING",
            "positions could not be read: positions down",
        )
        context_ = context(request)
        context_.fetch_open_orders = lambda: (_ for _ in ()).throw(BrokerAPIError("orders down"))
        decision = REQUIRED_CHECKS["max_position"].check_order(request=request, context=context_)
        assert (decision.code, decision.reason) == (
            "ACCOUNT_DATA_MISSING",
            "open orders could not be read: orders down",
        )

    def test_a_tiny_positive_portfolio_is_judged_not_missing(self):
        decision = REQUIRED_CHECKS["max_position"].check_order(
            request=buy(qty=1), context=context(buy(qty=1), account=_account("0.5"))
        )
        assert decision.code == "POSITION_EXCEEDS_MAX"
        missing = REQUIRED_CHECKS["max_position"].check_order(
            request=buy(qty=1), context=context(buy(qty=1), account=_account("0"))
        )
        assert missing.reason == "portfolio value is 0; no room for positions"
        down = REQUIRED_CHECKS["max_position"].check_order(
            request=buy(qty=1), context=context(buy(qty=1), account=BrokerAPIError("down"))
        )
        assert down.reason == "the account could not be read: down"

    def test_notional_orders_and_intents_count_at_the_reference_price(self):
        in_flight = [_intent(1, qty=None, notional="5000")]
        assert (
            decide("max_position", buy(qty=None, notional="5000"), in_flight=in_flight) == "ALLOWED"
        )
        assert (
            decide("max_position", buy(qty=None, notional="5000.01"), in_flight=in_flight)
            == "POSITION_EXCEEDS_MAX"
        )

    def test_reducing_a_position_is_allowed_even_above_the_limit(self):
        held = [Position(symbol="AAPL", qty=500, avg_entry_price=90, cost_basis=45000)]
        assert decide("max_position", sell(qty=10), positions=held) == "ALLOWED"
        assert decide("max_position", buy(qty=1), positions=held) == "POSITION_EXCEEDS_MAX"

    def test_short_exposure_is_limited_the_same_way(self):
        assert decide("max_position", sell(qty=100)) == "ALLOWED"
        assert decide("max_position", sell(qty=101)) == "POSITION_EXCEEDS_MAX"

    def test_flipping_through_zero_counts_the_new_side(self):
        held = [Position(symbol="AAPL", qty=50, avg_entry_price=90, cost_basis=4500)]
        assert decide("max_position", sell(qty=150), positions=held) == "ALLOWED"
        assert decide("max_position", sell(qty=151), positions=held) == "POSITION_EXCEEDS_MAX"

    def test_replaced_order_leaves_the_projection(self):
        pending = [_order(qty="100")]
        assert decide("max_position", buy(qty=10), open_orders=pending) == "POSITION_EXCEEDS_MAX"
        assert (
            decide("max_position", buy(qty=10), open_orders=pending, replaces="o-buy-100")
            == "ALLOWED"
        )

    @pytest.mark.parametrize("portfolio", ["0", "-5"])
    def test_zero_or_negative_portfolio_value_denies(self, portfolio):
        assert (
            decide("max_position", buy(qty=1), account=_account(portfolio))
            == "ACCOUNT_DATA_MISSING"
        )

    def test_unreadable_account_or_positions_deny(self):
        assert (
            decide("max_position", buy(qty=1), account=BrokerAPIError("down"))
            == "ACCOUNT_DATA_MISSING"
        )

    def test_missing_reference_price_denies(self):
        assert decide("max_position", buy(qty=1), quote=None) == "REFERENCE_PRICE_MISSING"


class TestBuyingPower:
    def test_a_buy_stop_below_the_market_needs_what_the_market_costs(self):
        stop = buy(order_type="stop", stop_price="90")  # 10 shares, crossed: bought at 100
        room = {"account": _account(buying_power="1000")}
        assert decide("buying_power", stop, quote="100", **room) == "ALLOWED"
        assert decide("buying_power", stop, quote="100.0001", **room) == "INSUFFICIENT_BUYING_POWER"

    def test_at_the_limit_allows_and_one_cent_over_denies(self):
        assert (
            decide(
                "buying_power",
                buy(qty=None, notional="1000"),
                account=_account(buying_power="1000"),
            )
            == "ALLOWED"
        )
        assert (
            decide(
                "buying_power",
                buy(qty=None, notional="1000.01"),
                account=_account(buying_power="1000"),
            )
            == "INSUFFICIENT_BUYING_POWER"
        )

    def test_in_flight_buys_count(self):
        kwargs = {
            "account": _account(buying_power="1000"),
            "in_flight": [_intent(1, value="400"), _intent(2, side="sell", value="9999")],
        }
        assert decide("buying_power", buy(qty=None, notional="600"), **kwargs) == "ALLOWED"
        assert (
            decide("buying_power", buy(qty=None, notional="600.01"), **kwargs)
            == "INSUFFICIENT_BUYING_POWER"
        )

    def test_sells_need_no_buying_power(self):
        assert (
            decide("buying_power", sell(qty=1000), account=_account(buying_power="0")) == "ALLOWED"
        )

    def test_unreadable_account_denies(self):
        assert (
            decide("buying_power", buy(), account=BrokerAPIError("down")) == "ACCOUNT_DATA_MISSING"
        )

    def test_missing_price_denies(self):
        assert decide("buying_power", buy(), quote=None) == "REFERENCE_PRICE_MISSING"


class TestSymbolLists:
    def test_denied_and_allowed_lists(self):
        assert (
            decide("symbol_lists", buy(), config={"denied_symbols": ["aapl "]}) == "SYMBOL_DENIED"
        )
        assert (
            decide("symbol_lists", buy(), config={"allowed_symbols": ["MSFT"]})
            == "SYMBOL_NOT_ALLOWED"
        )
        assert (
            decide("symbol_lists", buy(), config={"allowed_symbols": ["msft", "AAPL"]}) == "ALLOWED"
        )
        assert decide("symbol_lists", buy()) == "ALLOWED"

    def test_deny_wins_over_allow(self):
        both = {"allowed_symbols": ["AAPL"], "denied_symbols": ["AAPL"]}
        assert decide("symbol_lists", buy(), config=both) == "SYMBOL_DENIED"

    @pytest.mark.parametrize(
        ("denied", "symbol"),
        [
            ("BTC/USD", "BTCUSD"),
            ("BTC/USD", "BTC-USD"),
            ("BTCUSD", "BTC/USD"),
            ("BRK.B", "BRK-B"),
            ("BRK.B", "BRK/B"),
            ("BRK.B", "BRKB"),
        ],
    )
    def test_a_denied_symbol_matches_however_it_is_written(self, denied, symbol):
        request = OrderRequest(symbol=symbol, side="buy", qty=1)
        assert (
            decide("symbol_lists", request, config={"denied_symbols": [denied]}) == "SYMBOL_DENIED"
        )
        assert decide("symbol_lists", buy(), config={"denied_symbols": [denied]}) == "ALLOWED"

    def test_an_allowed_symbol_matches_its_share_class_spellings_only(self):
        config = {"allowed_symbols": ["BRK.B", "BTC/USD"]}
        for symbol in ("BRK.B", "BRK-B", "BRK/B", "BTC/USD", "BTC-USD"):
            request = OrderRequest(symbol=symbol, side="buy", qty=1)
            assert decide("symbol_lists", request, config=config) == "ALLOWED", symbol
        # Without its separator it could be another instrument: refused, with the hint.
        request = OrderRequest(symbol="BRKB", side="buy", qty=1)
        ctx = context(request, config=config)
        decision = REQUIRED_CHECKS["symbol_lists"].check_order(request=request, context=ctx)
        assert decision.code == "SYMBOL_NOT_ALLOWED"
        assert "it has BRK.B" in decision.reason

    def test_lookalike_symbols_in_the_configuration_are_refused(self):
        with pytest.raises(BrokerConfigurationError, match="plain ASCII"):
            effective_config({"allowed_symbols": ["\u0410APL"]})


class TestRateLimit:
    def test_at_the_per_second_limit_allows_one_more_denies(self):
        config = {"max_orders_per_second": 2}
        assert decide("rate_limit", buy(), config=config, recent=[(1, _intent(1))]) == "ALLOWED"
        two = [(1, _intent(1)), (1, _intent(2))]
        assert decide("rate_limit", buy(), config=config, recent=two) == "RATE_LIMIT_EXCEEDED"

    def test_at_the_per_minute_limit_allows_one_more_denies(self):
        config = {"max_orders_per_minute": 3, "max_orders_per_second": 10}
        older = [(60, _intent(n)) for n in range(2)]
        assert decide("rate_limit", buy(), config=config, recent=older) == "ALLOWED"
        full = [(60, _intent(n)) for n in range(3)]
        assert decide("rate_limit", buy(), config=config, recent=full) == "RATE_LIMIT_EXCEEDED"

    def test_orders_outside_the_window_do_not_count(self):
        config = {"max_orders_per_second": 1}
        assert decide("rate_limit", buy(), config=config, recent=[(60, _intent(1))]) == "ALLOWED"


class TestDuplicateOrder:
    def test_the_same_order_within_the_window_is_denied(self):
        request = buy()
        recent = [(10, _intent(1, key=dedupe_key(request)))]
        assert decide("duplicate_order", request, recent=recent) == "DUPLICATE_ORDER"

    def test_an_intended_repeat_is_allowed(self):
        request = buy()
        recent = [(10, _intent(1, key=dedupe_key(request)))]
        assert decide("duplicate_order", request, recent=recent, allow_repeat=True) == "ALLOWED"

    def test_a_different_order_or_an_older_one_is_allowed(self):
        request = buy()
        assert (
            decide(
                "duplicate_order", request, recent=[(10, _intent(1, key=dedupe_key(buy(qty=11))))]
            )
            == "ALLOWED"
        )
        assert (
            decide("duplicate_order", request, recent=[(11, _intent(1, key=dedupe_key(request)))])
            == "ALLOWED"
        )

    def test_a_zero_window_switches_the_check_off(self):
        request = buy()
        recent = [(0, _intent(1, key=dedupe_key(request)))]
        assert (
            decide(
                "duplicate_order", request, recent=recent, config={"duplicate_window_seconds": 0}
            )
            == "ALLOWED"
        )

    def test_keys_tell_prices_and_sides_apart(self):
        keys = {
            dedupe_key(r)
            for r in (
                buy(),
                sell(),
                buy(order_type="limit", limit_price=1),
                buy(order_type="limit", limit_price=2),
                buy(qty=None, notional=10),
            )
        }
        assert len(keys) == 5


class TestPriceCollar:
    @pytest.mark.parametrize("price", ["90", "110"])
    def test_exactly_at_the_collar_allows(self, price):
        assert decide("price_collar", buy(order_type="limit", limit_price=price)) == "ALLOWED"

    @pytest.mark.parametrize("price", ["89.9999", "110.0001"])
    def test_one_tick_outside_denies(self, price):
        assert (
            decide("price_collar", buy(order_type="limit", limit_price=price))
            == "PRICE_OUTSIDE_COLLAR"
        )

    def test_stop_prices_are_collared_too(self):
        request = sell(order_type="stop_limit", stop_price="95", limit_price="60")
        assert decide("price_collar", request) == "PRICE_OUTSIDE_COLLAR"
        assert (
            decide("price_collar", sell(order_type="stop", stop_price="89"))
            == "PRICE_OUTSIDE_COLLAR"
        )

    def test_missing_or_stale_reference_denies(self):
        limit = buy(order_type="limit", limit_price=100)
        assert decide("price_collar", limit, quote=None) == "REFERENCE_PRICE_MISSING"
        assert decide("price_collar", limit, quote_age=121) == "REFERENCE_PRICE_STALE"

    def test_market_orders_have_no_price_to_collar(self):
        assert decide("price_collar", buy(), quote=None) == "ALLOWED"

    def test_the_collar_is_configurable(self):
        request = buy(order_type="limit", limit_price="102")
        assert decide("price_collar", request, config={"price_collar_pct": "0.02"}) == "ALLOWED"
        assert (
            decide("price_collar", request, config={"price_collar_pct": "0.0199"})
            == "PRICE_OUTSIDE_COLLAR"
        )


def test_every_required_check_is_covered_here():
    assert set(REQUIRED_CHECKS) == {
        "max_order_value",
        "max_position",
        "buying_power",
        "symbol_lists",
        "rate_limit",
        "duplicate_order",
        "price_collar",
        # In test_limits.py:
        "max_open_orders",
        "daily_notional",
        "daily_loss",
    }
