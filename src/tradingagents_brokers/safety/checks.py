"""The built-in risk checks: required ``check_order`` plugins with stable reason codes.

Every check returns an explicit :class:`~tradingagents_brokers.decisions.Decision`
and fails closed: missing, stale or unreadable data is a denial with its own
code. Orders in flight and orders whose outcome is unknown (journal intents not
yet answered by the broker) count against the position, buying-power, rate and
duplicate limits until they are resolved.

Reason codes (``docs/safety.md`` has the table):

=============================  ===============================================
``ORDER_VALUE_EXCEEDS_MAX``    order value above ``max_order_value``
``POSITION_EXCEEDS_MAX``       projected position above ``max_position_size``
``INSUFFICIENT_BUYING_POWER``  value plus in-flight buys above buying power
``SYMBOL_DENIED``              symbol on ``denied_symbols``
``SYMBOL_NOT_ALLOWED``         ``allowed_symbols`` is set and lacks the symbol
``RATE_LIMIT_EXCEEDED``        more orders than allowed per second or minute
``DUPLICATE_ORDER``            same order within ``duplicate_window_seconds``
``PRICE_OUTSIDE_COLLAR``       limit/stop price too far from the reference price
                               (a leg's: further than ``leg_collar_pct``)
``LEG_WRONG_SIDE``             a take-profit or stop-loss leg on the wrong side
                               of the entry
``REFERENCE_PRICE_MISSING``    no reference price to judge the order by
``REFERENCE_PRICE_STALE``      reference price older than ``quote_max_age_seconds``
``ACCOUNT_DATA_MISSING``       account or positions could not be read, or are unusable
=============================  ===============================================

The account-level limits (open orders, the day's notional and loss) are in
:mod:`.limits`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .._markers import hookimpl
from .._numbers import decimal_places, format_decimal
from ..decisions import CheckContext, Decision
from ..enums import OrderClass, OrderSide, OrderType
from ..errors import BrokerError
from ..models import Quote
from ..orders import OrderRequest

__all__ = ["REQUIRED_CHECKS", "dedupe_key", "order_price", "order_value", "pending_qty"]

CENT = Decimal("0.01")


class MissingData(Exception):
    """A check lacks what it needs to decide; becomes a denial with ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _fmt(value: Decimal) -> str:
    """Money for messages: at most two decimals."""
    return format_decimal(value.quantize(CENT) if decimal_places(value) > 2 else value)


def reference_quote(context: CheckContext, symbol: str | None = None) -> Quote:
    """A fresh reference quote, or :class:`MissingData` (missing or stale)."""
    try:
        quote = context.quote(symbol)
    except BrokerError as exc:
        raise MissingData(
            "REFERENCE_PRICE_MISSING",
            f"no reference price for {symbol or context.request.symbol}: {exc.message}",
        ) from None
    max_age = int(context.config["quote_max_age_seconds"])
    age = (context.now() - quote.as_of).total_seconds()
    if age > max_age:
        raise MissingData(
            "REFERENCE_PRICE_STALE",
            f"the reference price of {quote.symbol} is {age:.0f}s old "
            f"(quote_max_age_seconds={max_age})",
        )
    return quote


def order_price(request: OrderRequest, context: CheckContext) -> Decimal:
    """The worst price ``request`` can execute at now: the one rule every check values by.

    A buy never pays more than its limit, so a buy limit or stop-limit is judged at
    its limit. Anything that can execute at the market is judged at the reference
    price or worse, never at its own limit or stop alone: a buy stop at its stop or
    the reference price, whichever is higher (a stop already crossed buys at the
    market); a buy trailing stop at the reference price plus its trail; a sell at
    its limit or stop, or the reference price if that is higher (a sell limit below
    the market sells at the market); a market order at the reference price.
    """
    side, kind = request.side, request.order_type
    if side is OrderSide.BUY and kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        assert request.limit_price is not None
        return request.limit_price
    reference = reference_quote(context).price
    if kind is OrderType.TRAILING_STOP and side is OrderSide.BUY:
        if request.trail_price is not None:
            return reference + request.trail_price
        assert request.trail_percent is not None
        return reference * (1 + request.trail_percent / 100)
    own = request.limit_price if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
    if kind is OrderType.STOP:
        own = request.stop_price
    return reference if own is None else max(own, reference)


def order_qty(request: OrderRequest, context: CheckContext) -> Decimal:
    if request.qty is not None:
        return request.qty
    assert request.notional is not None
    return request.notional / reference_quote(context).price


def order_value(request: OrderRequest, context: CheckContext) -> Decimal:
    """What the order is worth for every check: ``notional``, or quantity times
    :func:`order_price` (the worst price it can execute at now)."""
    if request.notional is not None:
        return request.notional
    assert request.qty is not None
    return request.qty * order_price(request, context)


def dedupe_key(request: OrderRequest) -> str:
    """What makes two orders "the same order" for the duplicate check."""
    parts = [request.symbol, request.side.value, request.order_type.value]
    for value in (request.qty, request.notional, request.limit_price, request.stop_price):
        parts.append("" if value is None else format_decimal(value))
    return "|".join(parts)


class _Check:
    """A required risk check, registered under ``name`` as a core plugin."""

    name = ""

    def decide(self, request: OrderRequest, context: CheckContext) -> Decision:
        raise NotImplementedError

    @hookimpl
    def check_order(self, request: OrderRequest, context: CheckContext) -> Decision:
        try:
            return self.decide(request, context)
        except MissingData as missing:
            return Decision.deny(self.name, missing.code, missing.message)

    def deny(self, code: str, reason: str) -> Decision:
        return Decision.deny(self.name, code, reason)

    def allow(self) -> Decision:
        return Decision.allow(self.name)


class MaxOrderValue(_Check):
    name = "max_order_value"

    def decide(self, request: OrderRequest, context: CheckContext) -> Decision:
        limit = Decimal(context.config["max_order_value"])
        value = order_value(request, context)
        if value > limit:
            return self.deny(
                "ORDER_VALUE_EXCEEDS_MAX",
                f"order value {_fmt(value)} exceeds max_order_value {_fmt(limit)}; "
                "place a smaller order",
            )
        return self.allow()


def _account_value(context: CheckContext) -> Decimal:
    try:
        value = context.account().portfolio_value
    except BrokerError as exc:
        raise MissingData(
            "ACCOUNT_DATA_MISSING", f"the account could not be read: {exc.message}"
        ) from None
    if value <= 0:
        raise MissingData(
            "ACCOUNT_DATA_MISSING", f"portfolio value is {_fmt(value)}; no room for positions"
        )
    return value


def _signed_position(context: CheckContext, symbol: str) -> Decimal:
    try:
        positions = context.positions()
    except BrokerError as exc:
        raise MissingData(
            "ACCOUNT_DATA_MISSING", f"positions could not be read: {exc.message}"
        ) from None
    return sum((p.qty for p in positions if p.symbol == symbol), Decimal(0))


def pending_qty(
    context: CheckContext, symbol: str, side: OrderSide, price: Callable[[], Decimal]
) -> Decimal:
    """Quantity of open broker orders and in-flight intents on ``symbol`` and ``side``.

    ``price`` is asked only for orders given in dollars (their shares depend on it).
    """
    try:
        unfilled = context.unfilled(symbol, side)
        orders = context.open_orders(symbol) if unfilled is None else unfilled[1]
    except BrokerError as exc:
        raise MissingData(
            "ACCOUNT_DATA_MISSING", f"open orders could not be read: {exc.message}"
        ) from None
    total = Decimal(0) if unfilled is None else unfilled[0]
    for order in orders:
        if order.symbol == symbol and order.side is side:
            if order.qty is not None:  # a broker's overfill leaves nothing, never less
                total += max(order.qty - order.filled_qty, Decimal(0))
            elif order.notional is not None:
                total += order.notional / price()
    for intent in context.in_flight():
        if intent.symbol == symbol and intent.side == side.value:
            if intent.qty is not None:
                total += intent.qty
            elif intent.notional is not None:
                total += intent.notional / price()
    return total


class MaxPosition(_Check):
    name = "max_position"

    def decide(self, request: OrderRequest, context: CheckContext) -> Decision:
        price = reference_quote(context).price
        current = _signed_position(context, request.symbol)
        direction = 1 if request.side is OrderSide.BUY else -1
        pending = pending_qty(context, request.symbol, request.side, lambda: price)
        projected = current + direction * (pending + order_qty(request, context))
        if abs(projected) <= abs(current) and (projected == 0 or (projected > 0) == (current > 0)):
            return self.allow()
        limit = Decimal(context.config["max_position_size"]) * _account_value(context)
        # At the market, or at the worse price this order may execute at now.
        exposure = abs(projected) * max(price, order_price(request, context))
        if exposure > limit:
            return self.deny(
                "POSITION_EXCEEDS_MAX",
                f"projected {request.symbol} position {_fmt(exposure)} "
                "(current, open and in-flight "
                f"orders, and this one) exceeds max_position_size of portfolio value {_fmt(limit)}",
            )
        return self.allow()


class BuyingPower(_Check):
    name = "buying_power"

    def decide(self, request: OrderRequest, context: CheckContext) -> Decision:
        if request.side is OrderSide.SELL:
            return self.allow()
        try:
            available = context.account().buying_power
        except BrokerError as exc:
            raise MissingData(
                "ACCOUNT_DATA_MISSING", f"the account could not be read: {exc.message}"
            ) from None
        in_flight = context.account_in_flight_buys()
        needed = order_value(request, context) + in_flight
        if needed > available:
            return self.deny(
                "INSUFFICIENT_BUYING_POWER",
                f"this order and in-flight buys need {_fmt(needed)}; "
                f"buying power is {_fmt(available)}",
            )
        return self.allow()


def symbol_forms(symbol: str) -> tuple[str, str]:
    """(one separator for all, no separator): how list entries and orders are compared.

    ``BRK.B``, ``BRK-B`` and ``BRK/B`` are one share class, and ``BTC/USD`` and
    ``BTCUSD`` one pair, however a person or a broker writes them.
    """
    unified = symbol.replace("-", ".").replace("/", ".")
    return unified, unified.replace(".", "")


class SymbolLists(_Check):
    """A denied symbol matches however it is written (separators left out: deny more);
    an allowed one only with its separators where the list has them (allow no more)."""

    name = "symbol_lists"

    def decide(self, request: OrderRequest, context: CheckContext) -> Decision:
        symbol = request.symbol
        unified, bare = symbol_forms(symbol)
        for entry in context.config["denied_symbols"]:
            if symbol_forms(entry)[1] == bare:
                return self.deny("SYMBOL_DENIED", f"{symbol} is on denied_symbols (as {entry})")
        allowed = context.config["allowed_symbols"]
        if allowed and all(symbol_forms(entry)[0] != unified for entry in allowed):
            near = [entry for entry in allowed if symbol_forms(entry)[1] == bare]
            hint = f"; it has {near[0]}: write the symbol that way" if near else ""
            return self.deny("SYMBOL_NOT_ALLOWED", f"{symbol} is not on allowed_symbols{hint}")
        return self.allow()


class RateLimit(_Check):
    name = "rate_limit"

    def decide(self, request: OrderRequest, context: CheckContext) -> Decision:
        for seconds, key in ((1, "max_orders_per_second"), (60, "max_orders_per_minute")):
            limit = int(context.config[key])
            count = context.count_recent(seconds)
            if count + 1 > limit:
                return self.deny(
                    "RATE_LIMIT_EXCEEDED",
                    f"{count} orders in the last {seconds}s; {key}={limit}; wait and retry",
                )
        return self.allow()


class DuplicateOrder(_Check):
    name = "duplicate_order"

    def decide(self, request: OrderRequest, context: CheckContext) -> Decision:
        window = int(context.config["duplicate_window_seconds"])
        if context.order.allow_repeat or context.replaces or window == 0:
            return self.allow()
        intent = context.recent_duplicate(window, dedupe_key(request))
        if intent is not None:
            return self.deny(
                "DUPLICATE_ORDER",
                f"the same order ({intent.client_order_id}) was placed less than "
                f"{window}s ago; an identical order passes once {window}s have gone by",
            )
        return self.allow()


class PriceCollar(_Check):
    name = "price_collar"

    def decide(self, request: OrderRequest, context: CheckContext) -> Decision:
        prices: list[tuple[str, Decimal]] = [
            (name, price)
            for name, price in (
                ("limit_price", request.limit_price),
                ("stop_price", request.stop_price),
            )
            if price is not None
        ]
        legs = _leg_prices(request)
        if not prices and not legs:
            return self.allow()
        reference = reference_quote(context).price
        collar = Decimal(context.config["price_collar_pct"])
        far = Decimal(context.config["leg_collar_pct"])
        for name, price, key, pct in (
            *((n, p, "price_collar_pct", collar) for n, p in prices),
            *((n, p, "leg_collar_pct", far) for n, p in legs),
        ):
            deviation = abs(price - reference) / reference
            if deviation > pct:
                return self.deny(
                    "PRICE_OUTSIDE_COLLAR",
                    f"{name} {format_decimal(price)} is {deviation:.2%} from the reference price "
                    f"{format_decimal(reference)} ({key}={pct:.2%})",
                )
        wrong = _leg_on_wrong_side(request, reference)
        if wrong:
            return self.deny("LEG_WRONG_SIDE", wrong)
        return self.allow()


def _leg_prices(request: OrderRequest) -> list[tuple[str, Decimal]]:
    tp, sl = request.take_profit, request.stop_loss
    return [
        (name, price)
        for name, price in (
            ("take_profit.limit_price", tp.limit_price if tp else None),
            ("stop_loss.stop_price", sl.stop_price if sl else None),
            ("stop_loss.limit_price", sl.limit_price if sl else None),
        )
        if price is not None
    ]


def _leg_on_wrong_side(request: OrderRequest, reference: Decimal) -> str | None:
    """Why a leg would not protect the position it exits, or None.

    A bracket or OTO buy opens a long (an OCO sell exits one): its take-profit sells
    above the entry, its stop-loss below it. Short positions mirror that. The entry
    is the order's limit or stop price, else the reference price (for an OCO, always).
    """
    if request.order_class is OrderClass.OCO:
        long, entry = request.side is OrderSide.SELL, reference
    else:
        entry = request.limit_price or request.stop_price or reference
        long = request.side is OrderSide.BUY
    above, below = ("above", "below") if long else ("below", "above")
    sign = 1 if long else -1
    tp, sl = request.take_profit, request.stop_loss
    shown = format_decimal(entry)
    if tp is not None and sign * (tp.limit_price - entry) <= 0:
        return f"take_profit.limit_price must be {above} the entry {shown}"
    if sl is not None and sign * (entry - sl.stop_price) <= 0:
        return f"stop_loss.stop_price must be {below} the entry {shown}"
    if (
        sl is not None
        and sl.limit_price is not None
        and sign * (sl.stop_price - sl.limit_price) < 0
    ):
        return f"stop_loss.limit_price must be at or {below} its stop_price"
    return None


def _instances() -> dict[str, Any]:
    from .limits import account_checks  # it builds on the checks above

    checks = [
        MaxOrderValue(),
        MaxPosition(),
        BuyingPower(),
        SymbolLists(),
        RateLimit(),
        DuplicateOrder(),
        PriceCollar(),
        *account_checks(),
    ]
    return {check.name: check for check in checks}


#: The required checks by plugin name; the gate refuses to run without any of them.
REQUIRED_CHECKS: dict[str, Any] = _instances()
