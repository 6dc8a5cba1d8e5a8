"""Alpaca's JSON, read defensively into the core's Decimal models, and requests written to it.

Alpaca sends numbers as strings (sometimes as numbers), ``order_class: ""`` for
simple orders, fields that come and go (the day-trading fields left the account
in 2026), and new values now and then. Unknown statuses become ``unknown``; any
other unexpected value is logged once and mapped to the nearest known one, never
a crash after an order was accepted.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tradingagents_brokers import (
    Account,
    Asset,
    BrokerAPIError,
    Clock,
    InvalidOrderError,
    Order,
    OrderRequest,
    PortfolioHistory,
    Position,
    Quote,
)
from tradingagents_brokers._numbers import decimal_places, format_decimal

__all__ = [
    "exact",
    "order_body",
    "replace_body",
    "to_account",
    "to_asset",
    "to_clock",
    "to_order",
    "to_portfolio_history",
    "to_position",
    "to_quote",
    "validate_request",
]

log = logging.getLogger("tradingagents.broker.alpaca")
_warned: set[tuple[str, str]] = set()

_KNOWN = {
    "side": {"buy", "sell"},
    "order_type": {"market", "limit", "stop", "stop_limit", "trailing_stop"},
    "time_in_force": {"day", "gtc", "ioc", "fok", "opg", "cls"},
    "order_class": {"simple", "bracket", "oco", "oto"},
}
_FALLBACK = {"order_class": "simple"}


def exact(value: Any) -> Any:
    """JSON numbers arrive as floats; the core takes Decimals, so read them through their text."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return [exact(v) for v in value]
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    return value


def _warn_once(field: str, value: Any) -> None:
    key = (field, str(value))
    if key not in _warned:
        _warned.add(key)
        log.warning("Alpaca sent %s=%r, which this plugin does not know", field, value)


def _choice(data: Mapping[str, Any], field: str, *keys: str) -> str:
    raw = next((data[k] for k in (field, *keys) if data.get(k) not in (None, "")), None)
    value = str(raw).lower() if raw is not None else _FALLBACK.get(field, "")
    if value in _KNOWN[field]:
        return value
    _warn_once(field, raw)
    if field in _FALLBACK:
        return _FALLBACK[field]
    raise BrokerAPIError(f"Alpaca sent an order with {field}={raw!r}, which cannot be mapped")


def to_order(data: Mapping[str, Any]) -> Order:
    """An Alpaca order (``GET/POST /v2/orders``) as the core's :class:`Order`."""
    data = exact(data)
    try:
        return Order(
            order_id=str(data["id"]),
            client_order_id=str(data.get("client_order_id") or ""),
            symbol=str(data.get("symbol") or ""),
            side=_choice(data, "side"),
            order_type=_choice(data, "order_type", "type"),
            time_in_force=_choice(data, "time_in_force"),
            status=str(data.get("status") or "unknown"),
            qty=data.get("qty"),
            notional=data.get("notional"),
            filled_qty=data.get("filled_qty") or 0,
            limit_price=data.get("limit_price"),
            stop_price=data.get("stop_price"),
            filled_avg_price=data.get("filled_avg_price"),
            submitted_at=data.get("submitted_at") or data.get("created_at"),
            filled_at=data.get("filled_at"),
            canceled_at=data.get("canceled_at"),
            trail_price=data.get("trail_price"),
            trail_percent=data.get("trail_percent"),
            extended_hours=bool(data.get("extended_hours")),
            order_class=_choice(data, "order_class"),
            replaced_by=data.get("replaced_by"),
            replaces=data.get("replaces"),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise BrokerAPIError(f"Alpaca sent an order this plugin cannot read ({exc})") from None


def to_position(data: Mapping[str, Any]) -> Position:
    data = exact(data)
    side = str(data.get("side") or "long").lower()
    return Position(
        symbol=str(data["symbol"]),
        qty=data["qty"],
        avg_entry_price=data["avg_entry_price"],
        current_price=data.get("current_price"),
        market_value=data.get("market_value"),
        cost_basis=data.get("cost_basis") or 0,
        unrealized_pl=data.get("unrealized_pl"),
        unrealized_plpc=data.get("unrealized_plpc"),
        side=side if side in ("long", "short") else "long",
        exchange=str(data.get("exchange") or ""),
    )


def to_account(data: Mapping[str, Any]) -> Account:
    data = exact(data)
    count = data.get("daytrade_count")
    return Account(
        account_number=str(data.get("account_number") or data.get("id") or ""),
        status=str(data.get("status") or "UNKNOWN"),
        currency=str(data.get("currency") or "USD"),
        buying_power=data.get("buying_power") or 0,
        cash=data.get("cash") or 0,
        portfolio_value=data.get("portfolio_value") or data.get("equity") or 0,
        equity=data.get("equity") or 0,
        last_equity=data.get("last_equity") or 0,
        long_market_value=data.get("long_market_value") or 0,
        short_market_value=data.get("short_market_value") or 0,
        initial_margin=data.get("initial_margin") or 0,
        maintenance_margin=data.get("maintenance_margin") or 0,
        daytrade_count=None if count is None else int(count),
        daytrading_buying_power=data.get("daytrading_buying_power"),
    )


def to_portfolio_history(data: Mapping[str, Any]) -> PortfolioHistory:
    """Points with no equity value (Alpaca sends nulls for days without data) are left out."""
    data = exact(data)
    rows = zip(
        data.get("timestamp") or [],
        data.get("equity") or [],
        data.get("profit_loss") or [],
        data.get("profit_loss_pct") or [],
        strict=False,
    )
    kept = [(t, e, p, pct) for t, e, p, pct in rows if e is not None]
    return PortfolioHistory(
        timestamps=[_epoch(t) for t, _, _, _ in kept],
        equity=[e for _, e, _, _ in kept],
        profit_loss=[p if p is not None else 0 for _, _, p, _ in kept],
        profit_loss_pct=[pct for _, _, _, pct in kept],
        base_value=data.get("base_value"),
        timeframe=str(data.get("timeframe") or ""),
    )


def _epoch(value: Any) -> dt.datetime:
    """Alpaca documents epoch seconds; some bodies carry milliseconds. Both are read."""
    seconds = float(value)
    if seconds > 10**11:
        seconds /= 1000
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def to_clock(data: Mapping[str, Any]) -> Clock:
    data = exact(data)
    return Clock(
        timestamp=data["timestamp"],
        is_open=bool(data.get("is_open")),
        next_open=data.get("next_open"),
        next_close=data.get("next_close"),
    )


def to_asset(data: Mapping[str, Any]) -> Asset:
    data = exact(data)
    return Asset(
        symbol=str(data["symbol"]),
        tradable=bool(data.get("tradable")),
        fractionable=bool(data.get("fractionable")),
        shortable=bool(data.get("shortable")),
        exchange=str(data.get("exchange") or ""),
        asset_class=str(data.get("class") or data.get("asset_class") or "us_equity"),
    )


def to_quote(symbol: str, data: Mapping[str, Any]) -> Quote:
    """``GET /v2/stocks/{symbol}/trades/latest`` of the market-data API."""
    trade = exact(data.get("trade") or {})
    if not trade.get("p") or not trade.get("t"):
        raise BrokerAPIError(f"Alpaca has no recent trade price for {symbol}")
    return Quote(
        symbol=symbol, price=str(trade["p"]), as_of=trade["t"], source="alpaca:latest_trade"
    )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format_decimal(value)


def _check_price(name: str, price: Decimal | None) -> None:
    if price is None:
        return
    allowed = 2 if price >= 1 else 4
    if decimal_places(price) > allowed:
        raise InvalidOrderError(
            f"{name} {format_decimal(price)} has more than {allowed} decimal places: Alpaca "
            "accepts cents for prices of $1 and over, and 4 decimals below $1"
        )


def validate_request(request: OrderRequest) -> None:
    """The stable rules Alpaca enforces, checked before sending (its 422s are still mapped)."""
    if request.extended_hours and (
        request.order_type.value != "limit" or request.time_in_force.value not in ("day", "gtc")
    ):
        raise InvalidOrderError(
            "Alpaca takes extended-hours orders only as limit orders with time in force day or gtc"
        )
    for name in ("limit_price", "stop_price", "trail_price"):
        _check_price(name, getattr(request, name))
    if request.take_profit is not None:
        _check_price("take_profit.limit_price", request.take_profit.limit_price)
    if request.stop_loss is not None:
        _check_price("stop_loss.stop_price", request.stop_loss.stop_price)
        _check_price("stop_loss.limit_price", request.stop_loss.limit_price)


def order_body(request: OrderRequest) -> dict[str, Any]:
    """The JSON body of ``POST /v2/orders``: Decimals as strings, never floats."""
    body: dict[str, Any] = {
        "symbol": request.symbol,
        "side": request.side.value,
        "type": request.order_type.value,
        "time_in_force": request.time_in_force.value,
        "client_order_id": request.client_order_id,
        "qty": _text(request.qty),
        "notional": _text(request.notional),
        "limit_price": _text(request.limit_price),
        "stop_price": _text(request.stop_price),
        "trail_price": _text(request.trail_price),
        "trail_percent": _text(request.trail_percent),
        "extended_hours": request.extended_hours or None,
    }
    if request.order_class.value != "simple":
        body["order_class"] = request.order_class.value
    if request.take_profit is not None:
        body["take_profit"] = {"limit_price": _text(request.take_profit.limit_price)}
    if request.stop_loss is not None:
        leg = {"stop_price": _text(request.stop_loss.stop_price)}
        if request.stop_loss.limit_price is not None:
            leg["limit_price"] = _text(request.stop_loss.limit_price)
        body["stop_loss"] = leg
    return {k: v for k, v in body.items() if v is not None}


def replace_body(changes: Any) -> dict[str, Any]:
    """The JSON body of ``PATCH /v2/orders/{id}``."""
    body = {
        "qty": _text(changes.qty),
        "limit_price": _text(changes.limit_price),
        "stop_price": _text(changes.stop_price),
        "trail": _text(changes.trail),
        "time_in_force": changes.time_in_force.value if changes.time_in_force else None,
        "client_order_id": changes.client_order_id,
    }
    for name in ("limit_price", "stop_price"):
        _check_price(name, getattr(changes, name))
    return {k: v for k, v in body.items() if v is not None}
