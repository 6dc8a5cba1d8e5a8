"""The sim's book of resting orders, indexed so a price move touches only what it crosses.

Every open order has one row in ``resting``, written in the same transaction as
the order's own changes (:meth:`SimStore.insert_order`, :meth:`SimStore.update_order`):

* ``below`` and ``at`` say which prices may fill or trigger it: at or below ``at``
  (``below = 1``: a buy limit, an untriggered sell stop) or at or above it (a sell
  limit, an untriggered buy stop); ``at`` is minus infinity for an order any price
  fills, NULL for one no price does. ``at`` is a float, the nearest to the order's
  Decimal: rounding is monotonic, so a query on it finds every order the price
  crosses, and :func:`~.matching.crosses` then decides each exactly;
* ``day`` is a ``day`` order's ``submitted_at``, to find the orders the date expired.

What open orders reserve is kept as running figures in the same transaction: the
cash of open buys (``meta.reserved_cash``) and the shares of open sells by symbol
(``held_for_sale``), summed exactly (no context rounding).
"""

from __future__ import annotations

import decimal
import sqlite3
from decimal import Decimal
from typing import Any

from .matching import trigger

__all__ = [
    "OPEN_STATUSES",
    "book",
    "crossed",
    "expired",
    "held_for_sale",
    "reserved_cash",
    "symbols",
    "unbook",
]

OPEN_STATUSES = ("new", "accepted", "pending_new", "partially_filled")

#: Running sums are exact: additions with this context never round.
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
#: What one buy reserves, qty times price, as the default context rounds it.
_PRODUCT = decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN)


def _dec(value: Any) -> Decimal | None:  # a nullable column
    return None if value is None else Decimal(value)


def book(db: sqlite3.Connection, row: sqlite3.Row) -> None:
    """Put an order on the book if it is open: its row in ``resting``, its reservation."""
    if row["status"] not in OPEN_STATUSES:
        return
    below, at = trigger(
        kind=row["order_type"],
        buy=row["side"] == "buy",
        limit=_dec(row["limit_price"]),
        stop=_dec(row["stop_price"]),
        triggered=bool(row["triggered"]),
    )
    db.execute(
        "INSERT INTO resting (seq, order_id, symbol, below, at, day) VALUES (?, ?, ?, ?, ?, ?)",
        (
            row["seq"],
            row["order_id"],
            row["symbol"],
            int(below),
            None if at is None else float(at),
            row["submitted_at"] if row["time_in_force"] == "day" else None,
        ),
    )
    _reserve(db, row, +1)


def unbook(db: sqlite3.Connection, row: sqlite3.Row) -> None:
    """Take an order off the book (its state before a change), if it was open."""
    if row["status"] not in OPEN_STATUSES:
        return
    db.execute("DELETE FROM resting WHERE seq = ?", (row["seq"],))
    _reserve(db, row, -1)


def _reserve(db: sqlite3.Connection, row: sqlite3.Row, sign: int) -> None:
    qty = Decimal(row["qty"])
    if row["side"] == "buy":
        price = _dec(row["limit_price"]) or _dec(row["stop_price"]) or Decimal(0)
        amount = _PRODUCT.multiply(qty, price)
        if not amount:  # a market buy reserves nothing
            return
        total = _add(reserved_cash(db), amount, sign)
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('reserved_cash', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (str(total),),
        )
        return
    symbol = row["symbol"]
    held = _add(held_for_sale(db, symbol), qty, sign)
    if held:
        db.execute(
            "INSERT INTO held_for_sale (symbol, qty) VALUES (?, ?) "
            "ON CONFLICT(symbol) DO UPDATE SET qty = excluded.qty",
            (symbol, str(held)),
        )
    else:
        db.execute("DELETE FROM held_for_sale WHERE symbol = ?", (symbol,))


def _add(total: Decimal, amount: Decimal, sign: int) -> Decimal:
    return _EXACT.add(total, amount) if sign > 0 else _EXACT.subtract(total, amount)


def reserved_cash(db: sqlite3.Connection) -> Decimal:
    """What the open buys reserve, exactly (unrounded)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'reserved_cash'").fetchone()
    return Decimal(0) if row is None else Decimal(row[0])


def held_for_sale(db: sqlite3.Connection, symbol: str) -> Decimal:
    """The shares of ``symbol`` the open sells hold."""
    row = db.execute("SELECT qty FROM held_for_sale WHERE symbol = ?", (symbol,)).fetchone()
    return Decimal(0) if row is None else Decimal(row[0])


def symbols(db: sqlite3.Connection) -> list[str]:
    """The symbols with resting orders: one index seek each."""
    rows = db.execute(
        "WITH RECURSIVE s(symbol) AS ("
        " SELECT MIN(symbol) FROM resting"
        " UNION ALL"
        " SELECT (SELECT MIN(symbol) FROM resting WHERE symbol > s.symbol) FROM s"
        " WHERE s.symbol IS NOT NULL"
        ") SELECT symbol FROM s WHERE symbol IS NOT NULL"
    ).fetchall()
    return [row[0] for row in rows]


def crossed(db: sqlite3.Connection, symbol: str, price: Decimal) -> list[tuple[int, str]]:
    """``(seq, order_id)`` of the resting orders on ``symbol`` that ``price`` may fill or trigger.

    Every order the price crosses, and at most a few more it does not (a float tie).
    """
    at = float(price)
    rows = db.execute(
        "SELECT seq, order_id FROM resting WHERE symbol = ? AND below = 1 AND at >= ? "
        "UNION ALL "
        "SELECT seq, order_id FROM resting WHERE symbol = ? AND below = 0 AND at <= ?",
        (symbol, at, symbol, at),
    ).fetchall()
    return [(int(row[0]), str(row[1])) for row in rows]


def expired(db: sqlite3.Connection, today: str) -> list[tuple[int, str]]:
    """``(seq, order_id)`` of the resting ``day`` orders submitted before ``today``."""
    rows = db.execute("SELECT seq, order_id FROM resting WHERE day < ?", (today,)).fetchall()
    return [(int(row[0]), str(row[1])) for row in rows]
