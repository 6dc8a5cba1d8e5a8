"""The open orders the state cache counts, by symbol, and what they have left to fill.

The position check needs, for one symbol and side, how many shares the open
orders may still buy or sell. Summed over the orders on every check, that cost
grows with the book; :class:`OpenBook` keeps the sum as the orders change, so a
check costs the same with ten orders open or ten thousand. Orders given in
dollars (notional) are listed instead of summed: what they amount to in shares
depends on the price the check judges them at.
"""

from __future__ import annotations

from decimal import Decimal

from ..enums import OrderSide
from ..orders import Order

__all__ = ["OpenBook"]

_Key = tuple[str, OrderSide]


class OpenBook:
    """Open orders by symbol and id, with a running unfilled quantity per symbol and side.

    Not thread-safe on its own: the state cache calls it under its lock.
    """

    def __init__(self) -> None:
        self._orders: dict[str, dict[str, Order]] = {}
        self._unfilled: dict[_Key, Decimal] = {}
        self._notional: dict[_Key, dict[str, Order]] = {}

    def __len__(self) -> int:
        return sum(len(book) for book in self._orders.values())

    def put(self, order: Order) -> None:
        """Count ``order`` (in place of what was counted for its id)."""
        book = self._orders.setdefault(order.symbol, {})
        self._uncount(book.get(order.order_id))
        book[order.order_id] = order
        key = (order.symbol, order.side)
        if order.qty is not None:
            self._unfilled[key] = self._unfilled.get(key, Decimal(0)) + _left(order)
        elif order.notional is not None:
            self._notional.setdefault(key, {})[order.order_id] = order

    def remove(self, symbol: str, order_id: str) -> None:
        """Stop counting the order ``order_id`` of ``symbol`` (if it is counted)."""
        self._uncount(self._orders.get(symbol, {}).pop(order_id, None))

    def _uncount(self, order: Order | None) -> None:
        if order is None:
            return
        key = (order.symbol, order.side)
        if order.qty is not None:
            self._unfilled[key] -= _left(order)
        else:
            self._notional.get(key, {}).pop(order.order_id, None)

    def orders(self, symbol: str | None = None) -> list[Order]:
        if symbol is not None:
            return list(self._orders.get(symbol, {}).values())
        return [order for book in self._orders.values() for order in book.values()]

    def unfilled(self, symbol: str, side: OrderSide) -> tuple[Decimal, list[Order]]:
        """Shares the open orders in shares have left, and the open orders in dollars."""
        key = (symbol, side)
        return self._unfilled.get(key, Decimal(0)), list(self._notional.get(key, {}).values())


def _left(order: Order) -> Decimal:
    """What an open order has left to fill: never below zero, whatever a broker reports."""
    assert order.qty is not None
    return max(order.qty - order.filled_qty, Decimal(0))
