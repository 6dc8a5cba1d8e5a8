"""IB's data, read defensively into the core's Decimal models.

ib_async hands over floats, with two kinds of "no value": IB's unset sentinel
(``UNSET_DOUBLE`` = 1.7976931348623157e308, ``UNSET_INTEGER`` = 2**31 - 1) and
``nan`` (tickers). Numbers enter the core through their shortest text
(``repr``), so 190.1 stays ``Decimal("190.1")``; an unset or NaN value is absent
where absence is allowed and an error where a number is required, and infinity
is always an error. Statuses and order types IB may add tomorrow map to a known
fallback and are logged once, never a crash after an order was accepted.

A ``GTD`` order is the core's ``gtd`` with ``expire_at`` read from its
``goodTillDate`` (:func:`expiry`). A ``goodTillDate`` that does not name its time
zone, or cannot be read, leaves ``expire_at`` empty (logged once): the order is
still reported as ``gtd``, never as an order that lives longer than it does.

Objects are read by attribute (ib_async's ``Trade``, ``Position``,
``AccountValue``, ``Ticker``), so this module does not import ib_async.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tradingagents_brokers import Account, BrokerAPIError, Order, Position, Quote

from .errors import CANCEL_CONFIRMED, CANCEL_REFUSED, is_rejection

__all__ = [
    "UNSET_DOUBLE",
    "UNSET_INTEGER",
    "core_status",
    "core_symbol",
    "expiry",
    "filled_qty",
    "ib_status",
    "ib_symbol",
    "number",
    "optional_number",
    "quantity",
    "rejection",
    "to_account",
    "to_order",
    "to_position",
    "to_quote",
]

log = logging.getLogger("tradingagents.broker.ibkr")
_warned: set[tuple[str, str]] = set()

UNSET_DOUBLE = 1.7976931348623157e308
UNSET_INTEGER = 2**31 - 1
#: How old IB's delayed market data is (minutes), when a tick carries no time.
DELAY = dt.timedelta(minutes=15)

_ORDER_TYPES = {
    "MKT": "market",
    "MOC": "market",
    "MIT": "market",
    "LMT": "limit",
    "LOC": "limit",
    "LIT": "limit",
    "STP": "stop",
    "STP LMT": "stop_limit",
    "TRAIL": "trailing_stop",
    "TRAIL LIMIT": "trailing_stop",
}
_TIFS = {
    "DAY": "day",
    "GTC": "gtc",
    "IOC": "ioc",
    "FOK": "fok",
    "OPG": "opg",
    "DTC": "day",
    "GTD": "gtd",
}
_AT_CLOSE = {"MOC", "LOC"}
_DONE = ("Cancelled", "ApiCancelled", "Inactive")


def _warn_once(what: str, value: Any, fallback: str) -> None:
    key = (what, str(value))
    if key not in _warned:
        _warned.add(key)
        log.warning("IB sent %s %r, which this plugin maps to %r", what, value, fallback)


# -- numbers -----------------------------------------------------------------------------


def optional_number(value: Any, what: str) -> Decimal | None:
    """A number from IB, or None when IB says "no value" (unset, NaN, empty)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BrokerAPIError(f"IB sent {what}={value!r}, not a number")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        if value == UNSET_INTEGER:
            return None
        result = Decimal(value)
    elif isinstance(value, float):
        if math.isinf(value):
            raise BrokerAPIError(f"IB sent {what}={value!r}, which is not a finite number")
        if math.isnan(value) or value >= UNSET_DOUBLE:
            return None
        result = Decimal(repr(value))
    else:
        try:
            result = Decimal(str(value).strip())
        except ArithmeticError:
            raise BrokerAPIError(f"IB sent {what}={value!r}, not a number") from None
        if result.is_nan() or (result.is_finite() and result >= Decimal(repr(UNSET_DOUBLE))):
            return None
    if not result.is_finite():
        raise BrokerAPIError(f"IB sent {what}={value!r}, which is not a finite number")
    return result


def number(value: Any, what: str) -> Decimal:
    """A number IB must have sent: unset, NaN and infinity are errors."""
    result = optional_number(value, what)
    if result is None:
        raise BrokerAPIError(f"IB sent no value for {what} ({value!r})")
    return result


def quantity(value: Any, what: str) -> Decimal:
    """A quantity: IB sends ``1.0`` for one share; the core gets ``1``."""
    result = number(value, what)
    return result.quantize(Decimal(1)) if result == result.to_integral_value() else result


def _positive(value: Any, what: str) -> Decimal | None:
    """A price IB reports, where zero also means "none" (avgFillPrice before a fill)."""
    result = optional_number(value, what)
    return result if result else None


# -- symbols -----------------------------------------------------------------------------


def ib_symbol(symbol: str) -> str:
    """IB writes share classes with a space: the core's ``BRK.B`` is IB's ``BRK B``."""
    return symbol.replace(".", " ")


def core_symbol(symbol: str) -> str:
    return str(symbol).strip().replace(" ", ".")


# -- orders ------------------------------------------------------------------------------


def ib_status(trade: Any) -> str:
    """IB's last real status of ``trade``.

    ib_async overwrites the status with ``ValidationError`` when TWS sends a
    warning about a live order, with ``Cancelled`` when TWS refuses a cancel
    (the order is filled, or not cancellable yet), and with ``Cancelled`` when TWS
    refuses a change of a live order (an error right after ib_async's ``Modify``
    entry: the order keeps its old terms); the status before is the real one.
    """
    status = str(trade.orderStatus.status or "")
    last = trade.log[-1] if trade.log else None
    overwritten = status == "ValidationError" or (
        last is not None
        and last.status == status
        and (_code(last) in CANCEL_REFUSED or _refused_change(trade.log))
    )
    if not overwritten:
        return status or "PendingSubmit"
    for entry in reversed(trade.log):
        code = _code(entry)
        if entry.status not in ("", "ValidationError") and (not code or code == CANCEL_CONFIRMED):
            return str(entry.status)
    return "PendingSubmit"


def _refused_change(log: list[Any]) -> bool:
    """Whether the log ends in errors that refused ib_async's last ``Modify`` of the order."""
    for entry in reversed(log):
        code = _code(entry)
        if not (code and is_rejection(code)):
            return bool(entry.message == "Modify" and not code)
    return False


def _code(entry: Any) -> int:
    return int(entry.errorCode or 0)


def rejection(trade: Any) -> tuple[int, str] | None:
    """The error code and text with which IB refused or dropped ``trade``, if it did."""
    for entry in reversed(trade.log):
        code = _code(entry)
        if code and is_rejection(code):
            return code, str(entry.message)
    return None


def filled_qty(trade: Any) -> Decimal:
    """The order's filled quantity: the largest of its status, its executions' and IB's own."""
    values = [optional_number(trade.orderStatus.filled, "filled") or Decimal(0)]
    values.append(
        optional_number(getattr(trade.order, "filledQuantity", None), "filled") or Decimal(0)
    )
    values.extend(
        optional_number(fill.execution.cumQty, "cumQty") or Decimal(0) for fill in trade.fills
    )
    values.append(sum((number(f.execution.shares, "shares") for f in trade.fills), Decimal(0)))
    most = max(Decimal(value) for value in values)
    return most.quantize(Decimal(1)) if most == most.to_integral_value() else most


def core_status(trade: Any) -> str:
    """The core's status for ``trade`` (see docs/ibkr.md for the table)."""
    status = ib_status(trade)
    filled = filled_qty(trade)
    total = optional_number(trade.order.totalQuantity, "totalQuantity")
    if status == "Filled" or (total and filled >= total and status not in _DONE):
        return "filled"  # the executions say so before the status does
    if status in _DONE:
        refused = rejection(trade) is not None or status == "Inactive"
        return "rejected" if refused and not filled else "canceled"
    if status == "PendingCancel":
        return "pending_cancel"
    if status in ("PendingSubmit", "ApiPending"):
        return "pending_new"
    if status in ("PreSubmitted", "Submitted"):
        if filled:
            return "partially_filled"
        return "new" if status == "Submitted" else "accepted"
    _warn_once("order status", status, "unknown")
    return "unknown"


def _order_type(ib_type: str, has_limit: bool) -> str:
    kind = _ORDER_TYPES.get(ib_type)
    if kind is None:
        kind = "limit" if has_limit else "market"
        _warn_once("order type", ib_type, kind)
    return kind


def _tif(order: Any) -> str:
    if order.orderType in _AT_CLOSE:
        return "cls"
    tif = str(order.tif or "DAY").upper()
    if tif not in _TIFS:
        _warn_once("time in force", tif, "day")
    return _TIFS.get(tif, "day")


#: IB's date-times: ``YYYYMMDD-HH:MM:SS`` (UTC), or either separator and a time zone.
_IB_TIME = re.compile(r"(\d{8})([- ])(\d{2}):(\d{2})(?::(\d{2}))?(?:\s+(\S+))?")


def expiry(value: Any) -> dt.datetime | None:
    """A ``goodTillDate`` as an aware UTC time, or None when it cannot be known.

    IB reads ``YYYYMMDD-HH:MM:SS`` as UTC and a time followed by a zone
    (``20270115 15:00:00 US/Eastern``) in that zone. A time without a zone after
    a space is in the TWS login's own zone, and a bare date means "the close of
    that day": neither says when exactly, so they give None (logged once).
    """
    text = str(value or "").strip()
    if not text:
        return None
    found = _IB_TIME.fullmatch(text)
    try:
        if found is None:
            raise ValueError(text)
        day, separator, hour, minute, second, zone = found.groups()
        if zone is None and separator == " ":
            raise ValueError(text)  # the TWS login's time zone, which the API does not say
        tz = ZoneInfo(zone) if zone and (zone in ("UTC", "GMT") or "/" in zone) else None
        if zone and tz is None:
            raise ValueError(text)  # EST, CET...: abbreviations say no rule for summer time
        naive = dt.datetime.strptime(f"{day} {hour}:{minute}:{second or '00'}", "%Y%m%d %H:%M:%S")
        return naive.replace(tzinfo=tz or dt.UTC).astimezone(dt.UTC)
    except (ValueError, KeyError, OSError):  # zoneinfo: unknown zone (a KeyError), bad path
        _warn_once("goodTillDate", text, "no expire_at")
        return None


def _log_time(trade: Any, *statuses: str) -> dt.datetime | None:
    for entry in trade.log:
        if not statuses or entry.status in statuses:
            return _aware(entry.time)
    return None


def _aware(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime) or value.year < 1980:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _avg_fill(trade: Any) -> Decimal | None:
    price = _positive(trade.orderStatus.avgFillPrice, "avgFillPrice")
    if price is not None or not trade.fills:
        return price
    last = trade.fills[-1].execution
    return _positive(last.avgPrice, "avgPrice")


def order_id_of(trade: Any) -> str:
    """The core's id of an IB order: its permanent id, or client/order id before TWS gave one."""
    perm = int(trade.order.permId or trade.orderStatus.permId or 0)
    if perm:
        return str(perm)
    return f"{int(trade.order.clientId)}/{int(trade.order.orderId)}"


def to_order(trade: Any, *, order_class: str = "simple") -> Order:
    """An ib_async ``Trade`` as the core's :class:`Order`."""
    order = trade.order
    ib_type = str(order.orderType or "")
    limit = _positive(order.lmtPrice, "lmtPrice")
    aux = _positive(order.auxPrice, "auxPrice")
    kind = _order_type(ib_type, limit is not None)
    tif = _tif(order)
    percent = _positive(order.trailingPercent, "trailingPercent")
    status = core_status(trade)
    filled = filled_qty(trade)
    try:
        return Order(
            order_id=order_id_of(trade),
            client_order_id=str(order.orderRef or ""),
            symbol=core_symbol(trade.contract.symbol),
            side="sell" if str(order.action).upper() in ("SELL", "SSHORT") else "buy",
            order_type=kind,
            time_in_force=tif,
            status=status,
            qty=quantity(order.totalQuantity, "totalQuantity"),
            filled_qty=filled,
            limit_price=limit if kind in ("limit", "stop_limit") else None,
            stop_price=aux if kind in ("stop", "stop_limit") else None,
            trail_price=aux if kind == "trailing_stop" and percent is None else None,
            trail_percent=percent if kind == "trailing_stop" else None,
            filled_avg_price=_avg_fill(trade) if filled else None,
            submitted_at=_log_time(trade),
            filled_at=_fill_time(trade) if status == "filled" else None,
            canceled_at=_log_time(trade, "Cancelled") if status == "canceled" else None,
            extended_hours=bool(order.outsideRth),
            order_class=order_class,
            expire_at=expiry(order.goodTillDate) if tif == "gtd" else None,
        )
    except (ValueError, TypeError) as exc:
        raise BrokerAPIError(f"IB sent an order this plugin cannot read ({exc})") from None


def _fill_time(trade: Any) -> dt.datetime | None:
    if trade.fills:
        return _aware(trade.fills[-1].execution.time) or _aware(trade.fills[-1].time)
    return _log_time(trade, "Filled")


# -- positions and account ---------------------------------------------------------------


def to_position(position: Any, item: Any | None) -> Position:
    """An ib_async ``Position`` (quantity, average cost) with its ``PortfolioItem`` (prices)."""
    qty = quantity(position.position, "position")
    avg = number(position.avgCost, "avgCost")
    cost = avg * qty
    price = value = unrealized = None
    if item is not None:
        price = optional_number(item.marketPrice, "marketPrice")
        value = optional_number(item.marketValue, "marketValue")
        unrealized = optional_number(item.unrealizedPNL, "unrealizedPNL")
    plpc = None
    if unrealized is not None and cost:
        plpc = (unrealized / abs(cost)).quantize(Decimal("0.000001"))
    contract = item.contract if item is not None else position.contract
    return Position(
        symbol=core_symbol(contract.symbol),
        qty=qty,
        avg_entry_price=avg,
        current_price=price,
        market_value=value,
        cost_basis=cost,
        unrealized_pl=unrealized,
        unrealized_plpc=plpc,
        side="short" if qty < 0 else "long",
        exchange=str(contract.primaryExchange or contract.exchange or ""),
    )


#: The account fields and the IB account tags they come from, first found wins.
ACCOUNT_TAGS = {
    "portfolio_value": ("NetLiquidation",),
    "equity": ("NetLiquidation",),
    "cash": ("TotalCashValue",),
    "buying_power": ("BuyingPower",),
    "last_equity": ("PreviousDayEquityWithLoanValue", "NetLiquidation"),
    "initial_margin": ("InitMarginReq",),
    "maintenance_margin": ("MaintMarginReq",),
}


def to_account(account: str, values: Iterable[Any], items: Iterable[Any] = ()) -> Account:
    """The account's values (ib_async ``AccountValue``) as the core's :class:`Account`.

    Long and short market values are summed from the portfolio items' market
    values (``items``: ib_async ``PortfolioItem``); IB reports a net figure only.
    """
    found: dict[str, tuple[str, str]] = {}
    for item in values:
        if item.account == account and not item.modelCode and item.currency != "BASE":
            found.setdefault(item.tag, (item.value, item.currency))
    fields: dict[str, Any] = {}
    currency = ""
    for field, tags in ACCOUNT_TAGS.items():
        hit = next((found[tag] for tag in tags if tag in found), None)
        if hit is None:
            if field in ("initial_margin", "maintenance_margin"):
                continue
            raise BrokerAPIError(
                f"IB has not sent the account's {tags[0]} yet; try again in a moment"
            )
        fields[field] = number(hit[0], tags[0])
        currency = currency or hit[1]
    worth = [optional_number(i.marketValue, "marketValue") for i in items if i.account == account]
    return Account(
        account_number=account,
        status="ACTIVE",
        currency=currency or "USD",
        long_market_value=sum((v for v in worth if v is not None and v > 0), Decimal(0)),
        short_market_value=sum((v for v in worth if v is not None and v < 0), Decimal(0)),
        **fields,
    )


# -- quotes ------------------------------------------------------------------------------


def to_quote(symbol: str, ticker: Any, *, delayed: bool, now: dt.datetime) -> Quote | None:
    """The last trade of ``ticker`` as a :class:`Quote`, or None while it has none.

    Its time is the trade's (IB's last-timestamp tick); without one, the time the
    tick arrived for live data, and ``now`` less IB's 15-minute delay for delayed
    data, which the core's quote age check then judges.
    """
    price = optional_number(ticker.last, "last price")
    if price is None or price <= 0:
        return None
    at = _aware(getattr(ticker, "lastTimestamp", None)) or _aware(
        getattr(ticker, "delayedLastTimestamp", None)
    )
    if at is None:
        at = now - DELAY if delayed else (_aware(ticker.time) or now)
    source = "ibkr:delayed_last" if delayed else "ibkr:last"
    return Quote(symbol=symbol, price=price, as_of=at, source=source)
