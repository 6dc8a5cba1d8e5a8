"""When a resting order fills, and what it reserves: the sim broker's price rules."""

from __future__ import annotations

from decimal import Decimal

from ..enums import OrderType
from ..orders import OrderRequest

__all__ = ["ANY_PRICE", "crosses", "reserve_price", "trigger"]

#: The threshold of an order any price fills (a resting market order, a triggered stop).
ANY_PRICE = Decimal("-Infinity")


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


def trigger(
    *, kind: str, buy: bool, limit: Decimal | None, stop: Decimal | None, triggered: bool
) -> tuple[bool, Decimal | None]:
    """Which prices may fill or trigger a resting order: ``(below, at)``.

    ``below`` means at or below ``at``, else at or above it; ``at`` is
    :data:`ANY_PRICE` when any price fills the order, None when none does. No price
    outside this range changes the order in :func:`crosses`.

    >>> trigger(kind="stop_limit", buy=True, limit=Decimal(101), stop=Decimal(100),
    ...         triggered=False)
    (False, Decimal('100'))
    """
    if kind in ("stop", "stop_limit") and not triggered:
        return not buy, stop  # a buy stop triggers at or above the stop
    if kind == "limit" or (kind == "stop_limit" and triggered):
        return buy, limit  # a buy limit fills at or below the limit
    if kind in ("market", "stop"):
        return False, ANY_PRICE
    return False, None


def reserve_price(request: OrderRequest, price: Decimal) -> Decimal:
    """The price an order reserves buying power at: its limit, its stop, else ``price``."""
    if request.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        assert request.limit_price is not None
        return request.limit_price
    if request.order_type is OrderType.STOP:
        assert request.stop_price is not None
        return max(request.stop_price, price)
    return price
