"""The polled order stream (``polling.py``): what it delivers, when it gives up, what it costs.

The poller alone runs against :class:`~tests.polled_broker.RestBook`, ticked by
hand; behind the gate, the same book with a manual clock shows the requests an
order costs and the fail-closed rules; the sim behind a REST-only wrapper shows
it on a real thread.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import pytest

from tradingagents_brokers import (
    BrokerAPIError,
    OrderRejectedError,
    PluginHost,
    make_plugin_manager,
)
from tradingagents_brokers.config import effective_config
from tradingagents_brokers.gateway import GatedBroker
from tradingagents_brokers.orders import OrderRequest
from tradingagents_brokers.polling import PolledOrderStream
from tradingagents_brokers.safety.journal import Journal

from . import polled_broker
from .fakes import Calls, FakePlugin, ManualClock
from .polled_broker import POLLER, RestBook


class Listener:
    """Keeps every call a stream makes, in order."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def on_connected(self) -> None:
        self.calls.append("connected")

    def on_update(self, update: Any) -> None:
        order = update.order
        self.calls.append((update.event, order.client_order_id, order.status.value, update.qty))

    def on_alive(self) -> None:
        self.calls.append("alive")

    def on_disconnected(self, reason: str) -> None:
        self.calls.append(("disconnected", reason))

    def take(self) -> list[Any]:
        calls, self.calls = self.calls, []
        return calls


def place(book: RestBook, cid: str, qty: int = 2) -> str:
    request = OrderRequest(
        symbol="AAPL",
        side="buy",
        qty=qty,
        order_type="limit",
        limit_price="99",
        client_order_id=cid,
    )
    return book.place_order(request).order_id


@pytest.fixture
def listener() -> Listener:
    return Listener()


def connected(listener: Listener, **settings: Any) -> tuple[RestBook, PolledOrderStream]:
    book = RestBook(**settings)
    stream = book.subscribe_order_updates(listener)
    assert stream.tick()
    book.take()
    listener.take()
    return book, stream


# -- the poller alone ---------------------------------------------------------------------


def test_the_first_poll_reads_its_baseline_then_connects(listener):
    book = RestBook()
    place(book, "before")
    book.take()
    stream = book.subscribe_order_updates(listener)
    assert stream.tick()
    assert book.take() == ["get_orders", "get_orders"]
    # What was there before the connect is the snapshot's, not an update.
    assert listener.take() == ["connected", "alive"]


def test_each_change_is_delivered_once(listener):
    book, stream = connected(listener)
    order_id = place(book, "a")
    stream.tick()
    assert listener.take() == [("new", "a", "new", None), "alive"]
    book.fill(order_id, Decimal(1))
    stream.tick()
    assert listener.take() == [("partial_fill", "a", "partially_filled", Decimal(1)), "alive"]
    book.fill(order_id)
    stream.tick()
    assert listener.take() == [("fill", "a", "filled", Decimal(1)), "alive"]
    stream.tick()
    assert listener.take() == ["alive"]
    other = place(book, "b")
    stream.tick()
    assert listener.take() == [("new", "b", "new", None), "alive"]
    book.cancel_order(other)
    book.take()
    stream.tick()
    assert listener.take() == [("canceled", "b", "canceled", None), "alive"]
    assert book.take() == ["get_orders", "get_orders"]


def test_an_order_placed_and_filled_between_two_polls_is_delivered(listener):
    book, stream = connected(listener)
    book.fill(place(book, "quick"))
    stream.tick()
    assert listener.take() == [("fill", "quick", "filled", Decimal(2)), "alive"]


def test_an_order_on_both_lists_is_delivered_as_the_later_read_says(listener):
    book, stream = connected(listener)
    order_id = place(book, "racing")
    stream.tick()
    listener.take()
    read = book.get_orders

    def fills_after_the_open_read(status="open", limit=None, symbols=None):
        found = read(status, limit, symbols)
        if status == "open":
            book.fill(order_id)  # between the two reads
        return found

    book.get_orders = fills_after_the_open_read  # type: ignore[method-assign]
    stream.tick()
    book.get_orders = read  # type: ignore[method-assign]
    assert listener.take() == [("fill", "racing", "filled", Decimal(2)), "alive"]
    stream.tick()
    assert listener.take() == ["alive"], "the open read's stale copy is not kept as known"


def test_an_old_order_off_the_closed_page_is_looked_up(listener):
    book = RestBook(recent=3)
    old = place(book, "old")
    for n in range(3):
        book.cancel_order(place(book, f"done-{n}"))
    stream = book.subscribe_order_updates(listener)
    stream.tick()
    listener.take()
    book.take()
    book.fill(old)  # closed now, but older than the three on the closed page
    stream.tick()
    assert book.take() == ["get_order", "get_orders", "get_orders"]
    assert listener.take() == [("fill", "old", "filled", Decimal(2)), "alive"]


def test_more_vanished_orders_than_lookups_connects_again(listener):
    book = RestBook(recent=3, lookups=0)
    old = place(book, "old")
    for n in range(3):
        book.cancel_order(place(book, f"done-{n}"))
    stream = book.subscribe_order_updates(listener)
    stream.tick()
    listener.take()
    book.fill(old)
    stream.tick()
    calls = listener.take()
    assert calls[0][0] == "disconnected"
    assert "missed" in calls[0][1]
    assert calls[1:] == ["connected", "alive"]
    assert stream.status()["reconnects"] == 1


def test_a_full_page_of_unseen_closed_orders_connects_again(listener):
    book, stream = connected(listener, recent=2)
    for n in range(2):
        book.cancel_order(place(book, f"gone-{n}"))
    stream.tick()
    calls = listener.take()
    assert calls[0][0] == "disconnected"
    assert calls[1:] == ["connected", "alive"]
    book.cancel_order(place(book, "next"))
    stream.tick()  # one unseen beside a known one: delivered, no reconnect
    assert listener.take() == [("canceled", "next", "canceled", None), "alive"]


def test_a_failed_poll_disconnects_at_once_and_backs_off(listener):
    now = [0.0]
    book, stream = connected(listener, interval=2.0, max_backoff=5.0, monotonic=lambda: now[0])
    book.fail_reads = BrokerAPIError("the API is down \x1b[31m")
    assert not stream.tick()
    assert book.take() == ["get_orders"]
    assert listener.take() == [
        ("disconnected", "polling failed (BrokerAPIError: the API is down \\x1b[31m)")
    ]
    waits = []
    for _ in range(3):
        waits.append(stream.status()["next_poll_in_seconds"])
        now[0] += waits[-1] - 0.001
        stream.poll()  # not due yet: nothing read
        assert book.take() == []
        now[0] += 0.001
        stream.poll()
        assert book.take() == ["get_orders"]
    assert waits == [2.0, 4.0, 5.0], "doubling, at most max_backoff"
    assert listener.take() == [], "told once"
    assert stream.status()["failures_in_a_row"] == 4
    book.fail_reads = None
    now[0] += 10
    stream.poll()
    assert listener.take() == ["connected", "alive"]
    status = stream.status()
    assert (status["failures_in_a_row"], status["last_error"], status["connected"]) == (
        0,
        None,
        True,
    )


def test_a_poll_slower_than_its_freshness_bound_counts_as_failed(listener):
    now = [0.0]
    book, stream = connected(listener, interval=1.0, freshness=3.0, monotonic=lambda: now[0])
    read = book.get_orders

    def slow(status="open", limit=None, symbols=None):
        now[0] += 1.5  # two reads: 3s in all, exactly the bound
        return read(status, limit, symbols)

    book.get_orders = slow  # type: ignore[method-assign]
    assert stream.tick()
    now[0] += 0.001

    def slower(status="open", limit=None, symbols=None):
        now[0] += 1.5001
        return read(status, limit, symbols)

    book.get_orders = slower  # type: ignore[method-assign]
    assert not stream.tick()
    assert listener.take() == [
        "alive",
        (
            "disconnected",
            "polling failed (SlowPollError: the poll took 3.0002s, over its 3s freshness bound)",
        ),
    ]


def test_the_thread_polls_and_close_silences_it(listener):
    book = RestBook(interval=0.01, thread=True)
    stream = book.subscribe_order_updates(listener)
    deadline = time.monotonic() + 5
    while stream.polls < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.polls >= 3
    assert stream._thread is not None
    assert stream._thread.name == POLLER
    stream.close()
    assert not stream._thread.is_alive()
    heard, polls = len(listener.calls), stream.polls
    time.sleep(0.05)
    assert (len(listener.calls), stream.polls) == (heard, polls)
    assert not stream.tick()
    assert stream.status()["connected"] is False


def test_a_listener_may_close_the_stream_from_inside_a_poll(listener):
    book, stream = connected(listener)
    inner = []

    class Closing(Listener):
        def on_update(self, update: Any) -> None:
            super().on_update(update)
            inner.append(stream.tick())  # a poll inside a poll does nothing
            stream.close()

    stream._listener = closing = Closing()
    place(book, "a")
    place(book, "b")
    assert not stream.tick()
    assert closing.take() == [("new", "a", "new", None)], "nothing after close()"
    assert inner == [False]


def test_the_thread_may_close_its_own_stream(listener):
    made: list[PolledOrderStream] = []

    class Closing(Listener):
        def on_alive(self) -> None:
            super().on_alive()
            if made:  # once the stream is handed back
                made[0].close()

    book = RestBook(interval=0.01, thread=True)
    closing = Closing()
    made.append(book.subscribe_order_updates(closing))
    thread = made[0]._thread
    assert thread is not None
    thread.join(timeout=5)
    assert not thread.is_alive(), "closed from its own thread, it stopped without a deadlock"
    calls = closing.take()
    assert calls[0] == "connected"
    assert set(calls[1:]) == {"alive"}


def test_a_listener_that_fails_does_not_stop_the_thread(listener, caplog):
    class Failing(Listener):
        def on_alive(self) -> None:
            raise RuntimeError("listener bug")

    book = RestBook(interval=0.01, thread=True)
    stream = book.subscribe_order_updates(Failing())
    deadline = time.monotonic() + 5
    while stream.polls < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stream.close()
    assert stream.polls >= 3
    assert "listener failed" in caplog.text


def test_the_status_says_what_the_poller_does(listener):
    _, stream = connected(listener, interval=2.0, freshness=5.0)
    status = stream.status()
    assert status["kind"] == "polled"
    assert (status["interval_seconds"], status["freshness_seconds"]) == (2.0, 5.0)
    assert (status["polls"], status["requests"], status["connected"]) == (1, 2, True)
    assert status["last_success"] is not None
    assert repr(stream).endswith("connected>")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"interval": 0}, "interval must be a positive"),
        ({"interval": 5, "freshness": 4}, "must be at least the interval"),
        ({"recent": 0}, "recent must be at least 1"),
    ],
)
def test_settings_that_cannot_work_are_refused(listener, settings, message):
    with pytest.raises(ValueError, match=message):
        PolledOrderStream(RestBook(), listener, thread=False, **settings)


# -- behind the gate: requests per order, fail-closed -------------------------------------

INTERVAL = 1.0
FRESH = 3.0  # three intervals, the default


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def book(clock) -> RestBook:
    # The test is the poller's thread: it ticks by hand; poll() never finds one due.
    book = RestBook(interval=INTERVAL, monotonic=lambda: 0.0)
    book.now = clock
    return book


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def gated(book, calls, clock, tmp_path):
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(book), name="fake-plugin")
    pm.register(calls, name="calls")
    config = effective_config(
        {
            "trading_broker": "fake",
            "max_orders_per_second": 1000,
            "max_orders_per_minute": 1000,
            "duplicate_window_seconds": 0,
            "state_max_age_seconds": 30,
            "quote_cache_seconds": 1,
        }
    )
    gated = GatedBroker(PluginHost(pm), "fake", book, config, Journal(tmp_path / "j.db", now=clock))
    yield gated
    gated.close()


def buy(gated, qty=1, **fields):
    return gated.place_order(
        symbol="AAPL", side="buy", qty=qty, order_type="limit", limit_price="99", **fields
    )


def source(gated, intent_id):
    events = gated.journal.events(intent_id=intent_id)
    return next(e for e in events if e["kind"] == "intent")["payload"]["state"]["source"]


def test_a_rest_only_order_costs_at_most_two_requests(gated, book, clock):
    buy(gated)  # the first poll connects: reconciliation and a snapshot
    assert gated.order_stream_status()["live"]
    book.take()
    costs = []
    for n in range(20):
        clock.advance(1.4)  # the price read for the last order is older than 1s now
        book.tick()  # the poller's thread, between orders
        assert book.take() == ["get_orders", "get_orders"]
        buy(gated) if n % 2 else gated.place_order(symbol="AAPL", side="buy", qty=1)
        costs.append(book.take())
    assert all(cost == ["get_quote", "place_order"] for cost in costs), costs
    assert source(gated, 21) == "stream"
    # The same orders quoted within quote_cache_seconds cost the order alone.
    book.tick()
    book.take()
    for _ in range(3):
        buy(gated)
        assert book.take() in (["get_quote", "place_order"], ["place_order"])
    assert book.take() == []


def test_without_the_polled_stream_the_same_order_costs_five(book, calls, clock, tmp_path):
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(book), name="fake-plugin")
    config = effective_config(
        {"trading_broker": "fake", "order_stream": False, "duplicate_window_seconds": 0}
    )
    journal = Journal(tmp_path / "j.db", now=clock)
    with GatedBroker(PluginHost(pm), "fake", book, config, journal) as gated:
        buy(gated)
        book.take()
        clock.advance(1.4)
        buy(gated)
        assert book.take() == [
            "get_account",
            "get_orders",
            "get_positions",
            "get_quote",
            "place_order",
        ]


def test_the_account_is_read_again_once_older_than_state_max_age(gated, book, clock):
    buy(gated)
    clock.advance(2)
    book.tick()
    book.take()
    buy(gated)
    assert book.take() == ["get_quote", "place_order"]
    clock.advance(29)  # the snapshot's account is 31s old; the poll keeps orders fresh
    book.tick()
    book.take()
    buy(gated)
    assert book.take() == ["get_account", "get_quote", "place_order"]
    assert source(gated, 3) == "stream"


def test_the_cache_is_fresh_at_the_bound_and_stale_one_tick_over(gated, book, clock):
    buy(gated)
    book.tick()
    assert gated.stream.stream.freshness_seconds == FRESH
    clock.advance(FRESH)
    assert gated.order_stream_status()["live"], "exactly at the bound still counts"
    clock.advance(0.001)
    status = gated.order_stream_status()
    assert not status["live"]
    assert status["reason"] == (
        "the order stream has been silent longer than the stream's freshness bound (3s)"
    )
    book.take()
    buy(gated)  # read from the broker, as without a stream
    assert book.take() == [
        "get_account",
        "get_orders",
        "get_positions",
        "get_quote",
        "place_order",
    ]
    assert source(gated, 2) == "broker"
    book.tick()  # a good poll: fresh again
    assert gated.order_stream_status()["live"]


def test_the_bound_never_exceeds_state_max_age(book, calls, clock, tmp_path):
    book.poller["freshness"] = 100.0
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(book), name="fake-plugin")
    config = effective_config({"trading_broker": "fake", "state_max_age_seconds": 30})
    journal = Journal(tmp_path / "j.db", now=clock)
    with GatedBroker(PluginHost(pm), "fake", book, config, journal) as gated:
        buy(gated)
        clock.advance(30.001)
        assert "state_max_age_seconds (30s)" in gated.order_stream_status()["reason"]


def test_a_failed_poll_stops_the_cache_at_once(gated, book, clock):
    buy(gated)
    book.fail_reads = BrokerAPIError("503 from the broker")
    assert not book.tick()
    status = gated.order_stream_status()
    assert not status["live"]
    assert "polling failed (BrokerAPIError: 503 from the broker)" in status["reason"]
    assert status["stream"]["failures_in_a_row"] == 1
    book.fail_reads = None
    book.take()
    buy(gated)  # the broker is read, as without a stream
    assert book.take() == [
        "get_account",
        "get_orders",
        "get_positions",
        "get_quote",
        "place_order",
    ]
    assert source(gated, 2) == "broker"
    snapshots = gated.order_stream_status()["snapshots"]
    assert book.tick()  # back: reconciled and a new snapshot
    status = gated.order_stream_status()
    assert status["live"]
    assert status["snapshots"] == snapshots + 1


def test_while_the_broker_cannot_be_read_orders_are_refused(gated, book):
    buy(gated)
    book.fail_reads = BrokerAPIError("503 from the broker")
    book.tick()
    book.take()
    with pytest.raises(OrderRejectedError):
        buy(gated)
    assert "place_order" not in book.take(), "nothing is sent on a state nobody could read"


def test_fills_found_by_polling_reach_the_journal_and_the_cache(gated, book, clock):
    buy(gated)
    resting = buy(gated, qty=3)
    book.fill(resting.order_id, Decimal(1))
    book.tick()
    assert gated.journal.intent(resting.client_order_id).status == "partially_filled"
    assert gated.cache.position_qty("AAPL") == 1
    book.fill(resting.order_id)
    book.tick()
    assert gated.journal.intent(resting.client_order_id).status == "filled"
    assert gated.cache.position_qty("AAPL") == 3
    assert gated.order_stream_status()["live"]


def test_a_foreign_order_found_by_polling_makes_the_cache_read_again(gated, book):
    buy(gated)
    place(book, "placed-on-the-website")
    book.take()
    book.tick()
    assert book.take() == ["get_orders", "get_orders"]
    assert not gated.order_stream_status()["live"]
    assert any(e["kind"] == "foreign_order_update" for e in gated.journal.events())
    gated.stream.refresh_interval = 0  # the core's own limit on refreshes has passed
    book.tick()  # a connected stream with a doubtful cache takes a new snapshot
    assert "get_account" in book.take()
    assert gated.order_stream_status()["live"]


def test_closing_the_gated_broker_stops_the_poller(gated, book):
    buy(gated)
    stream = gated.stream.stream
    gated.close()
    assert stream.closed
    assert not stream.tick()
    assert gated.cache.silence_limit is not None  # what it was; no stream to trust anyway
    assert not gated.order_stream_status()["live"]


# -- the sim as a REST-only broker, on a thread -------------------------------------------


@pytest.fixture
def rest_sim(tmp_path):
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(polled_broker, name="restsim-plugin")
    host = PluginHost(pm)
    config = effective_config(
        {
            "trading_broker": "restsim",
            "state_dir": str(tmp_path),
            "max_orders_per_second": 1000,
            "max_orders_per_minute": 1000,
            "duplicate_window_seconds": 0,
            "broker_options": {"restsim": {"prices": {"AAPL": 100}}},
        }
    )
    gated = GatedBroker(host, "restsim", host.build_broker("restsim", config), config)
    yield gated
    gated.close()


def _wait(condition, what):
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_the_sim_as_a_rest_broker_pays_one_or_two_requests_an_order(rest_sim):
    broker = rest_sim.broker
    _wait(lambda: rest_sim.order_stream_status()["live"], "the polled stream never went live")
    broker.take()
    costs = []
    for n in range(20):
        if n % 2:
            order = rest_sim.place_order(symbol="AAPL", side="buy", qty=1)
        else:
            order = rest_sim.place_order(
                symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=90
            )
        costs.append(broker.take())
        assert order.client_order_id
    assert all(1 <= len(cost) <= 2 for cost in costs), costs
    assert all(cost[-1] == "place_order" for cost in costs)
    assert threading.current_thread().name != POLLER
    # The fills of the market orders reach the cache through the poller.
    _wait(lambda: rest_sim.cache.position_qty("AAPL") == 10, "fills never polled")
    assert broker.polled["get_orders"] > 0, "the poller read the broker meanwhile"
    status = rest_sim.order_stream_status()
    assert status["stream"]["kind"] == "polled"
    assert status["stream"]["requests"] > 0


def test_after_a_busy_spell_the_cache_agrees_with_the_broker(rest_sim):
    broker = rest_sim.broker
    _wait(lambda: rest_sim.order_stream_status()["live"], "the polled stream never went live")
    cheap = []
    for n in range(30):
        if n % 3 == 0:
            rest_sim.place_order(symbol="AAPL", side="buy", qty=1)
        elif n % 3 == 1:
            rest_sim.place_order(
                symbol="AAPL", side="buy", qty=2, order_type="limit", limit_price=95
            )
        else:
            order = rest_sim.place_order(
                symbol="AAPL", side="buy", qty=1, order_type="limit", limit_price=91
            )
            cheap.append(order.order_id)
    broker.set_price("AAPL", 94)  # the limits at 95 fill now, at the broker alone
    for order_id in cheap[:5]:
        rest_sim.cancel_order(order_id)

    def agrees() -> bool:
        held = {p.symbol: p.qty for p in broker.sim.get_positions()}
        open_ids = {o.order_id for o in broker.sim.get_orders("open")}
        journal = {i.client_order_id: i.status for i in rest_sim.journal.intents()}
        at_broker = {o.client_order_id: o.status.value for o in broker.sim.get_orders("all")}
        return (
            rest_sim.order_stream_status()["live"]
            and rest_sim.cache.position_qty("AAPL") == held.get("AAPL") == 30
            and {o.order_id for o in rest_sim.cache.open_orders()} == open_ids
            and len(open_ids) == 5
            and all(at_broker[cid] == status for cid, status in journal.items())
        )

    _wait(agrees, "the cache and the journal never caught up with the broker")
    assert rest_sim.order_stream_status()["stream"]["reconnects"] == 0
