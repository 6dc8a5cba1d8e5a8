"""The state cache on its own: liveness, fills counted once, doubt about orders it cannot place."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import attrs
import pytest

from tradingagents_brokers import Account, Order, Position
from tradingagents_brokers.safety import cache as cache_module
from tradingagents_brokers.safety.cache import StateCache
from tradingagents_brokers.safety.journal import Journal

from ..fakes import ManualClock


def _account(buying_power="10000"):
    return Account(
        account_number="A",
        status="ACTIVE",
        buying_power=buying_power,
        cash=buying_power,
        portfolio_value="100000",
        equity="100000",
        last_equity="100000",
    )


def _order(order_id="o-1", *, status="new", qty="10", filled="0", side="buy", coid=None, **more):
    return Order(
        order_id=order_id,
        client_order_id=coid or f"c-{order_id}",
        symbol=more.pop("symbol", "AAPL"),
        side=side,
        order_type="limit",
        time_in_force="gtc",
        status=status,
        qty=qty,
        filled_qty=filled,
        limit_price="100",
        **more,
    )


def _intent(journal, n_qty="1", status="submitting", coid=None, side="buy"):
    return journal.new_intent(
        {
            "broker": "b",
            "symbol": "AAPL",
            "side": side,
            "qty": Decimal(n_qty),
            "notional": None,
            "value": Decimal(n_qty) * 100,
            "dedupe_key": "k",
            "status": status,
            "source": "python",
            "client_order_id": coid,
        },
        {},
    )


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def journal(tmp_path, clock):
    journal = Journal(tmp_path / "j.db", now=clock)
    yield journal
    journal.close()


@pytest.fixture
def cache(journal):
    return StateCache(journal, "b", max_age_seconds=30, quote_seconds=2)


def _live(cache, open_orders=(), positions=(), account=None):
    cache.connect()
    cache.install(cache.begin_snapshot(), list(open_orders), list(positions), account or _account())


def test_the_cache_is_live_only_connected_with_a_snapshot_and_heard_from(cache, clock):
    assert "no snapshot" in cache.why_not_live()
    cache.connect()
    assert not cache.live
    cache.install(cache.begin_snapshot(), [], [], _account())
    assert cache.live
    clock.advance(30)
    assert cache.live  # at the limit
    clock.advance(0.000001)
    assert "silent" in cache.why_not_live()  # one tick over
    cache.alive()
    assert cache.live
    cache.disconnect("network")
    assert "network" in cache.why_not_live()
    cache.connect()
    assert not cache.live  # reconnected, but no new snapshot yet


def test_a_fill_counts_once_and_a_late_or_repeated_update_changes_nothing(cache):
    order = _order()
    _live(
        cache,
        open_orders=[order],
        positions=[Position(symbol="AAPL", qty=5, avg_entry_price=1, cost_basis=5)],
    )
    part = attrs.evolve(order, status="partially_filled", filled_qty=Decimal(4))
    full = attrs.evolve(order, status="filled", filled_qty=Decimal(10))
    assert cache.apply(part) == "news"
    assert cache.apply(part) == "stale"
    assert cache.position_qty("AAPL") == 9
    assert cache.apply(full) == "news"
    assert cache.apply(part) == "stale"  # arrived late
    assert cache.apply(attrs.evolve(order, status="new")) == "stale"
    assert cache.position_qty("AAPL") == 15
    assert cache.open_orders() == []
    assert [p.qty for p in cache.positions()] == [Decimal(15)]


def test_a_final_status_is_kept_though_more_fills_are_taken(cache):
    order = _order(qty="10")
    _live(cache, open_orders=[order])
    cache.apply(attrs.evolve(order, status="canceled", filled_qty=Decimal(2)))
    assert cache.apply(attrs.evolve(order, status="partially_filled", filled_qty=Decimal(3))) == (
        "news"
    )
    assert cache.position_qty("AAPL") == 3
    assert cache.open_orders() == []


def test_a_sell_fill_lowers_the_position(cache):
    order = _order(side="sell", qty="2")
    _live(
        cache,
        open_orders=[order],
        positions=[Position(symbol="AAPL", qty=5, avg_entry_price=1, cost_basis=5)],
    )
    cache.apply(attrs.evolve(order, status="filled", filled_qty=Decimal(2)))
    assert cache.position_qty("AAPL") == 3


def test_an_unseen_order_with_fills_older_than_the_snapshot_makes_it_doubtful(cache, journal):
    old = _intent(journal)  # placed before the snapshot
    _live(cache)
    filled = _order("o-9", status="filled", filled="10", coid=old.client_order_id)
    assert cache.apply(filled, intent_id=old.intent_id) == "doubtful"
    assert "older than the snapshot" in cache.why_not_live()
    assert cache.position_qty("AAPL") == 0


def test_a_late_message_of_an_older_order_makes_it_doubtful_even_without_fills(cache, journal):
    # The order filled before the snapshot (its fill is in the positions read); a late
    # "new" must not set its count to zero, or the replayed fill would be added again.
    old = _intent(journal)
    _live(cache, positions=[Position(symbol="AAPL", qty=10, avg_entry_price=1, cost_basis=10)])
    late = _order("o-9", coid=old.client_order_id)
    assert cache.apply(late, intent_id=old.intent_id) == "doubtful"
    assert not cache.live


def test_an_order_younger_than_the_snapshot_is_counted_from_zero(cache, journal):
    _live(cache)
    young = _intent(journal)
    filled = _order("o-9", status="filled", filled="10", coid=young.client_order_id)
    assert cache.apply(filled, intent_id=young.intent_id) == "news"
    assert cache.position_qty("AAPL") == 10
    assert cache.live


def test_a_call_begun_in_this_generation_is_counted_from_zero(cache):
    _live(cache)
    generation = cache.generation
    closing = _order("close-1", side="sell", status="filled", qty="3", filled="3")
    assert cache.apply(closing, generation=generation) == "news"
    assert cache.position_qty("AAPL") == -3
    _live(cache)  # a new snapshot: an answer to an older call is doubtful
    other = _order("close-2", side="sell", status="filled", qty="3", filled="3")
    assert cache.apply(other, generation=generation) == "doubtful"


def test_a_replaced_order_counts_until_its_replacement_is_seen(cache):
    order = _order("o-1")
    _live(cache, open_orders=[order])
    generation = cache.generation  # the replace call begins
    cache.apply(attrs.evolve(order, status="replaced", replaced_by="o-2"))
    assert [o.order_id for o in cache.open_orders("AAPL")] == ["o-1"]
    cache.apply(_order("o-2", qty="12", replaces="o-1"), generation=generation)
    assert [o.order_id for o in cache.open_orders("AAPL")] == ["o-2"]


def test_journal_intents_count_until_their_order_is_seen(cache, journal, clock):
    _live(cache)
    pending = _intent(journal, "3")
    refused = _intent(journal, "4", status="denied")
    cache.sync()
    assert [i.intent_id for i in cache.in_flight()] == [pending.intent_id]
    assert [i.intent_id for i in cache.account_in_flight()] == [pending.intent_id]
    assert refused.intent_id not in [i.intent_id for i in cache.in_flight()]
    cache.apply(_order("o-3", coid=pending.client_order_id), intent_id=pending.intent_id)
    assert cache.in_flight() == []
    # the account was read before it: it still counts against buying power
    assert [i.intent_id for i in cache.account_in_flight()] == [pending.intent_id]


def test_an_intent_never_executed_stops_counting(cache, journal):
    _live(cache)
    lost = _intent(journal)
    cache.sync()
    journal.set_status(lost.intent_id, "not_placed")
    cache.sync()
    assert cache.in_flight() == []
    assert cache.account_in_flight() == []


def test_an_acknowledged_intent_unseen_past_max_age_makes_the_cache_doubtful(cache, journal, clock):
    _live(cache)
    other = _intent(journal)
    journal.observe(other.intent_id, _order("o-7", coid=other.client_order_id), kind="answer")
    cache.sync()
    clock.advance(30)
    cache.alive()
    cache.sync()
    assert cache.live  # at the limit
    clock.advance(0.001)
    cache.alive()
    cache.sync()
    assert "never seen on the order stream" in cache.why_not_live()


def test_an_unresolved_intent_never_makes_it_doubtful(cache, journal, clock):
    _live(cache)
    _intent(journal)
    cache.sync()
    clock.advance(3600)
    cache.alive()
    cache.sync()
    assert cache.live
    assert len(cache.in_flight()) == 1


def test_the_account_is_reread_after_max_age_and_forgets_older_intents(cache, journal, clock):
    _live(cache, account=_account("100"))
    reads = []

    def read():
        reads.append(clock())
        return _account("200")

    done = _intent(journal, status="submitting")
    cache.sync()
    journal.set_status(done.intent_id, "new")
    clock.advance(30)
    cache.alive()
    assert cache.account(read)[0].buying_power == 100
    clock.advance(0.001)
    account, at = cache.account(read)
    assert (account.buying_power, at, reads) == (Decimal(200), clock(), [clock()])
    assert cache.account_in_flight() == []  # the fresh read shows it


def test_forgotten_final_orders_make_a_late_fill_doubtful(cache, monkeypatch):
    monkeypatch.setattr(cache_module, "KEEP_FINAL", 2)
    orders = [_order(f"o-{n}") for n in range(4)]
    _live(cache, open_orders=orders)
    for order in orders:
        cache.apply(attrs.evolve(order, status="filled", filled_qty=Decimal(10)))
    assert cache.knows("o-3")
    assert not cache.knows("o-0")
    late = attrs.evolve(orders[0], status="filled", filled_qty=Decimal(10))
    assert cache.apply(late) == "doubtful"


def test_the_repr_says_whether_the_cache_is_live(cache):
    assert "not live" in repr(cache)
    _live(cache)
    assert repr(cache) == "<StateCache 'b' live>"


def _sql_count(journal, clock, seconds):
    return journal.count_admitted("b", clock() - dt.timedelta(seconds=seconds))


def test_the_rate_windows_count_what_the_journal_counts_at_their_edges(cache, journal, clock):
    _intent(journal)  # 61 s before the checks: out of both windows
    clock.advance(1)
    _intent(journal, status="denied")  # never counts
    _intent(journal)  # exactly 60 s before the checks below
    _live(cache)
    clock.advance(59)
    _intent(journal)
    clock.advance(1)
    cache.sync()
    assert cache.count_admitted(60) == _sql_count(journal, clock, 60) == 2  # at the edge
    assert cache.count_admitted(1) == _sql_count(journal, clock, 1) == 1
    clock.advance(0.001)  # one tick over: it leaves the minute
    assert cache.count_admitted(60) == _sql_count(journal, clock, 60) == 1
    with pytest.raises(ValueError, match="not 3600s"):
        cache.count_admitted(3600)


def test_the_rate_windows_agree_with_the_journal_through_any_history(cache, journal, clock):
    rng = random.Random(7)
    _live(cache)
    for _ in range(400):
        step = rng.random()
        if step < 0.5:
            _intent(journal, status=rng.choice(["submitting", "submitting", "denied"]))
        elif step < 0.9:
            clock.advance(rng.choice([0.001, 0.2, 0.999, 1, 7, 30]))
        else:
            _live(cache)  # a new snapshot in the middle of the history
        cache.sync()
        for seconds in (1, 60):
            assert cache.count_admitted(seconds) == _sql_count(journal, clock, seconds)


def test_the_rate_window_stays_bounded_when_nobody_counts_the_minute(
    cache, journal, clock, monkeypatch
):
    monkeypatch.setattr(cache_module, "PRUNE_AT", 5)
    _live(cache)
    for _ in range(8):
        _intent(journal)
        clock.advance(61)
        cache.sync()
    assert cache.count_admitted(1) == 0
    assert len(cache._admitted) <= 5


def test_an_adopted_intent_counts_as_one_read_back_would(cache, journal):
    _live(cache)
    token = cache.sync()
    adopted = _intent(journal, "2")
    cache.adopt(adopted, after=token)
    assert cache._scanned == adopted.intent_id  # the next sync will not read it back
    assert [i.intent_id for i in cache.in_flight()] == [adopted.intent_id]
    assert cache.count_admitted(60) == 1
    token = cache.sync()
    late = _intent(journal, "3")
    _live(cache)  # a snapshot installed in between: it knows `late` already
    cache.adopt(late, after=token)
    cache.sync()
    assert sorted(i.intent_id for i in cache.in_flight()) == [adopted.intent_id, late.intent_id]
    assert cache.count_admitted(60) == 2


def test_what_open_orders_have_left_is_kept_as_they_change(cache):
    from tradingagents_brokers.enums import OrderSide

    def left():
        summed = sum(
            (o.qty - o.filled_qty for o in cache.open_orders("AAPL") if o.side is OrderSide.BUY),
            Decimal(0),
        )
        shares, in_dollars = cache.unfilled("AAPL", OrderSide.BUY)
        assert (shares, in_dollars) == (summed, [])
        return shares

    first, other = _order("o-1", qty="10"), _order("o-9", qty="4", side="sell")
    _live(cache, open_orders=[first, other])
    assert left() == 10
    generation = cache.generation
    cache.apply(attrs.evolve(first, status="partially_filled", filled_qty="3"))
    assert left() == 7
    cache.apply(attrs.evolve(first, status="replaced", filled_qty="3", replaced_by="o-2"))
    assert left() == 7  # counted until its replacement is seen
    cache.apply(_order("o-2", qty="12", replaces="o-1"), generation=generation)
    assert left() == 12
    cache.apply(_order("o-2", qty="12", status="filled", filled="12"))
    assert left() == 0
    assert cache.unfilled("AAPL", OrderSide.SELL)[0] == 4
