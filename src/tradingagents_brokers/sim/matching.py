"""When a resting order fills, and what it reserves: the sim broker's price rules."""

from __future__ import annotations

from decimal import Decimal

from ..enums import OrderType
from ..orders import OrderRequest

__all__ = ["crosses", "reserve_price"]


def crosses(
    *,
    kind: str,
    buy: bool,
    price: Decimal,
    limit: Decimal | None,
    stop: Decimal | None,
    triggered: bool,
) -> tuple[bool, bool]:
    """Whether an order of ``kind`` fills at ``price``, and whether its stop has triggered.

    A buy stop triggers at or above the stop, a sell stop at or below; a buy limit
    fills at or below the limit, a sell limit at or above. A stop becomes a market
    order once triggered, a stop-limit becomes a limit order.

    >>> crosses(kind="limit", buy=True, price=Decimal(95), limit=Decimal(95), stop=None,
    ...         triggered=False)
    (True, False)
    """
    if kind in ("stop", "stop_limit") and not triggered:
        assert stop is not None
        triggered = price >= stop if buy else price <= stop
    if kind == "market" or (kind == "stop" and triggered):
        return True, triggered
    if kind == "limit" or (kind == "stop_limit" and triggered):
        assert limit is not None
        return (price <= limit if buy else price >= limit), triggered
    return False, triggered


def reserve_price(request: OrderRequest, price: Decimal) -> Decimal:
    """The price an order reserves buying power at: its limit, its stop, else ``price``."""
    if request.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        assert request.limit_price is not None
        return request.limit_price
    if request.order_type is OrderType.STOP:
        assert request.stop_price is not None
        return max(request.stop_price, price)
    return price
