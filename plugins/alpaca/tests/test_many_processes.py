"""Many processes on one Alpaca account: one request budget, one market-data slot.

Every gated broker on one store draws its requests from the account's budget in
the store, so together they stay under the limit; a caller that would wait
longer than ``request_wait_max_seconds`` is refused at once, and an order refused
that way was never sent. The first process holds the account's one market-data
connection; the others read prices, and each keeps its own order stream.
"""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from tradingagents_brokers import (
    OrderOutcomeUnknownError,
    RequestBudgetExhaustedError,
    get_broker,
)
from tradingagents_brokers.safety.journal import Journal
from tradingagents_brokers.store.budget import RequestBudget, SlidingBudget
from tradingagents_brokers_alpaca import quotes
from tradingagents_brokers_alpaca.broker import build_alpaca

from .conftest import gated_config, settings, wait_until
from .fake_data import FakeMarketData

LIMIT = 5


class Clock:
    """One wall clock for every process of the test; sleeping moves it on."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _process(fake, path, clock, *, per_minute=LIMIT, max_wait=120.0):
    """A broker of its own, on its own connection to the store at ``path``.

    Its ``request_budget`` is the core's (``PluginHost.build_broker``) on the test's clock.
    """
    journal = Journal(path)

    def budget(per_minute, scope=None):
        name = "alpaca:paper" + (f":{scope}" if scope else "")
        return RequestBudget(
            journal.backend,
            name,
            per_minute,
            max_wait=max_wait,
            clock=clock.time,
            sleep=clock.sleep,
        )

    options = settings(fake.url, max_requests_per_minute=per_minute)
    return journal, build_alpaca(attrs.evolve(options, request_budget=budget))


def test_two_processes_on_one_store_never_start_more_than_the_limit_in_a_minute(fake, tmp_path):
    clock = Clock()
    first_journal, first = _process(fake, tmp_path / "store.db", clock)
    second_journal, second = _process(fake, tmp_path / "store.db", clock)
    try:
        assert first._http.budget is not second._http.budget  # nothing shared in memory
        starts = []
        for n in range(4 * LIMIT):
            (first, second)[n % 2].get_clock()
            starts.append(clock.now)  # the clock moves only while waiting, before a request
        assert [path for _, path, _ in fake.requests] == ["/v2/clock"] * 4 * LIMIT
        # Any LIMIT + 1 consecutive requests span a minute at least.
        spans = [later - earlier for earlier, later in zip(starts, starts[LIMIT:], strict=False)]
        assert min(spans) >= 60
        assert clock.now - 1_000_000.0 == pytest.approx(3 * 60)  # and no longer than needed
        # Market data has a budget of its own in the store: a price is read at once.
        waits = len(clock.slept)
        assert second.get_quote("AAPL").price
        assert len(clock.slept) == waits
        data = RequestBudget(first_journal.backend, "alpaca:paper:data", 1, max_wait=0)
        trading = RequestBudget(first_journal.backend, "alpaca:paper", 1, max_wait=0)
        data.clock = trading.clock = clock.time
        assert (trading.used(), data.used()) == (LIMIT, 1)
    finally:
        for each in (first, second, first_journal, second_journal):
            each.close()


def test_a_wait_past_the_bound_is_refused_with_the_time_to_wait(fake, tmp_path):
    clock = Clock()
    journal, broker = _process(fake, tmp_path / "store.db", clock, per_minute=2, max_wait=30)
    try:
        broker.get_clock()
        clock.now += 20
        broker.get_clock()
        clock.now += 1  # the oldest leaves the window in 39 s, past the 30 s bound
        with pytest.raises(RequestBudgetExhaustedError) as refused:
            broker.get_clock()
        assert refused.value.retry_after == pytest.approx(39)
        assert clock.slept == []
        assert len(fake.requests) == 2
        clock.now += 10  # 29 s to go: waited for, then sent
        broker.get_clock()
        assert clock.slept == [pytest.approx(29)]
        assert len(fake.requests) == 3
    finally:
        broker.close()
        journal.close()


def test_a_broker_the_core_builds_draws_from_its_two_budgets_in_the_store(fake, tmp_path):
    core = {"order_stream": False, "request_wait_max_seconds": 3}
    config = gated_config(fake, tmp_path, core, max_data_requests_per_minute=7)
    with get_broker("alpaca", config=config) as gated:
        budgets = (gated.broker._http.budget, gated.broker._http.data_budget)
        assert [type(each) for each in budgets] == [RequestBudget, RequestBudget]
        assert [(each.name, each.per_minute, each.max_wait) for each in budgets] == [
            ("alpaca:paper", 190, 3.0),
            ("alpaca:paper:data", 7, 3.0),
        ]
        assert all(each.backend is gated.journal.backend for each in budgets)
        trading = len(_trading(fake))
        gated.broker.get_clock()
        gated.broker.get_quote("AAPL")
        assert (budgets[0].used(), budgets[1].used()) == (trading + 1, 1)


# -- gated brokers on one state_dir ------------------------------------------------------

ROOMY = {
    "max_orders_per_second": 1000,
    "max_orders_per_minute": 1000,
    "max_position_size": 1,
    "quote_cache_seconds": 600,
    "state_max_age_seconds": 600,
}


def _buy(gated, price="180"):
    return gated.place_order(
        symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=price, time_in_force="gtc"
    )


def test_gated_processes_share_the_budget_and_a_refused_order_is_not_sent(fake, tmp_path):
    budget = 20
    core = {**ROOMY, "request_wait_max_seconds": 0}  # never wait: a refusal at once
    config = gated_config(fake, tmp_path, core, max_requests_per_minute=budget)
    reader = get_broker("alpaca", config={**config, "order_stream": False})
    trader = get_broker("alpaca", config=config)
    try:
        wait_until(lambda: trader.order_stream_status()["live"])
        trader.submitter.sleep = lambda seconds: None
        _buy(trader)  # warm: the asset and the price are read once
        assert len(_trading(fake)) < budget
        refused = None
        for _ in range(budget):  # another process spends the rest of the minute
            try:
                reader.get_clock()
            except RequestBudgetExhaustedError as exc:
                refused = exc
                break
        assert refused is not None, "the budget never ran out"
        assert 0 < refused.retry_after <= 60
        assert "every process on the account" in refused.message
        posts = sum(1 for method, _, _ in fake.requests if method == "POST")
        trader.broker._http.budget._leased = 0  # a lease still held is the trader's to use
        with pytest.raises(RequestBudgetExhaustedError):
            _buy(trader)
        intent = trader.journal.intents()[0]  # newest first
        assert intent.status == "rejected"
        assert fake.posts(intent.client_order_id) == 0
        assert sum(1 for method, _, _ in fake.requests if method == "POST") == posts
        # Together, never more than the budget (a busy process's unused lease counts too).
        assert len(_trading(fake)) <= budget
    finally:
        trader.close()
        reader.close()


def _trading(fake):
    """The requests to the Trading API (a price read is market data: counted apart)."""
    return [path for _, path, _ in fake.requests if not path.startswith("/v2/stocks/")]


class RefusedAfterThePost(SlidingBudget):
    """A budget that lets requests through until an order POST went out, then is spent
    for 30 s (another process took the rest): past its bound, so a refusal at once."""

    def __init__(self, fake) -> None:
        super().__init__("alpaca:paper", 200, max_wait=10.0)
        self.fake = fake

    def _take(self) -> float:
        posted = any(method == "POST" for method, _, _ in self.fake.requests)
        return 30.0 if posted else 0.0


def test_a_refused_retry_after_an_unanswered_post_leaves_the_outcome_unknown(fake, tmp_path):
    """The first POST placed the order but its answer was lost (``OrderOutcomeUnknownError``);
    the look-up and the retry are refused by the budget (``RequestBudgetExhaustedError``): the
    core leaves the intent unknown, never rejected, and sends the order no second time."""
    config = gated_config(fake, tmp_path, {**ROOMY, "order_stream": False})
    with get_broker("alpaca", config=config) as gated:
        gated.submitter.sleep = lambda seconds: None
        gated.broker._http.budget = RefusedAfterThePost(fake)
        fake.faults.append("reset_after_accept")
        with pytest.raises(OrderOutcomeUnknownError):
            _buy(gated)
        intent = gated.journal.intents()[0]  # newest first
        assert intent.status == "unknown"
        assert fake.posts(intent.client_order_id) == 1
        assert sum(1 for method, _, _ in fake.requests if method == "POST") == 1
        assert intent.client_order_id in fake.orders  # placed: reconciliation will find it


# -- the market-data slot ------------------------------------------------------------------


@pytest.fixture
def market(monkeypatch):
    monkeypatch.setattr(quotes, "MIN_BACKOFF", 0.02)  # the slot's retries, fast
    monkeypatch.setattr(quotes, "MAX_BACKOFF", 0.05)
    server = FakeMarketData()
    yield server
    server.close()


def _requests_since(fake, mark):
    return [(method, path) for method, path, _ in fake.requests[mark:]]


def test_the_first_process_holds_the_quote_stream_and_the_second_reads_prices(
    fake, market, tmp_path
):
    core = {**ROOMY, "quote_cache_seconds": 1}
    config = gated_config(fake, tmp_path, core, quote_stream_url=market.url)
    first = get_broker("alpaca", config=config)
    second = None
    try:
        wait_until(lambda: first.quote_stream_status()["current"])
        second = get_broker("alpaca", config=config)
        wait_until(lambda: second.cache.quotes.stream.stopped)  # the plugin's stream gave up
        status = second.quote_stream_status()
        assert not status["current"]
        assert "another connection of this account holds" in status["reason"]
        assert len(market.logins) == 2 + quotes.SLOT_RETRIES  # then it leaves the slot
        assert len(market.clients) == 1
        assert first.quote_stream_status()["current"]
        # Both order streams are live: one trade_updates connection each.
        for gated in (first, second):
            wait_until(lambda gated=gated: gated.order_stream_status()["live"])
        assert len(fake.stream.clients) == 2

        # The first follows AAPL on the stream: an order is its POST alone.
        _buy(first)
        wait_until(lambda: first.quote_stream_status()["symbols"] == ["AAPL"])
        _buy(first)  # the read after the confirmation anchors the stream
        market.trade("AAPL", "181")
        wait_until(lambda: _streamed(first) == Decimal("181"))
        mark = len(fake.requests)
        _buy(first)
        assert _requests_since(fake, mark) == [("POST", "/v2/orders")]
        # The second reads the price (market data) for its orders.
        mark = len(fake.requests)
        _buy(second)
        assert _requests_since(fake, mark) == [
            ("GET", "/v2/stocks/AAPL/trades/latest"),
            ("GET", "/v2/assets/AAPL"),  # once per process
            ("POST", "/v2/orders"),
        ]
        for gated in (first, second):  # as if quote_cache_seconds had passed
            gated.cache.quotes.forget_reads()
        mark = len(fake.requests)
        _buy(first)
        assert _requests_since(fake, mark) == [("POST", "/v2/orders")]
        mark = len(fake.requests)
        order = _buy(second)
        assert _requests_since(fake, mark) == [
            ("GET", "/v2/stocks/AAPL/trades/latest"),
            ("POST", "/v2/orders"),
        ]
        assert second.quote_stream_status()["reads"] == 2

        # Each process hears the fill of the second's order on its own order stream.
        before = (first.stream.updates, second.stream.updates)
        fake.fill(order.order_id)
        for gated, count in zip((first, second), before, strict=True):
            wait_until(lambda gated=gated, count=count: gated.stream.updates > count)
        held = Decimal(fake.positions["AAPL"]["qty"])
        for gated in (first, second):
            wait_until(lambda gated=gated: gated.cache.position_qty("AAPL") == held)
        assert second.journal.intent(order.client_order_id).status == "filled"
    finally:
        if second is not None:
            second.close()
        first.close()


def _streamed(gated) -> Decimal | None:
    """The price the gate would take from the quote stream now (None: it would read)."""

    def no_read(symbol):
        raise LookupError(symbol)

    try:
        return gated.cache.quotes.quote("AAPL", no_read).price
    except LookupError:
        return None
