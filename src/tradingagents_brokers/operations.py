"""Default implementations of the operation hooks: each delegates to the broker object.

Registered ``trylast`` so that any plugin can answer an operation first or wrap
it with ``@hookimpl(wrapper=True)`` (audit, metrics, dry-run), as pytest's
``runtest`` plugins wrap ``item.runtest()``. The core cannot run without this
plugin, so it cannot be blocked.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ._markers import hookimpl
from .broker import Broker, OrderQuery
from .errors import NotSupportedError
from .listing import in_window
from .models import (
    Account,
    Asset,
    Clock,
    ClosePositionResult,
    Instrument,
    PortfolioHistory,
    Position,
    Quote,
)
from .orders import Order, OrderChanges, OrderRequest
from .streams import OrderStream, OrderUpdateListener, QuoteListener, QuoteStream


@hookimpl(trylast=True)
def place_order(broker: Broker, request: OrderRequest) -> Order:
    return broker.place_order(request)


def accepts(method: Any, *names: str) -> bool:
    """Whether a broker's ``method`` names every one of ``names`` as a parameter.

    ``**kwargs`` does not count: a wrapper that forwards them to a method without the
    parameter would fail on the order path.

    Parameters the contract gained later (``after``/``until``, ``symbol``) are passed
    only to a plugin that names them; an older plugin is called as before. The answer
    is kept per function, so the signature is read once, not on every call.
    """
    return _accepts(getattr(method, "__func__", method), names)


@functools.lru_cache(maxsize=256)
def _accepts(function: Any, names: tuple[str, ...]) -> bool:
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return all(name in params for name in names)


def _with_symbol(method: Any, key: str, symbol: str | None) -> Any:
    if symbol is not None and accepts(method, "symbol"):
        return method(key, symbol=symbol)
    return method(key)


@hookimpl(trylast=True)
def cancel_order(broker: Broker, order_id: str, symbol: str | None) -> None:
    _with_symbol(broker.cancel_order, order_id, symbol)


@hookimpl(trylast=True)
def replace_order(broker: Broker, order_id: str, changes: OrderChanges) -> Order:
    return broker.replace_order(order_id, changes)


@hookimpl(trylast=True)
def get_order(broker: Broker, order_id: str, symbol: str | None) -> Order:
    order: Order = _with_symbol(broker.get_order, order_id, symbol)
    return order


@hookimpl(trylast=True)
def get_order_by_client_id(broker: Broker, client_order_id: str, symbol: str | None) -> Order:
    order: Order = _with_symbol(broker.get_order_by_client_id, client_order_id, symbol)
    return order


@hookimpl(trylast=True)
def get_orders(
    broker: Broker,
    status: OrderQuery,
    limit: int | None,
    symbols: Sequence[str] | None,
    after: datetime | None,
    until: datetime | None,
) -> list[Order]:
    if after is None and until is None:
        return broker.get_orders(status=status, limit=limit, symbols=symbols)
    if accepts(broker.get_orders, "after", "until"):
        return broker.get_orders(
            status=status, limit=limit, symbols=symbols, after=after, until=until
        )
    # a plugin written before the window joined the contract: list all, filter here
    every = broker.get_orders(status=status, limit=None, symbols=symbols)
    kept = [order for order in every if in_window(order, after, until)]
    return kept[:limit] if limit is not None else kept


@hookimpl(trylast=True)
def get_positions(broker: Broker) -> list[Position]:
    return broker.get_positions()


@hookimpl(trylast=True)
def get_position(broker: Broker, symbol: str) -> Position:
    return broker.get_position(symbol)


@hookimpl(trylast=True)
def close_position(broker: Broker, symbol: str, qty: Any, percentage: Any) -> Order:
    return broker.close_position(symbol, qty=qty, percentage=percentage)


@hookimpl(trylast=True)
def close_all_positions(broker: Broker, cancel_orders: bool) -> list[ClosePositionResult]:
    return broker.close_all_positions(cancel_orders=cancel_orders)


@hookimpl(trylast=True)
def get_account(broker: Broker) -> Account:
    return broker.get_account()


@hookimpl(trylast=True)
def get_portfolio_history(
    broker: Broker, period: str | None, timeframe: str | None
) -> PortfolioHistory:
    return broker.get_portfolio_history(period=period, timeframe=timeframe)


@hookimpl(trylast=True)
def get_clock(broker: Broker) -> Clock:
    return broker.get_clock()


@hookimpl(trylast=True)
def get_asset(broker: Broker, symbol: str) -> Asset:
    return broker.get_asset(symbol)


@hookimpl(trylast=True)
def get_instrument(broker: Broker, symbol: str) -> Instrument:
    look_up = getattr(broker, "get_instrument", None)
    if look_up is None:
        raise NotSupportedError(
            "this broker gives no instrument rules; declare instruments=True only with "
            "a get_instrument(symbol) method"
        )
    instrument: Instrument = look_up(symbol)
    return instrument


@hookimpl(trylast=True)
def get_quote(broker: Broker, symbol: str) -> Quote:
    return broker.get_quote(symbol)


@hookimpl(trylast=True)
def subscribe_order_updates(broker: Broker, listener: OrderUpdateListener) -> OrderStream | None:
    subscribe = getattr(broker, "subscribe_order_updates", None)
    if subscribe is None:
        return None
    stream: OrderStream = subscribe(listener)
    return stream


@hookimpl(trylast=True)
def subscribe_quotes(broker: Broker, listener: QuoteListener) -> QuoteStream | None:
    subscribe = getattr(broker, "subscribe_quotes", None)
    if subscribe is None:
        return None
    stream: QuoteStream = subscribe(listener)
    return stream
