"""The edges of the account limits that mutation testing found unpinned (``nox -s mutation``).

Each denial names its check, its code and its whole reason; the day's totals count
one broker's intents, go past a refused one and count every intent of unknown
value; the day starts in UTC whatever the machine's zone is.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import attrs
import pytest

from tradingagents_brokers import BrokerAPIError, OrderContext
from tradingagents_brokers.safety.checks import REQUIRED_CHECKS, MissingData
from tradingagents_brokers.safety.journal import Journal
from tradingagents_brokers.safety.limits import DayTotals, day_start

from ..fakes import journal_intent
from .test_checks import _order, buy, context
from .test_limits import Clock, _loss_account


def verdict(check, request, *, source="python", totals=None, **kwargs):
    ctx = attrs.evolve(
        context(request, **kwargs),
        order=OrderContext(source=source),
        fetch_day_totals=None if totals is None else (lambda: totals),
    )
    return REQUIRED_CHECKS[check].check_order(request=request, context=ctx)


DOWN = BrokerAPIError("down")


def broken_open_orders():
    raise DOWN


# (check, request, verdict arguments, code, the whole reason)
DENIALS = [
    (
        "max_open_orders",
        buy(),
        {"config": {"max_open_orders": 2}, "open_orders": [_order(qty="1"), _order(qty="2")]},
        "OPEN_ORDERS_AT_MAX",
        "2 orders are open or in flight; max_open_orders=2; cancel some or wait for fills",
    ),
    (
        "daily_notional",
        buy(),
        {"config": {"max_daily_notional": "1500"}, "totals": (Decimal("500.01"), Decimal(0))},
        "DAILY_NOTIONAL_EXCEEDS_MAX",
        "today's orders 500.01 and this one 1000 exceed max_daily_notional 1500; "
        "the limit resets at midnight in New York",
    ),
    (
        "daily_notional",
        buy(),
        {
            "config": {"max_daily_notional": "99999", "max_daily_notional_agent": "1500"},
            "totals": (Decimal(600), Decimal(600)),
            "source": "agent",
        },
        "DAILY_NOTIONAL_EXCEEDS_MAX",
        "today's orders 600 and this one 1000 exceed max_daily_notional_agent 1500; "
        "the limit resets at midnight in New York",
    ),
    (
        "daily_notional",
        buy(),
        {"config": {"max_daily_notional": "1500"}},
        "ACCOUNT_DATA_MISSING",
        "the day's traded notional is not kept",
    ),
    (
        "daily_loss",
        buy(),
        {"config": {"max_daily_loss": "1000"}, "account": _loss_account("98999.999")},
        "DAILY_LOSS_LIMIT",
        "today's loss 1000 has reached max_daily_loss 1000; only orders that reduce a "
        "position are accepted, and a person must resume trading",
    ),
    (
        "daily_loss",
        buy(),
        {"config": {"max_daily_loss": "1000"}, "account": DOWN},
        "ACCOUNT_DATA_MISSING",
        "the account could not be read: down",
    ),
    (
        "daily_loss",
        buy(),
        {"config": {"max_daily_loss": "1000"}, "account": _loss_account("5", last="0")},
        "ACCOUNT_DATA_MISSING",
        "the broker gives no starting equity for the day; the day's loss is unknown",
    ),
    (
        "daily_loss",
        buy(),
        {
            "config": {"max_daily_loss": "1000"},
            "account": attrs.evolve(_loss_account("5"), last_equity=None),
        },
        "ACCOUNT_DATA_MISSING",
        "the broker gives no starting equity for the day; the day's loss is unknown",
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


def test_unreadable_open_orders_name_what_failed():
    request = buy()
    ctx = attrs.evolve(
        context(request, config={"max_open_orders": 5}), fetch_open_orders=broken_open_orders
    )
    decision = REQUIRED_CHECKS["max_open_orders"].check_order(request=request, context=ctx)
    assert (decision.check, decision.code, decision.reason) == (
        "max_open_orders",
        "ACCOUNT_DATA_MISSING",
        "open orders could not be read: down",
    )


class TestDailyNotionalScope:
    def test_an_agent_limit_alone_needs_no_totals_for_a_person(self):
        # no totals kept: a person's order is not under the agent limit, so it is not asked
        agents_only = {"max_daily_notional_agent": "1500"}
        assert verdict("daily_notional", buy(), config=agents_only, source="cli").allowed
        denied = verdict("daily_notional", buy(), config=agents_only, source="agent")
        assert denied.code == "ACCOUNT_DATA_MISSING"

    def test_with_both_limits_a_persons_order_is_held_to_the_overall_one_only(self):
        both = {"max_daily_notional": "99999", "max_daily_notional_agent": "1500"}
        totals = (Decimal(600), Decimal(600))
        assert verdict("daily_notional", buy(), config=both, totals=totals, source="cli").allowed
        assert not verdict(
            "daily_notional", buy(), config=both, totals=totals, source="mcp"
        ).allowed


class TestDailyLossEdges:
    def test_a_starting_equity_of_one_dollar_is_known(self):
        tiny = _loss_account("1", last="1")
        assert verdict("daily_loss", buy(), config={"max_daily_loss": "1000"}, account=tiny).allowed


def _day(tmp_path):
    clock = Clock("2026-12-03T15:00:00+00:00")
    return Journal(tmp_path / "journal.db", now=clock)


class TestDayTotals:
    def test_the_first_sum_of_a_day_counts_this_broker_only(self, tmp_path):
        journal = _day(tmp_path)
        journal_intent(journal, value=100)
        journal_intent(journal, broker="other", value=5000)
        assert DayTotals(journal, "fake").totals() == (100, 0)

    def test_a_refused_order_is_passed_over_and_the_rest_counted(self, tmp_path):
        journal = _day(tmp_path)
        journal_intent(journal, value=9999, status="denied")
        journal_intent(journal, value=100, source="agent")
        totals = DayTotals(journal, "fake")
        assert totals.totals() == (100, 100)
        journal_intent(journal, value=9999, status="denied")
        journal_intent(journal, value=1)
        assert totals.totals() == (101, 100)

    def test_every_order_of_unknown_value_is_counted(self, tmp_path):
        journal = _day(tmp_path)
        journal_intent(journal, value=None)
        journal_intent(journal, value=None)
        journal_intent(journal, value=100)
        with pytest.raises(MissingData) as missing:
            DayTotals(journal, "fake").totals()
        assert (missing.value.code, missing.value.message) == (
            "ACCOUNT_DATA_MISSING",
            "2 of today's orders have no known value; the day's notional cannot be summed",
        )


@pytest.fixture
def zone(monkeypatch):
    """Run with the machine's time zone set to Tokyo (restored afterwards)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_day_starts_in_utc_whatever_the_machines_zone(zone):
    start = day_start(dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.UTC))
    assert start.utcoffset() == dt.timedelta(0)
    assert start.isoformat() == "2026-12-03T05:00:00+00:00"
