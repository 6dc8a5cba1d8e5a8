"""Orders a page at a time: the ``after``/``until`` window of ``get_orders`` and the pager."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tradingagents_brokers import InvalidOrderError, get_broker
from tradingagents_brokers.listing import check_window, in_window, iter_orders
from tradingagents_brokers.operations import accepts
from tradingagents_brokers.orders import Order

T0 = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)


def _order(n: int, at: dt.datetime | None) -> Order:
    return Order(
        order_id=f"o-{n}",
        client_order_id=f"c-{n}",
        symbol="AAPL",
        side="buy",
        order_type="market",
        time_in_force="day",
        qty=1,
        status="filled",
        submitted_at=at,
    )


class Book:
    """A broker's order list with the contract's window; counts its listings."""

    def __init__(self, orders: list[Order]) -> None:
        self.orders = sorted(orders, key=lambda o: o.submitted_at or T0, reverse=True)
        self.calls: list[dict[str, Any]] = []

    def get_orders(
        self,
        status: str = "open",
        limit: int | None = None,
        symbols: Any = None,
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[Order]:
        self.calls.append({"limit": limit, "after": after, "until": until})
        kept = [o for o in self.orders if in_window(o, after, until)]
        return kept[:limit] if limit else kept


def test_a_window_keeps_what_lies_strictly_between_its_edges():
    order = _order(1, T0)
    second = dt.timedelta(seconds=1)
    assert in_window(order, None, None)
    assert in_window(order, T0 - second, T0 + second)
    assert not in_window(order, T0, None)  # after is exclusive
    assert not in_window(order, None, T0)  # until is exclusive
    assert in_window(order, T0 - dt.timedelta(microseconds=1), T0 + dt.timedelta(microseconds=1))
    unknown = _order(2, None)
    assert in_window(unknown, None, None)
    assert not in_window(unknown, T0, None)


@pytest.mark.parametrize(
    ("after", "until", "message"),
    [
        ("2026-12-01", None, "after must be a date and time, got str"),
        (None, dt.datetime(2026, 12, 1), "until has no time zone"),
        (T0, T0, "must be earlier than until"),
        (T0 + dt.timedelta(microseconds=1), T0, "must be earlier than until"),
    ],
)
def test_a_bad_window_is_refused_with_what_to_give(after, until, message):
    with pytest.raises(InvalidOrderError, match=message):
        check_window(after, until)


def test_a_window_one_tick_wide_is_accepted():
    assert check_window(T0, T0 + dt.timedelta(microseconds=1)) == (
        T0,
        T0 + dt.timedelta(microseconds=1),
    )


def test_the_pager_gives_every_order_once_newest_first():
    book = Book([_order(n, T0 + dt.timedelta(seconds=n)) for n in range(10)])
    got = [o.order_id for o in iter_orders(book, page_size=3)]
    assert got == [f"o-{n}" for n in reversed(range(10))]
    # each page starts again at the previous page's oldest instant: 3, then 2 new a page
    assert len(book.calls) == 5


def test_the_pager_does_not_lose_orders_that_share_an_instant_at_a_page_edge():
    # five orders in one microsecond, pages of three: the edge falls inside them
    same = [_order(n, T0) for n in range(5)]
    older = [_order(10 + n, T0 - dt.timedelta(seconds=1 + n)) for n in range(2)]
    book = Book(same + older)
    got = [o.order_id for o in iter_orders(book, page_size=3)]
    assert sorted(got) == sorted(o.order_id for o in same + older)
    assert len(got) == len(set(got)) == 7


def test_the_pager_keeps_to_its_window_and_checks_its_arguments():
    book = Book([_order(n, T0 + dt.timedelta(seconds=n)) for n in range(10)])
    after, until = T0 + dt.timedelta(seconds=2), T0 + dt.timedelta(seconds=7)
    got = [o.order_id for o in iter_orders(book, after=after, until=until, page_size=2)]
    assert got == ["o-6", "o-5", "o-4", "o-3"]
    with pytest.raises(InvalidOrderError, match="page_size must be 1 to 500"):
        list(iter_orders(book, page_size=0))
    with pytest.raises(InvalidOrderError, match="page_size must be 1 to 500"):
        list(iter_orders(book, page_size=501))


def test_a_broker_from_before_the_window_is_recognised():
    class Old:
        def get_orders(self, status="open", limit=None, symbols=None):
            return []

    class Open:
        def get_orders(self, status="open", **kwargs):
            return []

    assert not accepts(Old().get_orders, "after", "until")
    assert not accepts(Open().get_orders, "after", "until")  # it may forward them blindly
    assert accepts(Book([]).get_orders, "after", "until")


@pytest.fixture
def sim(sim_config):
    gated = get_broker("sim", config={**sim_config, "max_orders_per_second": 100})
    yield gated
    gated.close()


def test_the_sim_pages_back_through_its_orders(sim):
    for n in range(7):
        sim.place_order(symbol="AAPL", side="buy", qty=n + 1, client_order_id=f"page-{n}")
    everything = sim.get_orders("all")
    assert [o.client_order_id for o in everything] == [f"page-{n}" for n in reversed(range(7))]
    paged = [o.client_order_id for o in iter_orders(sim, page_size=3)]
    assert paged == [o.client_order_id for o in everything]
    times = [o.submitted_at for o in everything]
    window = sim.get_orders("all", after=times[5], until=times[1])
    assert [o.client_order_id for o in window] == ["page-4", "page-3", "page-2"]
    assert sim.get_orders("all", limit=1, until=times[1])[0].client_order_id == "page-4"
    with pytest.raises(InvalidOrderError, match="must be earlier than until"):
        sim.get_orders("all", after=times[1], until=times[5])


def test_a_plugin_without_the_window_is_listed_whole_and_filtered_by_the_core(fake, fake_broker):
    # the test double's get_orders takes no window, as a plugin written before it
    assert not accepts(fake_broker.get_orders, "after", "until")
    for n in range(4):
        order = _order(n, T0 + dt.timedelta(seconds=n))
        fake_broker.orders[order.order_id] = order
    kept = fake.get_orders("all", limit=1, after=T0)
    assert [o.order_id for o in kept] == ["o-1"]  # the double lists oldest first
    assert [o.order_id for o in fake.get_orders("all", until=T0 + dt.timedelta(seconds=2))] == [
        "o-0",
        "o-1",
    ]
    assert fake.get_orders("all", until=T0) == []
