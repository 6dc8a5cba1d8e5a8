"""The gate with a live order stream: one broker call per order, fail-closed staleness, faults.

A :class:`~tests.fakes.BookBroker` streams its order updates through a pull-based
fake stream the gate polls; the test moves the clock, drops the stream, and
slips in duplicates, out-of-order and foreign updates.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tradingagents_brokers import (
    BrokerAPIError,
    OrderRejectedError,
)
from tradingagents_brokers.streams import OrderUpdate

from .streaming import (
    MAX_AGE,
    buy,
    decision_state,
    event_kinds,
    gated_on,
    warm,
)

# -- the hot path ------------------------------------------------------------------------


def test_a_warm_order_costs_one_broker_call(gated, calls):
    buy(gated)
    assert sorted(calls.take()) == sorted(
        ["get_orders", "get_positions", "get_account", "get_quote", "place_order"]
    )
    for _ in range(5):
        buy(gated)
        assert calls.take() == ["place_order"]
    assert decision_state(gated, 6)["source"] == "stream"


def _journal_steps(gated, order):
    """SQLite virtual-machine steps (in tens) the journal takes for ``order()``."""
    steps = [0]

    def count():
        steps[0] += 1
        return 0

    gated.journal.backend.connection.set_progress_handler(count, 10)
    try:
        order()
    finally:
        gated.journal.backend.connection.set_progress_handler(None, 10)
    return steps[0]


def _old_history(journal, count):
    """``count`` finished orders of the broker, placed long before now."""
    with journal.transaction(durable=False):
        for n in range(count):
            journal.new_intent(
                {
                    "broker": "fake",
                    "symbol": "OLD",
                    "side": "buy",
                    "qty": Decimal(1),
                    "notional": None,
                    "value": Decimal(1),
                    "dedupe_key": f"old-{n}",
                    "status": "filled",
                    "source": "python",
                    "client_order_id": f"old-{n}",
                },
                {},
            )


def test_an_orders_journal_work_does_not_grow_with_the_journals_history(
    host, book, clock, tmp_path
):
    """Every query of the order path is bounded by the risk windows, not by the history."""
    costs = []
    for n, history in enumerate((10, 3000)):
        clock.advance(-7200)
        gated = gated_on(host, book, clock, tmp_path, name=f"history-{n}.db")
        _old_history(gated.journal, history)
        clock.advance(7200)  # the history is outside every window
        buy(gated)
        gated.stream.poll()
        buy(gated)  # warm
        gated.stream.poll()
        costs.append(_journal_steps(gated, lambda g=gated: buy(g)))
        gated.close()
    small, large = costs
    assert large <= small * 1.2 + 5, costs


def test_without_the_stream_every_order_reads_the_broker(host, book, clock, tmp_path, calls):
    with gated_on(host, book, clock, tmp_path, order_stream=False) as gated:
        for _ in range(2):
            buy(gated)
            assert sorted(calls.take()) == sorted(
                ["get_quote", "get_positions", "get_orders", "get_account", "place_order"]
            )
        assert gated.order_stream_status()["live"] is False
        assert book.streams == []
        state = decision_state(gated, 2)
        assert state["source"] == "broker"
        assert [(q["symbol"], q["price"], q["source"]) for q in state["quotes"]] == [
            ("AAPL", "100", "book")
        ]


def test_a_broker_without_the_capability_gets_no_subscription(fake):
    status = fake.order_stream_status()
    assert status["subscribed"] is False
    assert "no order stream" in status["reason"]


def test_the_quote_is_reused_within_quote_cache_seconds_only(gated, calls, clock):
    warm(gated, calls)
    clock.advance(1)
    buy(gated)
    assert calls.take() == ["place_order"]
    clock.advance(0.001)
    buy(gated)
    assert calls.take() == ["get_quote", "place_order"]


# -- staleness fails closed -------------------------------------------------------------


def test_a_stream_heard_from_exactly_max_age_ago_is_trusted(gated, calls, clock, book):
    warm(gated, calls)
    book.streams[0].silent = True  # no heartbeat from now on
    clock.advance(MAX_AGE)
    assert gated.order_stream_status()["live"]
    buy(gated)
    assert "get_positions" not in calls.take()


def test_one_tick_past_max_age_the_checks_read_the_broker(gated, calls, clock, book):
    warm(gated, calls)
    book.streams[0].silent = True
    clock.advance(MAX_AGE + 0.001)
    assert "silent" in gated.order_stream_status()["reason"]
    buy(gated)
    assert {"get_orders", "get_positions", "get_account"} <= set(calls.take())
    assert decision_state(gated, 2)["source"] == "broker"


def test_the_account_is_read_again_when_older_than_max_age(gated, calls, clock):
    warm(gated, calls)
    clock.advance(MAX_AGE)
    buy(gated)
    assert "get_account" not in calls.take()
    clock.advance(0.001)
    buy(gated)
    assert calls.take() == ["get_account", "place_order"]  # the quote is 1 ms old
    buy(gated)
    assert calls.take() == ["place_order"]


def test_a_dropped_stream_means_fresh_reads_until_it_reconnects(gated, calls, book):
    warm(gated, calls)
    stream = book.streams[0]
    stream.drop(stay_down=True)
    assert "dropped" in gated.order_stream_status()["reason"]
    buy(gated)
    assert sorted(calls.take()) == sorted(
        ["get_quote", "get_positions", "get_orders", "get_account", "place_order"]
    )
    assert decision_state(gated, 2)["source"] == "broker"
    stream.down = False
    buy(gated)  # the poll reconnects: reconcile and snapshot, then the checks read the cache
    assert sorted(calls.take()) == sorted(
        ["get_orders", "get_positions", "get_account", "get_quote", "place_order"]
    )
    assert decision_state(gated, 3)["source"] == "stream"
    buy(gated)
    assert calls.take() == ["place_order"]


def test_a_failed_snapshot_leaves_the_checks_on_fresh_reads_which_deny(gated, calls, book):
    warm(gated, calls)
    book.streams[0].drop()
    real = book.get_positions

    def broken():
        raise BrokerAPIError("positions are down", status_code=503)

    book.get_positions = broken
    with pytest.raises(OrderRejectedError) as raised:
        buy(gated)
    assert "ACCOUNT_DATA_MISSING" in raised.value.reason_codes
    assert "snapshot could not be read" in gated.order_stream_status()["reason"]
    book.get_positions = real
    gated.stream._last_refresh = None  # the next heartbeat may refresh at once
    buy(gated)
    assert gated.order_stream_status()["live"]


def test_no_order_is_admitted_on_state_older_than_the_limit(gated, calls, clock, book):
    warm(gated, calls)
    for step in (5, 20, 31, 2, 40):
        book.streams[0].silent = step > 20
        clock.advance(step)
        buy(gated)
    for intent in gated.journal.intents():
        decided = next(
            e for e in gated.journal.events(intent_id=intent.intent_id) if e["kind"] == "intent"
        )
        at = dt.datetime.fromisoformat(decided["at"].replace("Z", "+00:00"))
        state = decided["payload"]["state"]
        if state["source"] == "stream":
            for key in ("orders_as_of", "account_as_of"):
                age = at - dt.datetime.fromisoformat(state[key])
                assert age <= dt.timedelta(seconds=MAX_AGE), (intent.intent_id, key, age)


# -- what the stream brings --------------------------------------------------------------


def test_a_fill_on_the_stream_moves_the_position_and_is_journaled(gated, calls, book, host):
    events = event_kinds(host, lambda event: event)
    order = buy(gated, qty=3)
    book.fill(order.order_id, qty=1)
    book.fill(order.order_id)
    gated.stream.poll()
    assert gated.cache.position_qty("AAPL") == 3
    assert gated.cache.open_orders("AAPL") == []
    intent = gated.journal.intent(1)
    assert (intent.status, intent.filled_qty) == ("filled", Decimal(3))
    updates = [e for e in gated.journal.events(intent_id=1) if e["kind"] == "order_update"]
    assert [u["payload"]["update"]["event"] for u in updates] == ["partial_fill", "fill"]
    assert [e.kind for e in events] == ["accepted", "partially_filled", "filled"]
    assert events[-1].update.qty == 2


def test_duplicates_and_late_updates_change_nothing(gated, calls, book):
    order = buy(gated, qty=4)
    book.fill(order.order_id, qty=1)
    book.fill(order.order_id, qty=3)
    stream = book.streams[0]
    stream.duplicate = stream.reorder = True
    gated.stream.poll()
    assert gated.cache.position_qty("AAPL") == 4
    assert gated.journal.intent(1).filled_qty == 4
    kinds = [e["kind"] for e in gated.journal.events(intent_id=1)]
    assert kinds.count("order_update") == 1  # the fill to 4; the partial came late


def test_a_foreign_order_is_journaled_and_makes_the_cache_read_again(gated, calls, book):
    warm(gated, calls)
    from tradingagents_brokers import Order

    foreign = Order(
        order_id="web-1",
        client_order_id="placed-on-the-website",
        symbol="AAPL",
        side="buy",
        order_type="market",
        time_in_force="day",
        status="filled",
        qty=7,
        filled_qty=7,
    )
    book.orders["web-1"] = foreign
    book.positions["AAPL"] = book.positions.get("AAPL", Decimal(0)) + 7
    gated.stream._last_refresh = None
    book.streams[0].extra.append(OrderUpdate(event="fill", order=foreign))
    buy(gated)
    names = calls.take()
    assert {"get_orders", "get_positions", "get_account"} <= set(names)  # a new snapshot
    foreign_events = [e for e in gated.journal.events() if e["kind"] == "foreign_order_update"]
    assert foreign_events[0]["payload"]["update"]["order"]["order_id"] == "web-1"
    assert foreign_events[0]["intent_id"] is None
    assert gated.cache.position_qty("AAPL") == 7  # read, not added up from the update
    assert gated.order_stream_status()["live"]


def test_an_order_from_another_process_counts_until_its_update_arrives(
    host, book, clock, tmp_path, calls
):
    config = {"max_position_size": "0.0020"}  # 0.2% of 100000 = 200 = two shares at 100
    first = gated_on(host, book, clock, tmp_path, **config)
    warm(first, calls)  # one share bought, acknowledged, seen
    other = gated_on(host, book, clock, tmp_path, **config)
    other.stream.close()  # the other process's order reaches us only through the journal
    other.cache.disconnect("test")
    buy(other)
    # our stream has not delivered it yet: the journal's intent counts as pending
    saved, book.updates = book.updates, book.updates[: book.streams[0].seen]
    with pytest.raises(OrderRejectedError, match="POSITION_EXCEEDS_MAX"):
        buy(first)
    assert [i.intent_id for i in first.cache.in_flight()] == [2]
    book.updates = saved
    first.close()
    other.close()


def _stream_before_the_answer(gated, book, then=None):
    """The broker streams an order's update before its answer reaches the gate."""
    real = book.place_order

    def place_then_stream(request):
        order = real(request)
        if then is not None:
            then(order)
        gated.stream.poll()  # the update arrives now, while the gate waits for the answer
        return order

    book.place_order = place_then_stream


def test_an_update_that_beats_the_answer_is_parked_not_journaled_twice(gated, calls, book, host):
    warm(gated, calls)
    events = event_kinds(host)
    _stream_before_the_answer(gated, book)
    looked_up = []
    real_intent = gated.journal.intent

    def intent(key):
        looked_up.append(key)
        return real_intent(key)

    gated.journal.intent = intent
    order = buy(gated)
    assert events == ["accepted"]
    # the parked update said what the answer said: it cost no journal look-up
    assert order.client_order_id not in looked_up
    kinds = [e["kind"] for e in gated.journal.events(intent_id=2)]
    assert kinds[-1] == "broker_answer"
    assert "order_update" not in kinds  # it said nothing the answer did not
    assert [o.order_id for o in gated.cache.open_orders("AAPL")][-1] == order.order_id


def test_a_parked_fill_is_journaled_after_the_answer(gated, calls, book, host):
    warm(gated, calls)
    events = event_kinds(host)
    _stream_before_the_answer(gated, book, then=lambda order: book.fill(order.order_id))
    order = buy(gated, qty=2)  # the answer still says "new"
    assert order.status.value == "new"
    intent = gated.journal.intent(2)
    assert (intent.status, intent.filled_qty) == ("filled", 2)
    kinds = [e["kind"] for e in gated.journal.events(intent_id=2)]
    assert kinds[-2:] == ["broker_answer", "order_update"]
    assert events == ["accepted", "filled"]
    assert gated.cache.position_qty("AAPL") == 2


def test_restarting_the_stream_reconciles_what_was_missed(gated, calls, book):
    order = buy(gated, qty=2)
    gated.stream.close()
    book.fill(order.order_id)  # happens while nobody listens
    assert gated.journal.intent(1).status == "new"
    assert gated.restart_order_stream()
    gated.stream.poll()
    assert gated.journal.intent(1).status == "filled"
    assert gated.cache.position_qty("AAPL") == 2
    assert gated.order_stream_status()["live"]
