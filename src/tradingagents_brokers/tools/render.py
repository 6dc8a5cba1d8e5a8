"""Short texts for the model: what each tool's result says, in words and units.

The typed object travels beside the text as the tool message's artifact; these
functions decide only what the model reads. Amounts carry their unit ($, shares,
%), ids are spelled out so the model can quote them back, and an empty result
says so instead of returning an empty string.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from .._numbers import format_decimal, money
from ..models import Account, PortfolioHistory, Position, Quote
from ..orders import Order, OrderRequest
from ..safety.validation import OrderPreview
from .advice import next_steps, reasons_text
from .guard import MAX_ANSWER_BYTES

__all__ = [
    "account_text",
    "money",
    "order_text",
    "orders_text",
    "portfolio_text",
    "positions_text",
    "preview_text",
    "quote_text",
    "request_text",
]

#: What the lines of a list may take of an answer (the rest: its first and last lines).
LIST_BUDGET = MAX_ANSWER_BYTES - 400
#: The gate's trading state, said so that it is not taken for the broker's account status.
STATES = {
    "active": "ACTIVE (new orders are checked against the risk limits)",
    "reducing": "REDUCING (only orders that shrink a position are accepted)",
    "halted": "HALTED (no new orders, cancels still work; only a person can resume)",
}


def _num(value: Decimal | None) -> str:
    return "n/a" if value is None else format_decimal(value)


def _pct(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.2f}%"


def _price(value: Decimal) -> str:
    """A price in dollars, with every digit it has beyond the cents (``$0.0012``)."""
    return money(value) if value == value.quantize(Decimal("0.01")) else f"${format_decimal(value)}"


def _listed(noun: str, lines: Sequence[str], hint: str) -> str:
    """A list with a count, cut to fit an answer, saying how many were left out and why."""
    shown: list[str] = []
    size = 0
    for line in lines:
        size += len(line.encode()) + 1
        if size > LIST_BUDGET:
            break
        shown.append(line)
    if len(shown) == len(lines):
        return "\n".join([f"{len(lines)} {noun}:", *shown])
    left = len(lines) - len(shown)
    return "\n".join(
        [
            f"{len(lines)} {noun}, the first {len(shown)} shown:",
            *shown,
            f"({left} more not shown: {hint}.)",
        ]
    )


def account_text(account: Account, *, broker: str, mode: str, state: str) -> str:
    return (
        f"Account {account.account_number} on {broker} ({mode} trading). The broker's "
        f"account status: {account.status}. This account's trading state (the safety gate): "
        f"{STATES.get(state, state.upper())}. Currency {account.currency}. Equity "
        f"{money(account.equity)}; cash {money(account.cash)}; buying power "
        f"{money(account.buying_power)}; long market value {money(account.long_market_value)}; "
        f"short market value {money(account.short_market_value)}; equity at the last close "
        f"{money(account.last_equity)}."
    )


def positions_text(positions: Sequence[Position], symbol: str | None = None) -> str:
    if not positions:
        return f"No open position in {symbol}." if symbol else "No open positions."
    lines = [
        f"- {p.symbol}: {_num(p.qty)} shares ({p.side.value}), average entry "
        f"{money(p.avg_entry_price)}, now {money(p.current_price)}, market value "
        f"{money(p.market_value)}, unrealized P/L {money(p.unrealized_pl)} "
        f"({_pct(p.unrealized_plpc)})"
        for p in positions
    ]
    return _listed("open position(s)", lines, "give symbol to see one position")


def quote_text(
    quote: Quote, *, now: dt.datetime, max_age: int, collar: Decimal | None = None
) -> str:
    age = max(0, round((now - quote.as_of).total_seconds()))
    source = f", from {quote.source}" if quote.source else ""
    text = (
        f"{quote.symbol}: reference price {_price(quote.price)} as of "
        f"{quote.as_of:%Y-%m-%d %H:%M:%S} UTC ({age}s ago{source}). The risk checks judge "
        "orders by this price: market orders and order values at it"
    )
    text += "." if collar is None else f", limit and stop prices within {collar:.0%} of it."
    if age > max_age:
        text += (
            f" It is older than {max_age}s: orders judged by it are refused "
            "(REFERENCE_PRICE_STALE) until a newer price comes."
        )
    return text + " Read-only: nothing was sent."


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


def orders_text(orders: Sequence[Order], status: str, limit: int | None = None) -> str:
    if not orders:
        return f"No {status} orders." if status != "all" else "No orders."
    lines = [f"- {order_text(o)}" for o in orders]
    text = _listed("order(s)", lines, "narrow with symbols or status, or lower limit")
    times = [o.submitted_at for o in orders if o.submitted_at is not None]
    if limit is not None and len(orders) >= limit and times:
        oldest = min(times).astimezone(dt.UTC).isoformat(timespec="microseconds")
        text += f"\n(Older orders may exist: call get_orders again with until='{oldest}'.)"
    return text


def preview_text(preview: OrderPreview, retry_after: float | None = None) -> str:
    subject = request_text(preview.request)
    if preview.allowed:
        return (
            f"Preview: {subject} would pass every risk check now. Nothing was sent; call "
            "execute_trade to place it (checks run again then)."
        )
    reasons = reasons_text(preview.reasons)
    steps = " ".join(next_steps(preview.reasons, retry_after))
    return (
        f"Preview: {subject} would be REFUSED. Nothing was sent. Reasons: {reasons}. Next: {steps}"
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
