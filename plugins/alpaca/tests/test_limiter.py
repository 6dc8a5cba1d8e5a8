"""Every Alpaca REST request is drawn from a request budget, before it is sent.

The budgets are the core's (``BrokerSettings.request_budget``): the Trading API's,
and one of scope ``data`` for market data, which Alpaca counts apart. A broker
built by hand (the default ``BrokerSettings``) gets budgets of this process alone;
under Alpaca's 200 a minute and never a long silent wait - a caller that would
wait longer than the bound is refused at once, before anything is sent.
"""

from __future__ import annotations

import attrs
import pytest

from tradingagents_brokers import (
    BrokerConfigurationError,
    BrokerRateLimitError,
    OrderChanges,
    OrderRequest,
    RequestBudgetExhaustedError,
)
from tradingagents_brokers.store.budget import LocalRequestBudget
from tradingagents_brokers_alpaca.broker import build_alpaca

from .conftest import settings


class Counting(LocalRequestBudget):
    """A budget of this process that counts the requests drawn from it."""

    def __init__(self, name: str, per_minute: int) -> None:
        super().__init__(name, per_minute)
        self.drawn = 0

    def acquire(self) -> None:
        super().acquire()
        self.drawn += 1


class Budgets:
    """A ``request_budget`` that keeps every budget it made, by scope."""

    def __init__(self) -> None:
        self.made: dict[str | None, Counting] = {}
        self.calls: list[tuple[int, str | None]] = []

    def __call__(self, per_minute: int, scope: str | None = None) -> Counting:
        self.calls.append((per_minute, scope))
        budget = self.made[scope] = Counting(f"alpaca:paper:{scope}", per_minute)
        return budget


def _data(fake):
    """The requests to the market-data host (the fake serves both on one port)."""
    return [path for _, path, _ in fake.requests if path.startswith("/v2/stocks/")]


def test_the_options_set_the_limit_of_each_budget(fake):
    budgets = Budgets()
    options = settings(fake.url, max_requests_per_minute=5, max_data_requests_per_minute=7)
    broker = build_alpaca(attrs.evolve(options, request_budget=budgets))
    try:
        assert budgets.calls == [(5, None), (7, "data")]  # market data: its own scope
        assert broker._http.budget is budgets.made[None]
        assert broker._http.data_budget is budgets.made["data"]
    finally:
        broker.close()


def test_every_request_draws_from_its_own_budget(fake):
    budgets = Budgets()
    broker = build_alpaca(attrs.evolve(settings(fake.url), request_budget=budgets))
    try:
        order = broker.place_order(
            OrderRequest(
                symbol="AAPL",
                side="buy",
                qty=1,
                order_type="limit",
                limit_price=150,
                client_order_id="c-1",
            )
        )
        broker.get_order(order.order_id)
        broker.get_order_by_client_id("c-1")
        new = broker.replace_order(order.order_id, OrderChanges(limit_price="151"))
        broker.cancel_order(new.order_id)
        broker.get_orders("all")
        broker.get_positions()
        broker.get_position("AAPL")
        broker.close_position("AAPL", qty=1)
        broker.close_all_positions()
        broker.get_account()
        broker.get_portfolio_history()
        broker.get_clock()
        broker.get_quote("AAPL")
        broker.get_quote("MSFT")
    finally:
        broker.close()
    data = _data(fake)
    assert len(data) == 2
    assert budgets.made["data"].drawn == 2
    assert budgets.made[None].drawn == len(fake.requests) - 2 == 14  # the asset look-up too


# -- a broker built by hand: budgets of this process alone ---------------------------------


@pytest.fixture
def tight(fake):
    """Two Trading API requests a minute: the third would wait ~60 s, past the 10 s bound."""
    broker = build_alpaca(settings(fake.url, max_requests_per_minute=2))
    yield broker
    broker.close()


def test_a_broker_built_by_hand_limits_itself_and_refuses_instead_of_waiting(tight, fake):
    budget, data = tight._http.budget, tight._http.data_budget
    assert isinstance(budget, LocalRequestBudget)
    assert isinstance(data, LocalRequestBudget)
    assert budget is not data
    assert (budget.per_minute, data.per_minute) == (2, 190)
    assert budget.max_wait == data.max_wait == 10  # the core's request_wait_max_seconds
    slept = []
    budget.sleep = slept.append
    tight.get_clock()
    tight.get_clock()
    with pytest.raises(RequestBudgetExhaustedError) as refused:
        tight.get_clock()
    error = refused.value
    assert isinstance(error, BrokerRateLimitError)
    assert (error.code, error.outcome_known) == ("request_budget_exhausted", True)
    assert 59 < error.retry_after <= 60
    assert "nothing was sent" in error.message
    assert slept == []  # refused at once, no sleep at all
    assert len(fake.requests) == 2
    # Market data is counted apart (Alpaca limits it apart): prices are still read.
    assert tight.get_quote("AAPL").price
    assert [path for _, path, _ in fake.requests] == [
        "/v2/clock",
        "/v2/clock",
        "/v2/stocks/AAPL/trades/latest",
    ]


def test_an_order_the_budget_refuses_is_never_posted(tight, fake):
    placed = tight.place_order(OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id="a"))
    assert placed.client_order_id == "a"  # the asset look-up and the POST: the two requests
    with pytest.raises(RequestBudgetExhaustedError):
        tight.place_order(OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id="b"))
    assert (fake.posts("a"), fake.posts("b")) == (1, 0)


def test_the_wait_is_the_cores_to_bound_not_a_plugin_option(fake):
    with pytest.raises(BrokerConfigurationError, match=r"unknown broker_options\.alpaca key"):
        build_alpaca(settings(fake.url, request_wait_max_seconds=1))


# -- read retries after a 429 ------------------------------------------------------------


def _slept(broker):
    slept = []
    broker._http.sleep = slept.append
    return slept


def test_a_rate_limited_read_is_retried_after_alpacas_reset(alpaca, fake):
    slept = _slept(alpaca)
    fake.read_faults.append("429")
    assert alpaca.get_clock()
    [wait] = slept
    assert 1 <= wait <= 3  # X-RateLimit-Reset (1 s ahead) + 1
    assert [path for _, path, _ in fake.requests] == ["/v2/clock"] * 2


@pytest.mark.parametrize(
    ("reset", "max_wait"), [(30, 10.0), (1, 0.0)], ids=["past the bound", "never wait"]
)
def test_a_rate_limited_read_does_not_sleep_past_the_budgets_bound(alpaca, fake, reset, max_wait):
    slept = _slept(alpaca)
    alpaca._http.budget.max_wait = max_wait
    fake.reset_seconds = reset
    fake.read_faults.append("429")
    with pytest.raises(BrokerRateLimitError) as limited:
        alpaca.get_clock()
    assert not isinstance(limited.value, RequestBudgetExhaustedError)  # Alpaca's own 429
    assert reset - 2 <= limited.value.retry_after <= reset + 1
    assert slept == []
    assert len(fake.requests) == 1
