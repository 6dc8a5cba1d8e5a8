"""Account-level limits: open orders, the day's notional, the day's loss.

At the limit allows, one tick over denies, missing data denies; the day's
notional holds across processes sharing the store.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs
import pytest

from tradingagents_brokers import (
    Account,
    BrokerAPIError,
    GatedBroker,
    OrderContext,
    OrderRejectedError,
    PluginHost,
    Position,
    make_plugin_manager,
)
from tradingagents_brokers.config import effective_config
from tradingagents_brokers.safety.checks import REQUIRED_CHECKS, MissingData
from tradingagents_brokers.safety.journal import Journal
from tradingagents_brokers.safety.limits import DayTotals, day_start
from tradingagents_brokers.safety.state import current_state

from ..fakes import FakeBroker, FakePlugin, journal_intent
from .test_checks import _account, _intent, _order, buy, context, sell


def decide(check, request, *, source="python", totals=None, **kwargs):
    ctx = context(request, **kwargs)
    ctx = attrs.evolve(
        ctx,
        order=OrderContext(source=source),
        fetch_day_totals=None if totals is None else (lambda: totals),
    )
    decision = REQUIRED_CHECKS[check].check_order(request=request, context=ctx)
    return decision.code if not decision.allowed else "ALLOWED"


def _loss_account(equity: str, last: str = "100000") -> Account:
    return attrs.evolve(_account(), equity=Decimal(equity), last_equity=Decimal(last))


class TestMaxOpenOrders:
    def test_below_the_limit_allows_at_it_denies(self):
        two = [_order(qty="1"), _order(qty="2")]
        assert decide("max_open_orders", buy(), config={"max_open_orders": 3}, open_orders=two) == (
            "ALLOWED"
        )
        assert (
            decide(
                "max_open_orders",
                buy(),
                config={"max_open_orders": 3},
                open_orders=two,
                in_flight=[_intent(1)],
            )
            == "OPEN_ORDERS_AT_MAX"
        )

    def test_off_allows_and_unreadable_orders_deny(self):
        many = [_order(qty=str(n)) for n in range(1, 600)]
        assert decide("max_open_orders", buy(), config={"max_open_orders": "off"}, open_orders=many)
        assert decide("max_open_orders", buy(), open_orders=many) == "OPEN_ORDERS_AT_MAX"

        def broken():  # type: ignore[no-untyped-def]
            raise BrokerAPIError("down", status_code=503)

        ctx = attrs.evolve(context(buy()), fetch_open_orders=broken)
        decision = REQUIRED_CHECKS["max_open_orders"].check_order(request=buy(), context=ctx)
        assert decision.code == "ACCOUNT_DATA_MISSING"


NOTIONAL_LIMIT = {"max_daily_notional": "10000"}
LOSS_LIMIT = {"max_daily_loss": "1000"}


class TestDailyNotional:
    LIMIT = NOTIONAL_LIMIT

    def test_at_the_limit_allows_one_cent_over_denies(self):
        # 10 shares at the reference price 100: 1,000.
        at = (Decimal(9000), Decimal(0))
        over = (Decimal("9000.01"), Decimal(0))
        assert decide("daily_notional", buy(), config=self.LIMIT, totals=at) == "ALLOWED"
        assert (
            decide("daily_notional", buy(), config=self.LIMIT, totals=over)
            == "DAILY_NOTIONAL_EXCEEDS_MAX"
        )

    def test_a_marketable_stop_counts_at_the_price_it_will_fill_at(self):
        stop = buy(order_type="stop", stop_price="90")  # fills near 100, not 90
        totals = (Decimal("9000.01"), Decimal(0))
        assert (
            decide("daily_notional", stop, config=self.LIMIT, totals=totals)
            == "DAILY_NOTIONAL_EXCEEDS_MAX"
        )

    def test_the_agent_limit_binds_agents_only(self):
        config = {"max_daily_notional_agent": "5000"}
        totals = (Decimal(50000), Decimal("4000.01"))
        for source in ("agent", "mcp"):
            assert (
                decide("daily_notional", buy(), config=config, totals=totals, source=source)
                == "DAILY_NOTIONAL_EXCEEDS_MAX"
            )
        assert decide("daily_notional", buy(), config=config, totals=totals, source="cli") == (
            "ALLOWED"
        )
        at = (Decimal(50000), Decimal(4000))
        assert decide("daily_notional", buy(), config=config, totals=at, source="agent") == (
            "ALLOWED"
        )

    def test_off_allows_and_no_totals_deny(self):
        assert decide("daily_notional", buy(), totals=None) == "ALLOWED"
        assert decide("daily_notional", buy(), config=self.LIMIT) == "ACCOUNT_DATA_MISSING"


class TestDailyLoss:
    LIMIT = LOSS_LIMIT

    def test_below_the_limit_allows_at_it_denies_orders_that_add(self):
        under = _loss_account("99000.01")
        at = _loss_account("99000")
        assert decide("daily_loss", buy(), config=self.LIMIT, account=under) == "ALLOWED"
        assert decide("daily_loss", buy(), config=self.LIMIT, account=at) == "DAILY_LOSS_LIMIT"

    def test_orders_that_reduce_a_position_pass(self):
        held = [Position(symbol="AAPL", qty=10, avg_entry_price=100, cost_basis=1000)]
        at = _loss_account("99000")
        assert (
            decide("daily_loss", sell(), config=self.LIMIT, account=at, positions=held) == "ALLOWED"
        )
        assert (
            decide("daily_loss", sell(qty=11), config=self.LIMIT, account=at, positions=held)
            == "DAILY_LOSS_LIMIT"
        )

    def test_missing_data_denies(self):
        no_start = _loss_account("99000", last="0")
        assert decide("daily_loss", buy(), config=self.LIMIT, account=no_start) == (
            "ACCOUNT_DATA_MISSING"
        )
        down = BrokerAPIError("down", status_code=503)
        assert decide("daily_loss", buy(), config=self.LIMIT, account=down) == (
            "ACCOUNT_DATA_MISSING"
        )
        assert decide("daily_loss", buy(), account=no_start) == "ALLOWED"  # off


@pytest.mark.parametrize(
    ("now", "start"),
    [
        ("2026-07-01T03:59:59+00:00", "2026-06-30T04:00:00+00:00"),  # 23:59 EDT
        ("2026-07-01T04:00:00+00:00", "2026-07-01T04:00:00+00:00"),  # midnight EDT
        ("2026-12-03T04:59:59+00:00", "2026-12-02T05:00:00+00:00"),  # 23:59 EST
        ("2026-12-03T05:00:00+00:00", "2026-12-03T05:00:00+00:00"),
    ],
)
def test_the_trading_day_starts_at_midnight_in_new_york(now, start):
    assert day_start(dt.datetime.fromisoformat(now)) == dt.datetime.fromisoformat(start)


class Clock:
    def __init__(self, at: str) -> None:
        self.at = dt.datetime.fromisoformat(at)

    def __call__(self) -> dt.datetime:
        return self.at


def test_day_totals_count_every_process_and_start_afresh_each_day(tmp_path):
    clock = Clock("2026-12-03T04:30:00+00:00")  # 23:30 in New York, the day before
    path = tmp_path / "journal.db"
    mine, theirs = Journal(path, now=clock), Journal(path, now=clock)
    journal_intent(theirs, value=700, source="agent")
    clock.at = dt.datetime.fromisoformat("2026-12-03T05:00:00+00:00")  # a new trading day
    totals = DayTotals(mine, "fake")
    assert totals.totals() == (0, 0)
    journal_intent(theirs, value=100, source="agent")
    journal_intent(theirs, value=40, source="cli")
    journal_intent(theirs, value=9999, status="denied", source="agent")
    journal_intent(theirs, broker="other", value=5000)
    assert totals.totals() == (140, 100)
    journal_intent(mine, value=1, source="mcp")
    assert totals.totals() == (141, 101)
    journal_intent(theirs, value=None)
    with pytest.raises(MissingData):
        totals.totals()


def _gated(broker: FakeBroker, journal: Journal, **overrides) -> GatedBroker:  # type: ignore[no-untyped-def]
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(broker), name="fake-plugin")
    host = PluginHost(pm)
    config = effective_config(
        {"trading_broker": "fake", "duplicate_window_seconds": 0, **overrides}
    )
    return GatedBroker(host, "fake", host.build_broker("fake", config), config, journal)


def test_the_days_notional_holds_across_processes(tmp_path):
    broker = FakeBroker()
    path = tmp_path / "journal.db"
    limit = {"max_daily_notional": "2500"}
    a, b = _gated(broker, Journal(path), **limit), _gated(broker, Journal(path), **limit)
    a.place_order(symbol="AAPL", side="buy", qty=10)  # 1,000
    b.place_order(symbol="AAPL", side="buy", qty=10)  # 2,000
    with pytest.raises(OrderRejectedError) as refused:
        a.place_order(symbol="AAPL", side="buy", qty=6)  # 2,600
    assert refused.value.reason_codes == ("DAILY_NOTIONAL_EXCEEDS_MAX",)
    assert b.place_order(symbol="AAPL", side="buy", qty=5).qty == 5  # 2,500: at the limit


class Losing(FakeBroker):
    def get_account(self) -> Account:
        return attrs.evolve(super().get_account(), equity=Decimal(97000), last_equity=100000)


def test_the_days_loss_puts_the_account_in_reducing(tmp_path, caplog):
    broker = Losing()
    gated = _gated(broker, Journal(tmp_path / "journal.db"), max_daily_loss="3000")
    with pytest.raises(OrderRejectedError) as refused:
        gated.place_order(symbol="AAPL", side="buy", qty=1)
    assert refused.value.reason_codes == ("DAILY_LOSS_LIMIT",)
    assert current_state(gated.journal).value == "reducing"
    assert "max_daily_loss" in gated.journal.trading_state()["reason"]
    assert "now reducing" in caplog.text
    assert gated.place_order(symbol="AAPL", side="sell", qty=5).qty == 5  # holds 5: closes it
    assert broker.place_calls[-1].side.value == "sell"


def test_an_agent_refused_too_often_puts_the_account_in_reducing_and_is_slowed(tmp_path, caplog):
    broker = FakeBroker()
    path = tmp_path / "journal.db"
    limit = {"max_agent_refusals_per_minute": 3, "max_order_value": 50}
    a, b = _gated(broker, Journal(path), **limit), _gated(broker, Journal(path), **limit)
    pauses: list[float] = []
    for gated in (a, b):
        gated.gate.sleep = pauses.append
    too_big = {"symbol": "AAPL", "side": "buy", "qty": 1}  # $100 against a $50 limit
    person = OrderContext(source="cli")
    for _ in range(5):  # a person's refusals never count
        with pytest.raises(OrderRejectedError):
            a.place_order(**too_big, context=person)
    for gated in (a, b, a):  # three, from two processes: at the limit
        with pytest.raises(OrderRejectedError):
            gated.place_order(**too_big, context=OrderContext(source="agent"))
    assert (current_state(a.journal).value, pauses) == ("active", [])
    with pytest.raises(OrderRejectedError):
        b.place_order(**too_big, context=OrderContext(source="mcp"))  # the fourth
    assert current_state(a.journal).value == "reducing"
    assert "refused 4 times in a minute" in a.journal.trading_state()["reason"]
    assert pauses == [1.0]
    assert "now reducing" in caplog.text


def test_the_refusal_watch_can_be_switched_off(tmp_path):
    broker = FakeBroker()
    gated = _gated(broker, Journal(tmp_path / "journal.db"), max_agent_refusals_per_minute="off")
    gated.gate.sleep = lambda seconds: pytest.fail("slowed")
    for _ in range(25):
        with pytest.raises(OrderRejectedError):
            gated.place_order(
                symbol="AAPL", side="buy", qty=10_000, context=OrderContext(source="agent")
            )
    assert current_state(gated.journal).value == "active"
