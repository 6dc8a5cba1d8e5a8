"""Positions, accounts and the other things a broker reports, plus broker capabilities.

All are frozen ``attrs`` classes holding ``Decimal`` money. Plugins build them from
their broker's wire data; the converters accept strings, ints and Decimals (the
shapes brokers send) and refuse non-finite numbers. ``to_dict()`` returns the
contract's field names (DESIGN §4) with JSON-safe values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from ._numbers import broker_decimal, parse_datetime
from ._serialize import to_json
from .enums import OrderClass, OrderType, PositionSide, TimeInForce
from .orders import Order

__all__ = [
    "ACCOUNT_FIELDS",
    "POSITION_FIELDS",
    "REPLACE_FIELDS",
    "Account",
    "Asset",
    "BrokerCapabilities",
    "Clock",
    "ClosePositionResult",
    "Instrument",
    "PortfolioHistory",
    "Position",
    "Quote",
]

POSITION_FIELDS = (
    "symbol",
    "qty",
    "avg_entry_price",
    "current_price",
    "market_value",
    "cost_basis",
    "unrealized_pl",
    "unrealized_plpc",
    "side",
    "exchange",
)

ACCOUNT_FIELDS = (
    "account_number",
    "status",
    "currency",
    "buying_power",
    "cash",
    "portfolio_value",
    "equity",
    "last_equity",
    "long_market_value",
    "short_market_value",
    "initial_margin",
    "maintenance_margin",
    "daytrade_count",
    "daytrading_buying_power",
)


def _num(value: Any) -> Decimal:
    return broker_decimal(value, "a number from the broker")


def _opt_num(value: Any) -> Decimal | None:
    return None if value is None or value == "" else _num(value)


def _opt_currency(value: Any) -> str | None:
    """A currency code from the broker (``USD``, ``USDT``): letters and digits, upper case."""
    if value is None or value == "":
        return None
    text = str(value).strip().upper()
    if not (1 <= len(text) <= 12 and text.isascii() and text.isalnum()):
        raise ValueError("a currency code is 1 to 12 letters or digits")
    return text


def _account_currency(value: Any) -> str:
    """An account's currency: a code from the broker, ``USD`` when it reports none."""
    return _opt_currency(value) or "USD"


def _time(value: Any) -> dt.datetime | None:
    return parse_datetime(value, "a timestamp from the broker")


def _req_time(value: Any) -> dt.datetime:
    parsed = _time(value)
    if parsed is None:
        raise ValueError("a timestamp is required")
    return parsed


def _times(values: Iterable[Any]) -> tuple[dt.datetime, ...]:
    return tuple(_req_time(v) for v in values)


def _numbers(values: Iterable[Any]) -> tuple[Decimal, ...]:
    return tuple(_num(v) for v in values)


def _opt_numbers(values: Iterable[Any]) -> tuple[Decimal | None, ...]:
    return tuple(_opt_num(v) for v in values)


def _pick(obj: Any, names: Iterable[str]) -> dict[str, Any]:
    return {name: to_json(getattr(obj, name)) for name in names}


@attrs.frozen(kw_only=True)
class Position:
    """An open position. ``qty`` is negative for a short position."""

    symbol: str
    qty: Decimal = attrs.field(converter=_num)
    #: None when the broker keeps no entry price (crypto exchanges hold balances).
    avg_entry_price: Decimal | None = attrs.field(default=None, converter=_opt_num)
    current_price: Decimal | None = attrs.field(default=None, converter=_opt_num)
    market_value: Decimal | None = attrs.field(default=None, converter=_opt_num)
    cost_basis: Decimal = attrs.field(converter=_num)
    unrealized_pl: Decimal | None = attrs.field(default=None, converter=_opt_num)
    unrealized_plpc: Decimal | None = attrs.field(default=None, converter=_opt_num)
    side: PositionSide = attrs.field(default=PositionSide.LONG, converter=PositionSide)
    exchange: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _pick(self, POSITION_FIELDS)


@attrs.frozen(kw_only=True)
class Account:
    """Balances of one trading account.

    The day-trading fields are optional: brokers are dropping them.
    """

    account_number: str
    status: str
    currency: str = attrs.field(default="USD", converter=_account_currency)
    buying_power: Decimal = attrs.field(converter=_num)
    cash: Decimal = attrs.field(converter=_num)
    portfolio_value: Decimal = attrs.field(converter=_num)
    equity: Decimal = attrs.field(converter=_num)
    #: The equity at the previous close; None when the broker does not report it.
    last_equity: Decimal | None = attrs.field(default=None, converter=_opt_num)
    long_market_value: Decimal = attrs.field(default=Decimal(0), converter=_num)
    short_market_value: Decimal = attrs.field(default=Decimal(0), converter=_num)
    initial_margin: Decimal = attrs.field(default=Decimal(0), converter=_num)
    maintenance_margin: Decimal = attrs.field(default=Decimal(0), converter=_num)
    daytrade_count: int | None = None
    daytrading_buying_power: Decimal | None = attrs.field(default=None, converter=_opt_num)

    def to_dict(self) -> dict[str, Any]:
        return _pick(self, ACCOUNT_FIELDS)


@attrs.frozen(kw_only=True)
class PortfolioHistory:
    """Equity over time: parallel lists, oldest first."""

    timestamps: tuple[dt.datetime, ...] = attrs.field(converter=_times)
    equity: tuple[Decimal, ...] = attrs.field(converter=_numbers)
    profit_loss: tuple[Decimal, ...] = attrs.field(converter=_numbers)
    profit_loss_pct: tuple[Decimal | None, ...] = attrs.field(converter=_opt_numbers)
    base_value: Decimal | None = attrs.field(default=None, converter=_opt_num)
    timeframe: str = "1D"

    def __attrs_post_init__(self) -> None:
        lengths = {len(self.timestamps), len(self.equity), len(self.profit_loss)}
        lengths.add(len(self.profit_loss_pct))
        if len(lengths) != 1:
            raise ValueError("portfolio history series must all have the same length")

    def to_dict(self) -> dict[str, Any]:
        return _pick(
            self,
            ("timestamps", "equity", "profit_loss", "profit_loss_pct", "base_value", "timeframe"),
        )


@attrs.frozen(kw_only=True)
class Clock:
    """The market clock: is the market open now, and when it next opens and closes."""

    timestamp: dt.datetime = attrs.field(converter=_req_time)
    is_open: bool
    next_open: dt.datetime | None = attrs.field(default=None, converter=_time)
    next_close: dt.datetime | None = attrs.field(default=None, converter=_time)

    def to_dict(self) -> dict[str, Any]:
        return _pick(self, ("timestamp", "is_open", "next_open", "next_close"))


@attrs.frozen(kw_only=True)
class Asset:
    """What the broker allows for a symbol."""

    symbol: str
    tradable: bool
    fractionable: bool = False
    shortable: bool = False
    exchange: str = ""
    asset_class: str = "us_equity"

    def to_dict(self) -> dict[str, Any]:
        return _pick(
            self, ("symbol", "tradable", "fractionable", "shortable", "exchange", "asset_class")
        )


def _opt_positive(value: Any) -> Decimal | None:
    number = _opt_num(value)
    if number is not None and number <= 0:
        raise ValueError(f"an instrument's steps and minimums must be positive, got {number}")
    return number


@attrs.frozen(kw_only=True)
class Instrument:
    """One symbol's trading rules at the broker; every rule is optional.

    ``tick_size``: prices are whole multiples of it. ``lot_size``: quantities are
    whole multiples of it. ``min_qty`` and ``min_notional``: the smallest quantity
    and order value taken. ``quote_currency``: the currency prices are in.
    """

    symbol: str
    tick_size: Decimal | None = attrs.field(default=None, converter=_opt_positive)
    lot_size: Decimal | None = attrs.field(default=None, converter=_opt_positive)
    min_qty: Decimal | None = attrs.field(default=None, converter=_opt_positive)
    min_notional: Decimal | None = attrs.field(default=None, converter=_opt_positive)
    quote_currency: str | None = attrs.field(default=None, converter=_opt_currency)

    def to_dict(self) -> dict[str, Any]:
        return _pick(
            self,
            ("symbol", "tick_size", "lot_size", "min_qty", "min_notional", "quote_currency"),
        )


@attrs.frozen(kw_only=True)
class Quote:
    """A reference price and when it was observed. ``source`` says where it came from."""

    symbol: str
    price: Decimal = attrs.field(converter=_num)
    as_of: dt.datetime = attrs.field(converter=_req_time)
    source: str = ""

    def __attrs_post_init__(self) -> None:
        if self.price <= 0:
            raise ValueError(f"a quote price must be positive, got {self.price}")

    def to_dict(self) -> dict[str, Any]:
        return _pick(self, ("symbol", "price", "as_of", "source"))


@attrs.frozen(kw_only=True)
class ClosePositionResult:
    """One symbol's outcome in a close-all: the closing order, or the error that stopped it."""

    symbol: str
    ok: bool
    order: Order | None = None
    error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "ok": self.ok,
            "order": self.order.to_dict() if self.order else None,
            "error": self.error,
        }


def _order_types(values: Iterable[Any]) -> frozenset[OrderType]:
    return frozenset(OrderType(v) for v in values)


def _tifs(values: Iterable[Any]) -> frozenset[TimeInForce]:
    return frozenset(TimeInForce(v) for v in values)


def _classes(values: Iterable[Any]) -> frozenset[OrderClass]:
    return frozenset(OrderClass(v) for v in values)


def _opt_tif(value: Any) -> TimeInForce | None:
    return None if value is None else TimeInForce(value)


def _tif_by_type(values: Mapping[Any, Iterable[Any]]) -> dict[OrderType, frozenset[TimeInForce]]:
    return {OrderType(k): _tifs(v) for k, v in dict(values).items()}


#: The fields a replace can change (``OrderChanges``, without its client order id).
REPLACE_FIELDS = frozenset({"qty", "limit_price", "stop_price", "trail", "time_in_force"})


def _replace_fields(values: Iterable[Any]) -> frozenset[str]:
    fields = frozenset(str(v) for v in values)
    unknown = sorted(fields - REPLACE_FIELDS)
    if unknown:
        raise ValueError(
            f"replace_fields {unknown} are not fields a replace changes; "
            f"choose from {sorted(REPLACE_FIELDS)}"
        )
    return fields


@attrs.frozen(kw_only=True)
class BrokerCapabilities:
    """What a broker type supports. The gate refuses requests outside these before sending."""

    order_types: frozenset[OrderType] = attrs.field(
        default=frozenset({OrderType.MARKET, OrderType.LIMIT}),
        converter=_order_types,
    )
    time_in_force: frozenset[TimeInForce] = attrs.field(
        default=frozenset({TimeInForce.DAY, TimeInForce.GTC}),
        converter=_tifs,
    )
    order_classes: frozenset[OrderClass] = attrs.field(
        default=frozenset({OrderClass.SIMPLE}), converter=_classes
    )
    fractional: bool = False
    notional: bool = False
    short_selling: bool = False
    extended_hours: bool = False
    replace: bool = True
    #: The broker can stream its order updates (``subscribe_order_updates``).
    order_updates: bool = False
    #: The broker can stream trades of the symbols it is asked for (``subscribe_quotes``).
    quote_updates: bool = False
    #: The broker keeps a history of the account's equity (``get_portfolio_history``).
    portfolio_history: bool = True
    #: The broker refuses a second order with a client order id it already has. Without
    #: it the core sends an order again only after a look-up said "not found".
    unique_client_order_ids: bool = True
    #: The fields a replace may change at this broker; the gate refuses the others.
    replace_fields: frozenset[str] = attrs.field(default=REPLACE_FIELDS, converter=_replace_fields)
    #: The broker gives each symbol's tick, lot and minimums (``get_instrument``); the
    #: gate applies them before anything is journaled.
    instruments: bool = False
    #: The market never closes (crypto): ``get_clock`` says open, without next open or close.
    always_open: bool = False
    #: The time in force an order gets when it names none (None: ``day``).
    default_time_in_force: TimeInForce | None = attrs.field(default=None, converter=_opt_tif)
    #: The time in force values each order type takes; a type not named takes any of
    #: ``time_in_force``.
    time_in_force_by_type: Mapping[OrderType, frozenset[TimeInForce]] = attrs.field(
        factory=dict, converter=_tif_by_type, hash=False
    )

    def __attrs_post_init__(self) -> None:
        chosen = self.default_time_in_force
        if chosen is not None and chosen not in self.time_in_force:
            raise ValueError(f"default_time_in_force {chosen.value!r} is not one of time_in_force")

    @property
    def order_time_in_force(self) -> TimeInForce:
        """The time in force of an order that names none: the default, else ``day``."""
        return self.default_time_in_force or TimeInForce.DAY

    def time_in_force_for(self, order_type: OrderType) -> frozenset[TimeInForce]:
        """The time in force values an order of ``order_type`` may have."""
        return self.time_in_force_by_type.get(order_type, self.time_in_force)

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_types": sorted(t.value for t in self.order_types),
            "time_in_force": sorted(t.value for t in self.time_in_force),
            "order_classes": sorted(c.value for c in self.order_classes),
            "fractional": self.fractional,
            "notional": self.notional,
            "short_selling": self.short_selling,
            "extended_hours": self.extended_hours,
            "replace": self.replace,
            "order_updates": self.order_updates,
            "quote_updates": self.quote_updates,
            "portfolio_history": self.portfolio_history,
            "unique_client_order_ids": self.unique_client_order_ids,
            "replace_fields": sorted(self.replace_fields),
            "instruments": self.instruments,
            "always_open": self.always_open,
            "default_time_in_force": self.order_time_in_force.value,
            "time_in_force_by_type": {
                t.value: sorted(f.value for f in tifs)
                for t, tifs in sorted(self.time_in_force_by_type.items())
            },
        }
