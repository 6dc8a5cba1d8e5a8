"""The open-order book's running sums against counting every order (what they replace)."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from tradingagents_brokers import Order
from tradingagents_brokers.enums import OrderSide
from tradingagents_brokers.safety.book import OpenBook


def _order(n: int, rng: random.Random) -> Order:
    qty = Decimal(rng.choice(["1", "2.5", "10", "0.001"]))
    in_dollars = rng.random() < 0.2
    return Order(
        order_id=f"o-{n}",
        client_order_id=f"c-{n}",
        symbol=rng.choice(["AAPL", "MSFT"]),
        side=rng.choice(["buy", "sell"]),
        order_type="market" if in_dollars else "limit",
        time_in_force="day",
        status="new",
        qty=None if in_dollars else qty,
        notional=Decimal("150.50") if in_dollars else None,
        limit_price=None if in_dollars else "100",
    )


def _counted(live: dict[str, Order], symbol: str, side: OrderSide) -> tuple[Decimal, list[str]]:
    """The sum the position check made over every open order before the book kept it."""
    total, in_dollars = Decimal(0), []
    for order in live.values():
        if order.symbol == symbol and order.side is side:
            if order.qty is not None:
                total += order.qty - order.filled_qty
            else:
                in_dollars.append(order.order_id)
    return total, sorted(in_dollars)


@pytest.mark.parametrize("seed", range(5))
def test_the_running_sums_match_counting_every_order(seed):
    rng = random.Random(seed)
    book, live = OpenBook(), {}
    for n in range(600):
        step = rng.random()
        if step < 0.4 or not live:
            order = _order(n, rng)
            live[order.order_id] = order
            book.put(order)
        elif step < 0.7:  # a partial or a fuller fill of one that is counted
            order = live[rng.choice(list(live))]
            if order.qty is not None:
                filled = min(order.qty, order.filled_qty + Decimal("0.5"))
                order = Order(**{**_fields(order), "filled_qty": filled})
                live[order.order_id] = order
                book.put(order)
        else:  # done: filled, canceled or replaced
            order = live.pop(rng.choice(list(live)))
            book.remove(order.symbol, order.order_id)
        book.remove("AAPL", "never-counted")  # forgetting an unknown order changes nothing
        for symbol in ("AAPL", "MSFT", "TSLA"):
            for side in OrderSide:
                shares, in_dollars = book.unfilled(symbol, side)
                assert (shares, sorted(o.order_id for o in in_dollars)) == _counted(
                    live, symbol, side
                )
            assert book.orders(symbol) == [o for o in live.values() if o.symbol == symbol]
        assert len(book) == len(live)


def _fields(order: Order) -> dict:
    import attrs

    return {f.name: getattr(order, f.name) for f in attrs.fields(Order)}
