"""The sim broker's rules: fills, resting orders, time in force, funds, persistence, prices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tradingagents_brokers import (
    BrokerConfigurationError,
    InsufficientFundsError,
    InvalidOrderError,
    NotFoundError,
    OrderStatus,
    get_broker,
)
from tradingagents_brokers.broker import BrokerSettings
from tradingagents_brokers.enums import TradingMode
from tradingagents_brokers.orders import OrderChanges
from tradingagents_brokers.sim.broker import SimBroker
from tradingagents_brokers.sim.plugin import build_sim
from tradingagents_brokers.sim.prices import (
    CallablePrices,
    CsvBars,
    StaticPrices,
    SyntheticPrices,
    price_source_from_options,
)
from tradingagents_brokers.sim.store import SimStore

T0 = dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self, at=T0):
        self.at = at

    def __call__(self):
        return self.at


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def broker(tmp_path, clock):
    prices = StaticPrices({"AAPL": 100, "MSFT": 200})
    sim = SimBroker(SimStore(tmp_path / "sim.db"), prices, initial_cash=Decimal(10_000), now=clock)
    yield sim
    sim.close()


def _place(broker, n=[0], **fields):  # noqa: B006 - a counter for unique ids
    from tradingagents_brokers import OrderRequest

    n[0] += 1
    fields.setdefault("client_order_id", f"t-{n[0]}")
    return broker.place_order(OrderRequest(**fields))


def test_market_buy_fills_at_the_price_and_moves_cash_and_positions(broker):
    order = _place(broker, symbol="AAPL", side="buy", qty=10)
    assert order.status is OrderStatus.FILLED
    assert order.filled_avg_price == Decimal(100)
    account = broker.get_account()
    assert account.cash == Decimal(9000)
    assert account.equity == Decimal(10_000)
    position = broker.get_position("AAPL")
    assert (position.qty, position.avg_entry_price, position.cost_basis) == (10, 100, 1000)


def test_notional_buy_computes_a_fractional_quantity(broker):
    order = _place(broker, symbol="MSFT", side="buy", notional=50)
    assert order.qty == Decimal("0.25")
    assert order.notional == Decimal(50)


def test_average_entry_price_and_unrealized_pl_follow_the_price(broker):
    _place(broker, symbol="AAPL", side="buy", qty=10)
    broker.set_price("AAPL", 110)
    _place(broker, symbol="AAPL", side="buy", qty=10)
    broker.set_price("AAPL", 120)
    position = broker.get_position("AAPL")
    assert position.avg_entry_price == Decimal(105)
    assert position.unrealized_pl == Decimal(300)
    assert position.unrealized_plpc == Decimal("0.1429")
    _place(broker, symbol="AAPL", side="sell", qty=5)
    assert broker.get_position("AAPL").avg_entry_price == Decimal(105)


def test_selling_everything_removes_the_position(broker):
    _place(broker, symbol="AAPL", side="buy", qty=2)
    _place(broker, symbol="AAPL", side="sell", qty=2)
    with pytest.raises(NotFoundError):
        broker.get_position("AAPL")
    assert broker.get_positions() == []


def test_buy_limit_rests_until_the_price_falls_to_it(broker):
    order = _place(broker, symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=95)
    assert order.status is OrderStatus.NEW
    broker.set_price("AAPL", "95.01")
    assert broker.get_order(order.order_id).status is OrderStatus.NEW
    broker.set_price("AAPL", 95)
    filled = broker.get_order(order.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_avg_price == Decimal(95)


def test_sell_limit_fills_at_or_above(broker):
    _place(broker, symbol="AAPL", side="buy", qty=1)
    order = _place(broker, symbol="AAPL", side="sell", qty=1, order_type="limit", limit_price=105)
    broker.set_price("AAPL", "104.99")
    assert broker.get_order(order.order_id).status is OrderStatus.NEW
    broker.set_price("AAPL", 106)
    assert broker.get_order(order.order_id).filled_avg_price == Decimal(106)


def test_buy_stop_triggers_at_or_above_the_stop(broker):
    order = _place(broker, symbol="AAPL", side="buy", qty=1, order_type="stop", stop_price=110)
    broker.set_price("AAPL", "109.99")
    assert broker.get_order(order.order_id).status is OrderStatus.NEW
    broker.set_price("AAPL", 110)
    assert broker.get_order(order.order_id).status is OrderStatus.FILLED


def test_sell_stop_limit_triggers_then_rests_as_a_limit(broker):
    _place(broker, symbol="AAPL", side="buy", qty=1)
    order = _place(
        broker,
        symbol="AAPL",
        side="sell",
        qty=1,
        order_type="stop_limit",
        stop_price=95,
        limit_price=94,
    )
    broker.set_price("AAPL", 93)  # triggers the stop, but below the limit
    assert broker.get_order(order.order_id).status is OrderStatus.NEW
    broker.set_price("AAPL", 94.5)  # above the stop again: still a working limit
    filled = broker.get_order(order.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_avg_price == Decimal("94.5")


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_ioc_and_fok_cancel_when_they_cannot_fill_at_once(broker, tif):
    order = _place(
        broker,
        symbol="AAPL",
        side="buy",
        qty=1,
        order_type="limit",
        limit_price=90,
        time_in_force=tif,
    )
    assert order.status is OrderStatus.CANCELED
    marketable = _place(
        broker,
        symbol="AAPL",
        side="buy",
        qty=1,
        order_type="limit",
        limit_price=101,
        time_in_force=tif,
    )
    assert marketable.status is OrderStatus.FILLED


def test_day_orders_expire_when_the_date_changes_and_gtc_orders_stay(broker, clock):
    day = _place(broker, symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=90)
    gtc = _place(
        broker,
        symbol="AAPL",
        side="buy",
        qty=1,
        order_type="limit",
        limit_price=90,
        time_in_force="gtc",
    )
    clock.at = T0 + dt.timedelta(days=1)
    assert broker.get_order(day.order_id).status is OrderStatus.EXPIRED
    assert broker.get_order(gtc.order_id).status is OrderStatus.NEW


def test_open_buys_reserve_buying_power(broker):
    _place(broker, symbol="MSFT", side="buy", qty=40, order_type="limit", limit_price=150)
    assert broker.get_account().buying_power == Decimal(4000)
    with pytest.raises(InsufficientFundsError, match="insufficient buying power"):
        _place(broker, symbol="AAPL", side="buy", qty=41)


def test_buying_power_boundary_exact_amount_passes_one_cent_more_fails(broker):
    with pytest.raises(InsufficientFundsError):
        _place(broker, symbol="AAPL", side="buy", notional="10000.01")
    order = _place(broker, symbol="AAPL", side="buy", qty=100)
    assert order.status is OrderStatus.FILLED
    assert broker.get_account().cash == 0


def test_no_short_selling_and_open_sells_hold_shares(broker):
    with pytest.raises(InsufficientFundsError, match="does not sell short"):
        _place(broker, symbol="AAPL", side="sell", qty=1)
    _place(broker, symbol="AAPL", side="buy", qty=2)
    _place(broker, symbol="AAPL", side="sell", qty=2, order_type="limit", limit_price=150)
    with pytest.raises(InsufficientFundsError, match="available: 0"):
        _place(broker, symbol="AAPL", side="sell", qty=1)


def test_unknown_symbol_is_an_invalid_order(broker):
    with pytest.raises(InvalidOrderError, match="unknown symbol 'ZZZ'"):
        _place(broker, symbol="ZZZ", side="buy", qty=1)
    with pytest.raises(NotFoundError):
        broker.get_quote("ZZZ")
    with pytest.raises(NotFoundError):
        broker.get_asset("ZZZ")


def test_duplicate_client_order_id_is_refused(broker):
    from tradingagents_brokers import DuplicateClientOrderIdError

    _place(broker, symbol="AAPL", side="buy", qty=1, client_order_id="same")
    with pytest.raises(DuplicateClientOrderIdError):
        _place(broker, symbol="AAPL", side="buy", qty=1, client_order_id="same")
    assert broker.get_order_by_client_id("same").qty == 1
    with pytest.raises(NotFoundError):
        broker.get_order_by_client_id("other")


def test_cancel_an_open_order_but_not_a_filled_one(broker):
    resting = _place(broker, symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=90)
    broker.cancel_order(resting.order_id)
    assert broker.get_order(resting.order_id).status is OrderStatus.CANCELED
    assert broker.get_account().buying_power == Decimal(10_000)
    filled = _place(broker, symbol="AAPL", side="buy", qty=1)
    with pytest.raises(InvalidOrderError, match="filled and can no longer be canceled"):
        broker.cancel_order(filled.order_id)
    with pytest.raises(NotFoundError):
        broker.cancel_order("missing")


def test_replace_creates_a_new_order_and_links_both(broker):
    old = _place(broker, symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=90)
    new = broker.replace_order(old.order_id, OrderChanges(qty=2, limit_price=95))
    assert (new.qty, new.limit_price, new.replaces) == (2, 95, old.order_id)
    replaced = broker.get_order(old.order_id)
    assert replaced.status is OrderStatus.REPLACED
    assert replaced.replaced_by == new.order_id
    with pytest.raises(InvalidOrderError, match="replaced and can no longer be replaced"):
        broker.replace_order(old.order_id, OrderChanges(qty=3))


def test_a_replace_that_fails_keeps_the_old_order(broker):
    old = _place(broker, symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=90)
    with pytest.raises(InsufficientFundsError):
        broker.replace_order(old.order_id, OrderChanges(qty=1000))
    assert broker.get_order(old.order_id).status is OrderStatus.NEW


def test_close_position_whole_part_and_percentage(broker):
    _place(broker, symbol="AAPL", side="buy", qty=10)
    assert broker.close_position("AAPL", qty=Decimal(2)).qty == 2
    assert broker.close_position("AAPL", percentage=Decimal(50)).qty == 4
    assert broker.close_position("AAPL").qty == 4
    with pytest.raises(NotFoundError):
        broker.close_position("AAPL")


def test_close_more_than_held_is_refused(broker):
    _place(broker, symbol="AAPL", side="buy", qty=1)
    with pytest.raises(InvalidOrderError, match="holds 1"):
        broker.close_position("AAPL", qty=Decimal(2))


def test_close_all_reports_each_symbol(broker):
    _place(broker, symbol="AAPL", side="buy", qty=1)
    _place(broker, symbol="MSFT", side="buy", qty=1)
    _place(broker, symbol="MSFT", side="sell", qty=1, order_type="limit", limit_price=500)
    results = {r.symbol: r for r in broker.close_all_positions()}
    assert results["AAPL"].ok
    assert not results["MSFT"].ok
    assert results["MSFT"].error["code"] == "insufficient_funds"
    results = broker.close_all_positions(cancel_orders=True)
    assert [(r.symbol, r.ok) for r in results] == [("MSFT", True)]
    assert broker.get_positions() == []


def test_orders_listing_filters(broker):
    filled = _place(broker, symbol="AAPL", side="buy", qty=1)
    resting = _place(broker, symbol="MSFT", side="buy", qty=1, order_type="limit", limit_price=1)
    assert [o.order_id for o in broker.get_orders("open")] == [resting.order_id]
    assert [o.order_id for o in broker.get_orders("closed")] == [filled.order_id]
    assert [o.order_id for o in broker.get_orders("all")] == [resting.order_id, filled.order_id]
    assert [o.order_id for o in broker.get_orders("all", limit=1)] == [resting.order_id]
    assert [o.order_id for o in broker.get_orders("all", symbols=["AAPL"])] == [filled.order_id]


def test_portfolio_history_records_equity_after_fills(broker, clock):
    _place(broker, symbol="AAPL", side="buy", qty=10)
    broker.set_price("AAPL", 110)
    history = broker.get_portfolio_history()
    assert history.base_value == Decimal(10_000)
    assert history.equity[0] == Decimal(10_000)
    assert history.equity[-1] == Decimal(10_100)
    assert history.profit_loss[-1] == Decimal(100)
    assert history.profit_loss_pct[-1] == Decimal("0.0100")


def test_last_equity_is_the_equity_before_today(broker, clock):
    _place(broker, symbol="AAPL", side="buy", qty=10)
    broker.set_price("AAPL", 120)
    clock.at = T0 + dt.timedelta(days=1)
    assert broker.get_account().last_equity == Decimal(10_000)


def test_state_survives_a_new_instance_and_reset_starts_over(tmp_path):
    settings = BrokerSettings(
        name="sim",
        mode=TradingMode.PAPER,
        state_dir=tmp_path,
        options={"prices": {"AAPL": 100}, "initial_cash": 5000},
    )
    first = build_sim(settings)
    _place(first, symbol="AAPL", side="buy", qty=1)
    number = first.get_account().account_number
    first.close()
    second = build_sim(settings)
    assert second.get_position("AAPL").qty == 1
    assert second.get_account().account_number == number
    second.close()
    fresh = build_sim(
        BrokerSettings(
            name="sim",
            mode=TradingMode.PAPER,
            state_dir=tmp_path,
            options={"prices": {"AAPL": 100}, "reset": True},
        )
    )
    assert fresh.get_positions() == []
    assert fresh.get_account().cash == Decimal(100_000)
    fresh.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": "red"}, "unknown broker_options.sim key"),
        ({"initial_cash": "lots"}, "initial_cash must be a number"),
        ({"initial_cash": -1}, "must not be negative"),
        ({"prices": {"AAPL": 0}}, "positive price"),
        ({"prices": {"AAPL": "x"}}, "prices.AAPL must be a number"),
        ({"prices": [1]}, "must map symbols"),
        ({"prices": {"A": 1}, "prices_csv": "x.csv"}, "choose one price source"),
        ({"prices_csv": "/nonexistent/bars.csv"}, "cannot read"),
        ({"price_source": "no_such_module:f"}, "not an importable"),
        ({"order_latency_seconds": "slow"}, "order_latency_seconds must be a number"),
        ({"order_latency_seconds": 61}, "between 0 and 60"),
        ({"order_latency_seconds": -1}, "between 0 and 60"),
    ],
)
def test_bad_sim_options_are_configuration_errors(tmp_path, options, message):
    settings = BrokerSettings(
        name="sim", mode=TradingMode.PAPER, state_dir=tmp_path, options=options
    )
    with pytest.raises(BrokerConfigurationError, match=message):
        build_sim(settings)


def test_csv_bars_give_the_latest_close_at_or_before(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text(
        "timestamp,symbol,open,close\n"
        "2026-11-02T15:00:00Z,AAPL,1,100\n"
        "2026-11-02T15:01:00Z,AAPL,1,101\n"
        "2026-11-02T15:00:00Z,msft,1,200\n"
    )
    bars = CsvBars(path)
    assert bars.quote("AAPL", T0 - dt.timedelta(seconds=1)) is None
    assert bars.quote("AAPL", T0).price == 100
    assert bars.quote("AAPL", T0 + dt.timedelta(seconds=90)).price == 101
    assert bars.quote("MSFT", T0).price == 200
    assert bars.quote("NVDA", T0) is None
    assert bars.name == "csv:bars.csv"
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,symbol\n2026-11-02T15:00:00Z,AAPL\n")
    with pytest.raises(BrokerConfigurationError, match=r"bad\.csv:2"):
        CsvBars(bad)


def test_callable_and_importable_price_sources(tmp_path):
    source = CallablePrices(lambda symbol, at: 42 if symbol == "X" else None)
    assert source.quote("X", T0).price == 42
    assert source.quote("Y", T0) is None
    named = price_source_from_options({"price_source": "tests.test_sim:fixed_price"})
    assert named.quote("ANY", T0).price == Decimal("12.5")
    assert price_source_from_options({"price_source": fixed_price}).quote("A", T0).price == 12.5


def fixed_price(symbol, at):
    return "12.5"


def test_synthetic_feed_is_deterministic_and_says_it_is_synthetic():
    feed = SyntheticPrices()
    first = feed.quote("AAPL", T0)
    assert first == feed.quote("AAPL", T0 + dt.timedelta(seconds=30))
    assert first.source == "synthetic"
    assert Decimal(186) <= first.price <= Decimal(194)
    assert feed.quote("NOPE", T0) is None
    assert price_source_from_options({}).name == "synthetic"


def test_sim_through_the_gate_with_default_options(tmp_path):
    with get_broker("sim", config={"state_dir": str(tmp_path)}) as gated:
        order = gated.place_order(symbol="AAPL", side="buy", qty=1)
        assert order.status is OrderStatus.FILLED
        assert gated.get_quote("AAPL").source == "synthetic"
        assert gated.get_clock().is_open
        assert gated.get_asset("aapl").fractionable
        assert (tmp_path / "sim.db").exists()
        assert "SimBroker" in repr(gated.broker)


def test_an_order_latency_holds_the_order_in_flight_before_the_sim_takes_it(tmp_path):
    sim = build_sim(
        BrokerSettings(
            name="sim",
            mode=TradingMode.PAPER,
            state_dir=tmp_path,
            options={"prices": {"AAPL": 100}, "order_latency_seconds": 0.2},
        )
    )
    import threading

    from tradingagents_brokers import OrderRequest

    placed = threading.Thread(
        target=sim.place_order,
        args=(OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id="slow-1"),),
    )
    placed.start()
    assert sim.get_orders("all") == []  # still on its way
    placed.join(5)
    assert [o.client_order_id for o in sim.get_orders("all")] == ["slow-1"]
    sim.close()
