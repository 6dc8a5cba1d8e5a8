"""Short texts for the model: what each tool's result says, in words and units.

The typed object travels beside the text as the tool message's artifact; these
functions decide only what the model reads. Amounts carry their unit ($, shares,
%), ids are spelled out so the model can quote them back, and an empty result
says so instead of returning an empty string.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from .._numbers import format_decimal, money
from ..models import Account, PortfolioHistory, Position
from ..orders import Order, OrderRequest
from ..safety.validation import OrderPreview

__all__ = [
    "account_text",
    "money",
    "order_text",
    "orders_text",
    "portfolio_text",
    "positions_text",
    "preview_text",
    "request_text",
]


def _num(value: Decimal | None) -> str:
    return "n/a" if value is None else format_decimal(value)


def _pct(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.2f}%"


def account_text(account: Account, *, broker: str, mode: str, state: str) -> str:
    return (
        f"Account {account.account_number} on {broker} ({mode} trading), status "
        f"{account.status}, currency {account.currency}. Equity {money(account.equity)}; "
        f"cash {money(account.cash)}; buying power {money(account.buying_power)}; long "
        f"market value {money(account.long_market_value)}; short market value "
        f"{money(account.short_market_value)}; equity at the last close "
        f"{money(account.last_equity)}. Trading state: {state}."
    )


def positions_text(positions: Sequence[Position], symbol: str | None = None) -> str:
    if not positions:
        return f"No open position in {symbol}." if symbol else "No open positions."
    lines = [f"{len(positions)} open position(s):"]
    for p in positions:
        lines.append(
            f"- {p.symbol}: {_num(p.qty)} shares ({p.side.value}), average entry "
            f"{money(p.avg_entry_price)}, now {money(p.current_price)}, market value "
            f"{money(p.market_value)}, unrealized P/L {money(p.unrealized_pl)} "
            f"({_pct(p.unrealized_plpc)})"
        )
    return "\n".join(lines)


def request_text(request: OrderRequest) -> str:
    amount = f"{_num(request.qty)} shares" if request.qty is not None else money(request.notional)
    text = f"{request.side.value.upper()} {amount} of {request.symbol} ({request.order_type.value}"
    if request.limit_price is not None:
        text += f", limit {money(request.limit_price)}"
    if request.stop_price is not None:
        text += f", stop {money(request.stop_price)}"
    text += f", {request.time_in_force.value})"
    if request.stop_loss is not None:
        text += f" with a stop loss at {money(request.stop_loss.stop_price)}"
    if request.take_profit is not None:
        text += f" and a take profit at {money(request.take_profit.limit_price)}"
    return text


def order_text(order: Order) -> str:
    amount = f"{_num(order.qty)} shares" if order.qty is not None else money(order.notional)
    text = (
        f"Order {order.order_id} (client order id {order.client_order_id}): "
        f"{order.side.value.upper()} {amount} of {order.symbol}, {order.order_type.value}"
    )
    if order.limit_price is not None:
        text += f" limit {money(order.limit_price)}"
    if order.stop_price is not None:
        text += f" stop {money(order.stop_price)}"
    text += f", {order.time_in_force.value}. Status: {order.status.value}"
    if order.filled_qty:
        text += f"; filled {_num(order.filled_qty)} at {money(order.filled_avg_price)} average"
    text += "."
    if order.status.value in ("new", "accepted", "pending_new", "partially_filled"):
        text += " Not (fully) filled yet: check again with check_order_status."
    return text


def orders_text(orders: Sequence[Order], status: str) -> str:
    if not orders:
        return f"No {status} orders." if status != "all" else "No orders."
    return "\n".join([f"{len(orders)} order(s):", *(f"- {order_text(o)}" for o in orders)])


def preview_text(preview: OrderPreview) -> str:
    subject = request_text(preview.request)
    if preview.allowed:
        return (
            f"Preview: {subject} would pass every risk check now. Nothing was sent; call "
            "execute_trade to place it (checks run again then)."
        )
    reasons = "; ".join(f"[{r.code}] {r.message}" for r in preview.reasons)
    return (
        f"Preview: {subject} would be REFUSED. Nothing was sent. Reasons: {reasons}. Change the "
        "order so that every reason is resolved, or do not trade."
    )


def portfolio_text(history: PortfolioHistory) -> str:
    if not history.equity:
        return "No portfolio history yet."
    first, last = history.equity[0], history.equity[-1]
    start, end = history.timestamps[0], history.timestamps[-1]
    change = last - first
    pct = (change / first) if first else None
    return (
        f"Portfolio history ({len(history.equity)} points, timeframe {history.timeframe}) from "
        f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC: equity {money(first)} -> "
        f"{money(last)}, change {money(change)} ({_pct(pct)}); low "
        f"{money(min(history.equity))}, high {money(max(history.equity))}."
    )
