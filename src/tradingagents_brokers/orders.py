"""Order requests (what a caller asks for) and orders (what a broker reports).

An :class:`OrderRequest` validates itself when it is built: any instance that
exists is well-formed (step 1 of the order path, DESIGN §5). Every problem raises
:class:`~tradingagents_brokers.errors.InvalidOrderError` with a sentence saying
what to fix. Whether a given broker supports the request (order type, fractional
quantity, ...) is checked later against its capabilities.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import unicodedata
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import attrs

from ._numbers import (
    broker_decimal,
    clip,
    decimal_places,
    format_decimal,
    parse_datetime,
    to_decimal,
)
from ._serialize import to_json
from .enums import OrderClass, OrderSide, OrderStatus, OrderType, TimeInForce
from .errors import InvalidOrderError

__all__ = [
    "ORDER_FIELDS",
    "Order",
    "OrderChanges",
    "OrderRequest",
    "StopLoss",
    "TakeProfit",
    "normalize_symbol",
]

#: Field names of the order contract (DESIGN §4), in order.
ORDER_FIELDS = (
    "order_id",
    "client_order_id",
    "status",
    "symbol",
    "side",
    "qty",
    "notional",
    "filled_qty",
    "order_type",
    "limit_price",
    "stop_price",
    "filled_avg_price",
    "time_in_force",
    "submitted_at",
    "filled_at",
    "extended_hours",
)

#: The most decimal places a request may carry. Prices are loose enough for ticks of
#: 1e-8 (crypto); the gate then applies the broker's own rules (its instruments' ticks
#: and lots, or 4 places for a price: ``safety/instruments.py``).
MAX_QTY_PLACES = 9
MAX_NOTIONAL_PLACES = 2
MAX_PRICE_PLACES = 10
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9./-]{0,20}$")
_CLIENT_ORDER_ID = re.compile(r"^[\x21-\x7e]{1,128}$")

E = TypeVar("E", bound=Enum)
L = TypeVar("L")


def normalize_symbol(value: Any) -> str:
    """Upper-case, trimmed ASCII ticker.

    Look-alike letters (a Cyrillic or fullwidth 'A') are refused, not folded.
    """
    if not isinstance(value, str):
        raise InvalidOrderError(f"symbol must be text like 'AAPL', got {type(value).__name__}")
    text = value.strip().upper()
    if not text:
        raise InvalidOrderError("symbol is empty; give a ticker like 'AAPL'")
    if not text.isascii():
        strange = [ch for ch in text[:200] if not ch.isascii()]
        odd = ", ".join(f"{ch!r} ({unicodedata.name(ch, 'unnamed')})" for ch in strange[:3])
        raise InvalidOrderError(
            f"symbol {clip(value)} contains non-ASCII characters: {odd}; "
            "type the ticker in plain ASCII",
            details={"symbol": clip(value)},
        )
    if not _SYMBOL.match(text):
        raise InvalidOrderError(
            f"symbol {clip(value)} is not a ticker: use letters, digits, '.', '/' or '-' "
            "(at most 21)",
            details={"symbol": clip(value)},
        )
    return text


def _enum(value: Any, kind: type[E], field: str) -> E:
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value.strip().lower())
        except ValueError:
            pass
    accepted = ", ".join(str(m.value) for m in kind)
    raise InvalidOrderError(
        f"{field} {value!r} is not valid; use one of: {accepted}", details={field: str(value)}
    )


def _side(value: Any) -> OrderSide:
    return _enum(value, OrderSide, "side")


def _order_type(value: Any) -> OrderType:
    return _enum(value, OrderType, "order_type")


def _tif(value: Any) -> TimeInForce:
    return _enum(value, TimeInForce, "time_in_force")


def _opt_tif(value: Any) -> TimeInForce | None:
    return None if value is None else _tif(value)


def _order_class(value: Any) -> OrderClass:
    return _enum(value, OrderClass, "order_class")


def _order_number(value: Any, field: str) -> Decimal | None:
    if value is None:
        return None
    return to_decimal(value, field, InvalidOrderError)


def _qty(value: Any) -> Decimal | None:
    return _order_number(value, "qty")


def _notional(value: Any) -> Decimal | None:
    return _order_number(value, "notional")


def _limit_price(value: Any) -> Decimal | None:
    return _order_number(value, "limit_price")


def _stop_price(value: Any) -> Decimal | None:
    return _order_number(value, "stop_price")


def _trail_price(value: Any) -> Decimal | None:
    return _order_number(value, "trail_price")


def _trail_percent(value: Any) -> Decimal | None:
    return _order_number(value, "trail_percent")


def _trail(value: Any) -> Decimal | None:
    return _order_number(value, "trail")


def _tp_limit(value: Any) -> Decimal | None:
    return _order_number(value, "take_profit.limit_price")


def _sl_stop(value: Any) -> Decimal | None:
    return _order_number(value, "stop_loss.stop_price")


def _sl_limit(value: Any) -> Decimal | None:
    return _order_number(value, "stop_loss.limit_price")


def _positive(field: str, value: Decimal | None, places: int) -> None:
    if value is None:
        return
    if value <= 0:
        raise InvalidOrderError(f"{field} must be greater than zero, got {format_decimal(value)}")
    if decimal_places(value) > places:
        raise InvalidOrderError(
            f"{field} {format_decimal(value)} has more than {places} decimal places; round it"
        )


@attrs.frozen
class TakeProfit:
    """The take-profit leg of a bracket, OCO or OTO order."""

    limit_price: Decimal = attrs.field(converter=_tp_limit)

    def __attrs_post_init__(self) -> None:
        _positive("take_profit.limit_price", self.limit_price, MAX_PRICE_PLACES)


@attrs.frozen
class StopLoss:
    """The stop-loss leg of a bracket, OCO or OTO order.

    A stop order, or a stop-limit order when ``limit_price`` is set.
    """

    stop_price: Decimal = attrs.field(converter=_sl_stop)
    limit_price: Decimal | None = attrs.field(default=None, converter=_sl_limit)

    def __attrs_post_init__(self) -> None:
        _positive("stop_loss.stop_price", self.stop_price, MAX_PRICE_PLACES)
        _positive("stop_loss.limit_price", self.limit_price, MAX_PRICE_PLACES)


def _leg(value: Any, kind: type[L]) -> L | None:
    if value is None or isinstance(value, kind):
        return value
    if isinstance(value, dict):
        try:
            return kind(**value)
        except TypeError as exc:
            raise InvalidOrderError(f"{kind.__name__}: {exc}") from None
    raise InvalidOrderError(f"{kind.__name__} must be a mapping of prices, got {value!r}")


def _take_profit(value: Any) -> TakeProfit | None:
    return _leg(value, TakeProfit)


def _stop_loss(value: Any) -> StopLoss | None:
    return _leg(value, StopLoss)


def _client_order_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _CLIENT_ORDER_ID.match(value):
        raise InvalidOrderError(
            "client_order_id must be 1 to 128 printable ASCII characters without spaces"
        )
    return value


def _expire_at(value: Any) -> dt.datetime | None:
    if isinstance(value, str) and len(value) > 64:
        raise InvalidOrderError(f"expire_at must be an ISO-8601 timestamp, got {clip(value)}")
    try:
        return parse_datetime(value, "expire_at")
    except (ValueError, OverflowError):
        raise InvalidOrderError(
            f"expire_at must be an ISO-8601 timestamp such as 2027-01-15T20:00:00Z, "
            f"got {clip(value)}"
        ) from None


_PRICES_BY_TYPE: dict[OrderType, tuple[bool, bool]] = {
    # order type: (needs limit_price, needs stop_price)
    OrderType.MARKET: (False, False),
    OrderType.LIMIT: (True, False),
    OrderType.STOP: (False, True),
    OrderType.STOP_LIMIT: (True, True),
    OrderType.TRAILING_STOP: (False, False),
}


@attrs.frozen(kw_only=True)
class OrderRequest:
    """A validated request to place one order.

    >>> OrderRequest(symbol="aapl", side="buy", qty=10).symbol
    'AAPL'
    >>> OrderRequest(symbol="AAPL", side="buy", qty=10, notional=100)
    Traceback (most recent call last):
    ...
    tradingagents_brokers.errors.InvalidOrderError: give either qty or notional, not both
    """

    symbol: str = attrs.field(converter=normalize_symbol)
    side: OrderSide = attrs.field(converter=_side)
    qty: Decimal | None = attrs.field(default=None, converter=_qty)
    notional: Decimal | None = attrs.field(default=None, converter=_notional)
    order_type: OrderType = attrs.field(default=OrderType.MARKET, converter=_order_type)
    time_in_force: TimeInForce = attrs.field(default=TimeInForce.DAY, converter=_tif)
    limit_price: Decimal | None = attrs.field(default=None, converter=_limit_price)
    stop_price: Decimal | None = attrs.field(default=None, converter=_stop_price)
    trail_price: Decimal | None = attrs.field(default=None, converter=_trail_price)
    trail_percent: Decimal | None = attrs.field(default=None, converter=_trail_percent)
    extended_hours: bool = attrs.field(default=False)
    order_class: OrderClass = attrs.field(default=OrderClass.SIMPLE, converter=_order_class)
    take_profit: TakeProfit | None = attrs.field(default=None, converter=_take_profit)
    stop_loss: StopLoss | None = attrs.field(default=None, converter=_stop_loss)
    client_order_id: str | None = attrs.field(default=None, converter=_client_order_id)
    #: When a ``gtd`` order expires (an aware time; naive means UTC). Only for ``gtd``.
    expire_at: dt.datetime | None = attrs.field(default=None, converter=_expire_at)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.extended_hours, bool):
            raise InvalidOrderError("extended_hours must be true or false")
        if (self.time_in_force is TimeInForce.GTD) != (self.expire_at is not None):
            raise InvalidOrderError(
                "a gtd order needs expire_at (when it expires), and only a gtd order takes it"
            )
        if (self.qty is None) == (self.notional is None):
            raise InvalidOrderError(
                "give either qty or notional, not both"
                if self.qty is not None
                else "give a quantity: qty (shares) or notional (dollars)"
            )
        _positive("qty", self.qty, MAX_QTY_PLACES)
        _positive("notional", self.notional, MAX_NOTIONAL_PLACES)
        for name in ("limit_price", "stop_price", "trail_price"):
            _positive(name, getattr(self, name), MAX_PRICE_PLACES)
        _positive("trail_percent", self.trail_percent, 2)
        self._check_prices()
        self._check_legs()

    def _check_prices(self) -> None:
        needs_limit, needs_stop = _PRICES_BY_TYPE[self.order_type]
        kind = self.order_type.value
        if needs_limit and self.limit_price is None:
            raise InvalidOrderError(f"a {kind} order needs limit_price")
        if needs_stop and self.stop_price is None:
            raise InvalidOrderError(f"a {kind} order needs stop_price")
        if not needs_limit and self.limit_price is not None:
            raise InvalidOrderError(f"a {kind} order takes no limit_price; use order_type='limit'")
        if not needs_stop and self.stop_price is not None:
            raise InvalidOrderError(f"a {kind} order takes no stop_price; use order_type='stop'")
        trailing = (self.trail_price, self.trail_percent)
        if self.order_type is OrderType.TRAILING_STOP:
            if sum(v is not None for v in trailing) != 1:
                raise InvalidOrderError(
                    "a trailing_stop order needs exactly one of trail_price or trail_percent"
                )
            if self.trail_percent is not None and self.trail_percent >= 100:
                raise InvalidOrderError("trail_percent must be below 100")
        elif any(v is not None for v in trailing):
            raise InvalidOrderError("trail_price and trail_percent belong to trailing_stop orders")

    def _check_legs(self) -> None:
        cls = self.order_class
        legs = (self.take_profit is not None, self.stop_loss is not None)
        if cls is OrderClass.SIMPLE and any(legs):
            raise InvalidOrderError(
                "take_profit and stop_loss need order_class 'bracket', 'oco' or 'oto'"
            )
        if cls in (OrderClass.BRACKET, OrderClass.OCO) and not all(legs):
            raise InvalidOrderError(f"a {cls.value} order needs both take_profit and stop_loss")
        if cls is OrderClass.OTO and legs.count(True) != 1:
            raise InvalidOrderError("an oto order needs exactly one of take_profit or stop_loss")

    def with_client_order_id(self, client_order_id: str) -> OrderRequest:
        """This request with another client order id (the rest was checked when it was made)."""
        clone = copy.copy(self)
        object.__setattr__(clone, "client_order_id", _client_order_id(client_order_id))
        return clone

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the request (Decimals as strings, enums as their values)."""
        return {
            field.name: to_json(getattr(self, field.name)) for field in attrs.fields(OrderRequest)
        }


def _opt_dec(value: Any) -> Decimal | None:
    """A broker's optional number (None or "" mean absent)."""
    if value is None or value == "":
        return None
    return broker_decimal(value, "a number from the broker")


def _dec0(value: Any) -> Decimal:
    """A broker's number where absence means zero (filled_qty)."""
    return _opt_dec(value) or Decimal(0)


def _time(value: Any) -> dt.datetime | None:
    return parse_datetime(value, "a timestamp from the broker")


@attrs.frozen(kw_only=True)
class Order:
    """An order as the broker reports it. ``to_dict()`` gives the order contract's fields."""

    order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide = attrs.field(converter=OrderSide)
    order_type: OrderType = attrs.field(converter=OrderType)
    time_in_force: TimeInForce = attrs.field(converter=TimeInForce)
    status: OrderStatus = attrs.field(converter=OrderStatus)
    qty: Decimal | None = attrs.field(default=None, converter=_opt_dec)
    notional: Decimal | None = attrs.field(default=None, converter=_opt_dec)
    filled_qty: Decimal = attrs.field(default=Decimal(0), converter=_dec0)
    limit_price: Decimal | None = attrs.field(default=None, converter=_opt_dec)
    stop_price: Decimal | None = attrs.field(default=None, converter=_opt_dec)
    filled_avg_price: Decimal | None = attrs.field(default=None, converter=_opt_dec)
    submitted_at: dt.datetime | None = attrs.field(default=None, converter=_time)
    filled_at: dt.datetime | None = attrs.field(default=None, converter=_time)
    canceled_at: dt.datetime | None = attrs.field(default=None, converter=_time)
    trail_price: Decimal | None = attrs.field(default=None, converter=_opt_dec)
    trail_percent: Decimal | None = attrs.field(default=None, converter=_opt_dec)
    extended_hours: bool = False
    order_class: OrderClass = attrs.field(default=OrderClass.SIMPLE, converter=OrderClass)
    replaced_by: str | None = None
    replaces: str | None = None
    expire_at: dt.datetime | None = attrs.field(default=None, converter=_time)

    def to_dict(self) -> dict[str, Any]:
        return {name: to_json(getattr(self, name)) for name in ORDER_FIELDS}


@attrs.frozen(kw_only=True)
class OrderChanges:
    """The fields a replace may change. Unset fields keep their current value."""

    qty: Decimal | None = attrs.field(default=None, converter=_qty)
    limit_price: Decimal | None = attrs.field(default=None, converter=_limit_price)
    stop_price: Decimal | None = attrs.field(default=None, converter=_stop_price)
    trail: Decimal | None = attrs.field(default=None, converter=_trail)
    time_in_force: TimeInForce | None = attrs.field(
        default=None,
        converter=_opt_tif,
    )
    client_order_id: str | None = attrs.field(default=None, converter=_client_order_id)

    def __attrs_post_init__(self) -> None:
        _positive("qty", self.qty, MAX_QTY_PLACES)
        for name in ("limit_price", "stop_price", "trail"):
            _positive(name, getattr(self, name), MAX_PRICE_PLACES)
        if all(
            getattr(self, f.name) is None
            for f in attrs.fields(OrderChanges)
            if f.name != "client_order_id"
        ):
            raise InvalidOrderError(
                "a replace must change something: "
                "qty, limit_price, stop_price, trail or time_in_force"
            )

    def to_dict(self) -> dict[str, Any]:
        return {f.name: to_json(getattr(self, f.name)) for f in attrs.fields(OrderChanges)}
