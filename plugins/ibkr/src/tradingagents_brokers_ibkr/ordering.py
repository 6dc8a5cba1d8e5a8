"""The core's order requests written as IB orders, checked against IB's rules first.

Prices go to ib_async as ``Decimal`` (its wire format writes them with ``str``,
so no binary float is ever made of them); quantities are whole shares. Multi-leg
orders follow IB's own constructions:

* **bracket**: the entry order, then a take-profit limit and a stop-loss on the
  other side, both children of the entry (``parentId``); only the last leg has
  ``transmit`` set, so TWS sends the three together. IB cancels the other child
  when one fills.
* **oto**: the entry order and one child (``parentId``).
* **oco**: a take-profit limit and a stop-loss on the request's side in one OCA
  group (``ocaType`` 1: the other is cancelled when one fills).

The first leg carries the core's ``client_order_id`` as its ``orderRef``; the
other legs carry it with ``.tp`` / ``.sl`` appended.

A good-till-date order is IB's ``GTD`` with ``goodTillDate`` in the UTC form IB's
API takes, ``YYYYMMDD-HH:MM:SS`` (:func:`good_till_date`). A change of an order
(:func:`modification`) is the live order with new terms and, when the core gives
one, the replacement's client order id as its new ``orderRef``.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

from ib_async import Order as IBOrder
from ib_async import Stock

from tradingagents_brokers import InvalidOrderError, OrderChanges, OrderRequest

from .mapping import ib_symbol
from .options import IBKROptions

__all__ = ["contract_for", "good_till_date", "legs", "modification", "validate"]

_TIFS = {
    "day": "DAY",
    "gtc": "GTC",
    "ioc": "IOC",
    "fok": "FOK",
    "opg": "OPG",
    "cls": "DAY",
    "gtd": "GTD",
}
_AT_CLOSE = ("MOC", "LOC")
_TYPES = {
    "market": "MKT",
    "limit": "LMT",
    "stop": "STP",
    "stop_limit": "STP LMT",
    "trailing_stop": "TRAIL",
}


def contract_for(symbol: str, options: IBKROptions) -> Stock:
    """The stock ``symbol`` on the configured exchange (SMART routing) and currency."""
    return Stock(ib_symbol(symbol), options.exchange, options.currency)


def good_till_date(at: dt.datetime) -> str:
    """``at`` as IB's ``goodTillDate``: UTC, ``YYYYMMDD-HH:MM:SS`` (TWS 10.17 and later).

    IB takes whole seconds: a fraction is dropped (the order expires up to a second
    sooner, never later). A naive time is read as UTC, as the core does.
    """
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).strftime("%Y%m%d-%H:%M:%S")


def _plain(value: Decimal) -> Decimal:
    """``value`` written without an exponent (``1E+1`` -> ``10``): TWS reads plain numbers."""
    return Decimal(format(value.normalize(), "f"))


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _check_price(name: str, price: Decimal | None) -> None:
    if price is None:
        return
    allowed = 2 if price >= 1 else 4
    if _places(price) > allowed:
        raise InvalidOrderError(
            f"{name} {_plain(price)} has more than {allowed} decimal places: IB takes US stock "
            "prices in cents from $1, and to 4 decimals below $1"
        )


def validate(request: OrderRequest) -> None:
    """Refuse, before sending, what IB would refuse for a US stock order."""
    if request.qty is None or request.qty != request.qty.to_integral_value():
        raise InvalidOrderError("IB trades whole shares of stock here: give qty as a whole number")
    kind, tif = request.order_type.value, request.time_in_force.value
    for name in ("limit_price", "stop_price", "trail_price"):
        _check_price(name, getattr(request, name))
    if request.take_profit is not None:
        _check_price("take_profit.limit_price", request.take_profit.limit_price)
    if request.stop_loss is not None:
        _check_price("stop_loss.stop_price", request.stop_loss.stop_price)
        _check_price("stop_loss.limit_price", request.stop_loss.limit_price)
    if request.extended_hours and (kind == "market" or tif not in ("day", "gtc")):
        raise InvalidOrderError(
            "IB fills orders outside regular trading hours only for limit and stop orders with "
            "time in force day or gtc; market orders wait for the open"
        )
    if tif in ("cls", "opg") and kind not in ("market", "limit"):
        raise InvalidOrderError(f"time in force {tif!r} takes market or limit orders at IB")
    legged = request.order_class.value != "simple"
    if legged and tif not in ("day", "gtc"):
        raise InvalidOrderError(
            f"a {request.order_class.value} order needs time in force day or gtc at IB"
        )
    if request.order_class.value == "oco":
        take = request.take_profit
        if kind != "limit" or take is None or request.limit_price != take.limit_price:
            raise InvalidOrderError(
                "an oco order at IB is a take-profit limit and a stop-loss in one OCA group: "
                "use order_type 'limit' with limit_price equal to take_profit.limit_price"
            )


def _main(request: OrderRequest, account: str) -> IBOrder:
    kind, tif = request.order_type.value, request.time_in_force.value
    order = IBOrder(
        action=request.side.value.upper(),
        totalQuantity=float(request.qty or 0),
        orderType=_TYPES[kind],
        tif=_TIFS[tif],
        outsideRth=request.extended_hours,
        orderRef=request.client_order_id or "",
        account=account,
    )
    if request.expire_at is not None:
        order.goodTillDate = good_till_date(request.expire_at)
    if tif == "cls":
        order.orderType = "MOC" if kind == "market" else "LOC"
    if request.limit_price is not None:
        order.lmtPrice = _plain(request.limit_price)
    if request.stop_price is not None:
        order.auxPrice = _plain(request.stop_price)
    if request.trail_price is not None:
        order.auxPrice = _plain(request.trail_price)
    if request.trail_percent is not None:
        order.trailingPercent = _plain(request.trail_percent)
    return order


def _exit(request: OrderRequest, leg: str, side: str, account: str) -> IBOrder:
    """A take-profit (``tp``) or stop-loss (``sl``) leg of ``request`` on ``side``."""
    order = IBOrder(
        action=side,
        totalQuantity=float(request.qty or 0),
        tif=_TIFS[request.time_in_force.value],
        orderRef=f"{request.client_order_id}.{leg}",
        account=account,
        outsideRth=request.extended_hours,
    )
    if leg == "tp":
        assert request.take_profit is not None
        order.orderType = "LMT"
        order.lmtPrice = _plain(request.take_profit.limit_price)
    else:
        assert request.stop_loss is not None
        order.orderType = "STP" if request.stop_loss.limit_price is None else "STP LMT"
        order.auxPrice = _plain(request.stop_loss.stop_price)
        if request.stop_loss.limit_price is not None:
            order.lmtPrice = _plain(request.stop_loss.limit_price)
    return order


def legs(request: OrderRequest, account: str) -> list[IBOrder]:
    """The IB orders of ``request``, the one carrying its client order id first.

    ``orderId``, ``parentId`` and ``ocaGroup`` are set by the caller, which owns
    the order ids (:func:`link`).
    """
    cls = request.order_class.value
    if cls == "simple":
        return [_main(request, account)]
    other = "SELL" if request.side.value == "buy" else "BUY"
    if cls == "oco":
        same = request.side.value.upper()
        first = _exit(request, "tp", same, account)
        first.orderRef = request.client_order_id or ""
        return [first, _exit(request, "sl", same, account)]
    given = (("tp", request.take_profit), ("sl", request.stop_loss))
    wanted = [leg for leg, price in given if price is not None]
    return [_main(request, account), *(_exit(request, leg, other, account) for leg in wanted)]


def link(orders: list[IBOrder], ids: list[int], order_class: str) -> None:
    """Give ``orders`` their ids and tie them together as ``order_class`` requires."""
    for order, order_id in zip(orders, ids, strict=True):
        order.orderId = order_id
    if order_class in ("bracket", "oto"):
        for child in orders[1:]:
            child.parentId = ids[0]
    if order_class == "oco":
        for order in orders:
            order.ocaGroup, order.ocaType = f"oco-{orders[0].orderRef}", 1
    for order in orders[:-1]:
        order.transmit = len(orders) == 1 or order_class == "oco"
    orders[-1].transmit = True


def modification(current: Any, changes: OrderChanges) -> IBOrder:
    """A copy of the live IB order ``current`` with ``changes``: placed again under its id.

    ``changes.client_order_id`` (the core gives every replacement one) becomes the
    order's ``orderRef``, so the order is found by it afterwards.
    """
    order: IBOrder = copy.copy(current)
    ib_type = str(order.orderType)
    if changes.client_order_id is not None:
        order.orderRef = changes.client_order_id
    if changes.qty is not None:
        if changes.qty != changes.qty.to_integral_value():
            raise InvalidOrderError("IB trades whole shares of stock here: qty must be whole")
        order.totalQuantity = float(changes.qty)
    if changes.limit_price is not None:
        if ib_type not in ("LMT", "STP LMT", "LOC"):
            raise InvalidOrderError(f"a {ib_type} order has no limit price to change")
        _check_price("limit_price", changes.limit_price)
        order.lmtPrice = _plain(changes.limit_price)
    if changes.stop_price is not None:
        if ib_type not in ("STP", "STP LMT"):
            raise InvalidOrderError(f"a {ib_type} order has no stop price to change")
        _check_price("stop_price", changes.stop_price)
        order.auxPrice = _plain(changes.stop_price)
    if changes.trail is not None:
        if ib_type != "TRAIL":
            raise InvalidOrderError(f"a {ib_type} order has no trail to change")
        percent = order.trailingPercent
        if isinstance(percent, float | Decimal) and 0 < percent < Decimal("1e300"):
            order.trailingPercent = _plain(changes.trail)
        else:
            _check_price("trail", changes.trail)
            order.auxPrice = _plain(changes.trail)
    if changes.time_in_force is not None:
        order.tif, order.goodTillDate = _new_tif(order, changes.time_in_force.value)
    return order


def _new_tif(order: Any, tif: str) -> tuple[str, str]:
    """IB's ``tif`` and ``goodTillDate`` of ``order`` changed to the core's ``tif``."""
    if (tif == "cls") != (str(order.orderType) in _AT_CLOSE):
        raise InvalidOrderError(
            "at IB an at-close order is an order type of its own (MOC, LOC): to change "
            "to or from time in force 'cls', cancel the order and place it anew"
        )
    if tif == "gtd":
        if str(order.tif).upper() != "GTD" or not order.goodTillDate:
            raise InvalidOrderError(
                "a change carries no expiry: to make an order good-till-date at IB, cancel "
                "it and place a gtd order with expire_at"
            )
        return "GTD", str(order.goodTillDate)
    return _TIFS[tif], ""
