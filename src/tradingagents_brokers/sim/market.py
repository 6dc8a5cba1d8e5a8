"""The simulated market: what the prices and the date do to the sim's orders.

:func:`settle` is :meth:`SimBroker.process`: it expires the ``day`` orders the
date has passed and works the resting orders the current prices cross. It finds
them on the book's indexes (``book.py``): one price per symbol with resting
orders, one index range per side, so its cost follows what the prices cross, not
the number of resting orders. The orders it finds are worked newest first, each
decided exactly by :func:`~.matching.crosses` (:func:`work`), and filled in full
at the price (:func:`fill`).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from ..models import Quote
from .matching import crosses

if TYPE_CHECKING:
    from .broker import SimBroker

__all__ = ["fill", "settle", "work"]

CENT = Decimal("0.01")


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _dec(value: Any) -> Decimal | None:  # a nullable column
    return None if value is None else Decimal(value)


def settle(broker: SimBroker) -> int:
    """Expire stale day orders and fill what the current prices cross; how many were examined."""
    store = broker.store
    with store.transaction():
        due = set(store.expired(broker.now().date().isoformat()))
        quotes: dict[str, Quote] = {}
        for symbol in store.resting_symbols():
            quote = broker._quote(symbol)
            if quote is not None:
                quotes[symbol] = quote
                due.update(store.crossed(symbol, quote.price))
        for _, order_id in sorted(due, reverse=True):  # newest first
            work(broker, order_id, first=False, quotes=quotes)
        return len(due)


def work(
    broker: SimBroker,
    order_id: str,
    *,
    first: bool,
    quotes: Mapping[str, Quote] | None = None,
) -> None:
    """Expire, trigger, fill or (``first``, for ioc and fok) cancel one order.

    ``quotes``: the prices of this pass, by symbol (a symbol missing has none);
    without it, the order's price is read now.
    """
    store = broker.store
    row = broker._row(order_id)
    now = broker.now()
    if row["time_in_force"] == "day" and row["submitted_at"][:10] < now.date().isoformat():
        store.update_order(order_id, status="expired", canceled_at=now)
        store.add_update(order_id, "expired", now)
        return
    symbol = row["symbol"]
    quote = broker._quote(symbol) if quotes is None else quotes.get(symbol)
    if quote is None:
        return
    filled, triggered = crosses(
        kind=row["order_type"],
        buy=row["side"] == "buy",
        price=quote.price,
        limit=_dec(row["limit_price"]),
        stop=_dec(row["stop_price"]),
        triggered=bool(row["triggered"]),
    )
    if triggered and not row["triggered"]:
        store.update_order(order_id, triggered=1)
    if filled:
        fill(broker, row, quote.price, now)
    elif first and row["time_in_force"] in ("ioc", "fok"):
        store.update_order(order_id, status="canceled", canceled_at=now)
        store.add_update(order_id, "canceled", now)


def _mark(broker: SimBroker, symbol: str, qty: Decimal, cost_basis: Decimal) -> Decimal:
    """The price a holding is valued at: the quote, or its cost when the source lost it."""
    quote = broker._quote(symbol)
    return quote.price if quote is not None else cost_basis / qty


def fill(broker: SimBroker, row: sqlite3.Row, price: Decimal, now: dt.datetime) -> None:
    """Fill an order in full at ``price``: cash, position, the update log, an equity point."""
    store = broker.store
    qty = Decimal(row["qty"])
    symbol = row["symbol"]
    cash = Decimal(store.get_meta("cash") or 0)
    held_qty, held_cost = store.position(symbol) or (Decimal(0), Decimal(0))
    value = _money(qty * price)
    if row["side"] == "buy":
        cash -= value
        held_cost += value
        held_qty += qty
    else:
        cash += value
        held_cost = _money(held_cost * (held_qty - qty) / held_qty)
        held_qty -= qty
    store.set_meta("cash", _money(cash))
    store.set_position(symbol, held_qty, held_cost)
    store.update_order(
        row["order_id"], status="filled", filled_qty=qty, filled_avg_price=price, filled_at=now
    )
    store.add_update(row["order_id"], "fill", now, qty=qty, price=price, position_qty=held_qty)
    positions = store.positions()
    equity = cash + sum(
        (q * _mark(broker, s, q, c) for s, q, c in positions),
        Decimal(0),
    )
    store.add_equity_point(now, _money(equity))
