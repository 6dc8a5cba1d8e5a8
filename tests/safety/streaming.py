"""A gated fake broker whose order stream the test drives (shared by the stream tests)."""

from __future__ import annotations

import pytest

from tradingagents_brokers import PluginHost, hookimpl, make_plugin_manager
from tradingagents_brokers.config import effective_config
from tradingagents_brokers.gateway import GatedBroker
from tradingagents_brokers.safety.journal import Journal

from ..fakes import BookBroker, Calls, FakePlugin, ManualClock

MAX_AGE = 30


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def book(clock: ManualClock) -> BookBroker:
    book = BookBroker()
    book.now = clock
    return book


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def host(book: BookBroker, calls: Calls) -> PluginHost:
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin(book), name="fake-plugin")
    pm.register(calls, name="calls")
    return PluginHost(pm)


CONFIG = {
    "trading_broker": "fake",
    "max_orders_per_second": 1000,
    "max_orders_per_minute": 1000,
    "duplicate_window_seconds": 0,
    "state_max_age_seconds": MAX_AGE,
    "quote_cache_seconds": 1,
}


def gated_on(host, book, clock, tmp_path, name="j.db", **overrides) -> GatedBroker:
    config = effective_config({**CONFIG, **overrides})
    journal = Journal(tmp_path / name, now=clock)
    gated = GatedBroker(host, "fake", book, config, journal)
    return gated


@pytest.fixture
def gated(host, book, clock, tmp_path):
    gated = gated_on(host, book, clock, tmp_path)
    yield gated
    gated.close()


def buy(gated, qty=1, **fields):
    return gated.place_order(
        symbol="AAPL", side="buy", qty=qty, order_type="limit", limit_price="99", **fields
    )


def warm(gated, calls):
    """The first order takes the snapshot; afterwards the cache is live (and the stream drained)."""
    buy(gated)
    gated.stream.poll()
    calls.take()
    assert gated.order_stream_status()["live"]


def event_kinds(host, what=lambda event: event.kind):
    """From now on, ``what`` of every on_order_event, in a list."""
    seen = []

    class Observer:
        @hookimpl
        def on_order_event(self, event):
            seen.append(what(event))

    host.pm.register(Observer(), name=f"observer-{id(seen)}")
    return seen


def decision_state(gated, intent_id):
    events = gated.journal.events(intent_id=intent_id)
    return next(e for e in events if e["kind"] == "intent")["payload"]["state"]
