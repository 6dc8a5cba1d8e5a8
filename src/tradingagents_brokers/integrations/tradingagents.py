"""From a TradingAgents decision to an order, through the gate (no import of TradingAgents).

TradingAgents ends a run with a Portfolio Manager rating on a five-level scale
(Buy, Overweight, Hold, Underweight, Sell) and a trader proposal (action, entry
price, stop loss, position sizing such as "5% of portfolio"). This module turns
them, deterministically, into at most one order:

==============  =====================================================================
rating          order
==============  =====================================================================
Buy             buy up to the target position (the sizing; default 5% of the portfolio)
Overweight      buy up to half the target position
Hold            nothing
Underweight     sell half of the shares held (whole shares; nothing held: nothing)
Sell            sell every share held (no short selling; nothing held: nothing)
==============  =====================================================================

The rating decides; the trader's proposal supplies the prices and the size. An
entry price makes a limit order at that price, otherwise a market order. A stop
loss on a buy is attached to the order (a bracket when there is also a price
target, else one-triggers-other) when the broker can attach orders; otherwise a
protective stop order is placed once the buy has filled. Sizes are whole shares
rounded down. Anything the plan cannot read (sizing text, a stop above the
price) means no order, with the reason.

:func:`execute_decision` sends the plan through the gate with an optional
approval callback; :func:`portfolio_context` renders the account and positions
as text for an agent's state.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

import attrs

from .._numbers import money
from ..approvals import answered, ask_callback
from ..decisions import Approval, OrderContext
from ..enums import OrderClass
from ..errors import BrokerError, NotFoundError
from ..gateway import GatedBroker
from ..models import BrokerCapabilities
from ..orders import Order, OrderRequest

__all__ = [
    "RATINGS",
    "ExecutionResult",
    "OrderPlan",
    "TradeDecision",
    "execute_decision",
    "parse_rating",
    "plan_order",
    "portfolio_context",
]

Rating = Literal["Buy", "Overweight", "Hold", "Underweight", "Sell"]
RATINGS: tuple[Rating, ...] = ("Buy", "Overweight", "Hold", "Underweight", "Sell")
DEFAULT_FRACTION = Decimal("0.05")

_RATING = re.compile(r"rating\W{0,6}(buy|overweight|hold|underweight|sell)\b", re.IGNORECASE)
_FINAL = re.compile(r"final transaction proposal\W*(buy|hold|sell)\b", re.IGNORECASE)
_NUMBER = r"\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?)"


def parse_rating(text: str) -> Rating:
    """The rating in a decision text ("Rating: Overweight"); ``Hold`` when none is found.

    >>> parse_rating("**Rating**: Overweight\\n...")
    'Overweight'
    >>> parse_rating("no verdict")
    'Hold'
    """
    found = _RATING.search(text) or _FINAL.search(text)
    return found.group(1).title() if found else "Hold"  # type: ignore[return-value]


def _field(text: str, label: str) -> str | None:
    found = re.search(rf"{label}\**\s*:\s*\**\s*([^\n*]+)", text, re.IGNORECASE)
    return found.group(1).strip() if found else None


def _price(text: str | None) -> Decimal | None:
    if text is None:
        return None
    found = re.match(_NUMBER, text)
    return Decimal(found.group(1).replace(",", "")) if found else None


def _rating(value: str) -> Rating:
    for rating in RATINGS:
        if str(value).strip().lower() == rating.lower():
            return rating
    raise ValueError(f"rating {value!r} is not one of {', '.join(RATINGS)}")


@attrs.frozen(kw_only=True)
class TradeDecision:
    """A TradingAgents decision for one ticker: the rating and the trader's proposal."""

    symbol: str
    rating: Rating = attrs.field(converter=_rating)
    entry_price: Decimal | None = attrs.field(
        default=None, converter=attrs.converters.optional(Decimal)
    )
    stop_loss: Decimal | None = attrs.field(
        default=None, converter=attrs.converters.optional(Decimal)
    )
    take_profit: Decimal | None = attrs.field(
        default=None, converter=attrs.converters.optional(Decimal)
    )
    position_sizing: str | None = None

    @classmethod
    def from_texts(
        cls, symbol: str, final_trade_decision: str, trader_plan: str = ""
    ) -> TradeDecision:
        """Read the Portfolio Manager's decision and the trader's plan (their markdown)."""
        return cls(
            symbol=symbol,
            rating=parse_rating(final_trade_decision),
            entry_price=_price(_field(trader_plan, "entry price")),
            stop_loss=_price(_field(trader_plan, "stop loss")),
            take_profit=_price(
                _field(trader_plan, "take profit") or _field(final_trade_decision, "price target")
            ),
            position_sizing=_field(trader_plan, "position sizing"),
        )

    @classmethod
    def from_state(cls, symbol: str, state: Mapping[str, Any]) -> TradeDecision:
        """From a TradingAgents final state.

        Reads ``final_trade_decision`` and ``trader_investment_plan``.
        """
        return cls.from_texts(
            symbol,
            str(state.get("final_trade_decision", "")),
            str(state.get("trader_investment_plan", "")),
        )


@attrs.frozen
class OrderPlan:
    """What a decision comes to: the order (or none), a protective stop to follow, and why."""

    decision: TradeDecision
    request: OrderRequest | None
    reason: str
    protective_stop: Decimal | None = None


def _target_value(sizing: str | None, portfolio: Decimal, price: Decimal) -> Decimal | None:
    """The target position in dollars from sizing text; None when it cannot be read."""
    if sizing is None:
        return portfolio * DEFAULT_FRACTION
    text = sizing.strip().lower()
    if found := re.match(r"([0-9]+(?:\.[0-9]+)?)\s*%", text):
        return portfolio * Decimal(found.group(1)) / 100
    if found := re.match(r"\$\s*([0-9][0-9,]*(?:\.[0-9]+)?)", text):
        return Decimal(found.group(1).replace(",", ""))
    if found := re.match(r"([0-9][0-9,]*)\s*shares?\b", text):
        return Decimal(found.group(1).replace(",", "")) * price
    return None


def plan_order(
    decision: TradeDecision,
    *,
    portfolio_value: Decimal,
    held: Decimal,
    price: Decimal,
    capabilities: BrokerCapabilities,
) -> OrderPlan:
    """The order for ``decision`` given the account, the shares held and the current price."""
    symbol, rating = decision.symbol, decision.rating
    entry = decision.entry_price
    limit: dict[str, Any] = (
        {"order_type": "limit", "limit_price": entry} if entry is not None else {}
    )
    if rating == "Hold":
        return OrderPlan(decision, None, "Hold: no order")
    if rating in ("Sell", "Underweight"):
        if held <= 0:
            return OrderPlan(decision, None, f"{rating}: no {symbol} shares held, nothing to sell")
        qty = held if rating == "Sell" else (held / 2).to_integral_value(ROUND_DOWN)
        if qty <= 0:
            return OrderPlan(decision, None, f"{rating}: half of {held} shares is under one share")
        request = OrderRequest(symbol=symbol, side="sell", qty=qty, **limit)
        return OrderPlan(decision, request, f"{rating}: sell {qty} of {held} shares held")
    reference = entry if entry is not None else price
    target = _target_value(decision.position_sizing, portfolio_value, reference)
    if target is None:
        return OrderPlan(
            decision, None, f"could not read the position sizing {decision.position_sizing!r}"
        )
    if rating == "Overweight":
        target /= 2
    wanted = ((target - max(held, Decimal(0)) * reference) / reference).to_integral_value(
        ROUND_DOWN
    )
    if wanted <= 0:
        return OrderPlan(
            decision, None, f"{rating}: {held} shares held already meet the target {money(target)}"
        )
    stop = decision.stop_loss
    if stop is not None and stop >= reference:
        return OrderPlan(
            decision, None, f"the stop loss {stop} is not below the price {reference}; no order"
        )
    legs: dict[str, Any] = {}
    follow: Decimal | None = None
    why = f"{rating}: buy {wanted} shares toward a target of {money(target)}"
    take = decision.take_profit
    if stop is not None:
        if (
            take is not None
            and take > reference
            and OrderClass.BRACKET in capabilities.order_classes
        ):
            legs = {
                "order_class": "bracket",
                "stop_loss": {"stop_price": stop},
                "take_profit": {"limit_price": take},
            }
        elif OrderClass.OTO in capabilities.order_classes:
            legs = {"order_class": "oto", "stop_loss": {"stop_price": stop}}
        else:
            follow = stop
            why += f"; a protective stop at {stop} follows the fill"
    request = OrderRequest(symbol=symbol, side="buy", qty=wanted, **limit, **legs)
    return OrderPlan(decision, request, why, follow)


@attrs.frozen
class ExecutionResult:
    """What :func:`execute_decision` did: ``status`` is no_order, sent or refused."""

    plan: OrderPlan
    status: Literal["no_order", "sent", "refused"]
    order: Order | None = None
    protective_stop: Order | None = None
    error: dict[str, Any] | None = None


Approver = Callable[[OrderPlan], "bool | Approval"]


def execute_decision(
    broker: GatedBroker,
    decision: TradeDecision,
    *,
    approve: Approver | None = None,
    context: OrderContext | None = None,
) -> ExecutionResult:
    """Plan ``decision`` against the account and send it through the gate.

    ``approve``, when given, sees the plan before anything is sent; its answer
    (read by :func:`~tradingagents_brokers.approvals.read_answer`: True, False, an
    Approval, ...) is the confirmation in the journal of the order and of its
    protective stop, and an exception from it refuses. Without it the gate's
    confirmation policy applies (paper approved, live refused unless a
    ``confirm_order`` hook approves).
    """
    ctx = context or OrderContext(source="agent", agent_id="tradingagents")
    try:
        held = broker.get_position(decision.symbol).qty
    except NotFoundError:
        held = Decimal(0)
    price = broker.get_quote(decision.symbol).price
    plan = plan_order(
        decision,
        portfolio_value=broker.get_account().portfolio_value,
        held=held,
        price=price,
        capabilities=broker.capabilities,
    )
    if plan.request is None:
        return ExecutionResult(plan, "no_order")
    approval = None if approve is None else ask_callback(approve, plan)
    try:
        order = _submit(broker, plan.request, approval, ctx)
    except BrokerError as exc:
        return ExecutionResult(plan, "refused", error=exc.to_dict())
    if plan.protective_stop is None or order.filled_qty <= 0:
        return ExecutionResult(plan, "sent", order)
    stop_request = OrderRequest(
        symbol=order.symbol,
        side="sell",
        qty=order.filled_qty,
        order_type="stop",
        stop_price=plan.protective_stop,
        time_in_force="gtc",
    )
    try:  # the approved plan included this stop; the gate still checks it
        stop = _submit(broker, stop_request, approval, ctx)
    except BrokerError as exc:
        return ExecutionResult(plan, "sent", order, error=exc.to_dict())
    return ExecutionResult(plan, "sent", order, stop)


def _submit(
    broker: GatedBroker, request: OrderRequest, approval: Approval | None, ctx: OrderContext
) -> Order:
    if approval is None:
        return broker.submit(request, ctx)
    with answered(request, approval):
        return broker.submit(request, ctx)


def portfolio_context(broker: GatedBroker) -> str:
    """The account and positions as text, for an agent's state or prompt."""
    account = broker.get_account()
    lines = [
        f"Portfolio on {broker.name} ({broker.mode.value} trading): equity "
        f"{money(account.equity)}, cash {money(account.cash)}, buying power "
        f"{money(account.buying_power)}; trading state {broker.trading_state()['state']}.",
    ]
    positions = broker.get_positions()
    if not positions:
        lines.append("No open positions.")
    for p in positions:
        weight = (p.market_value or 0) / account.portfolio_value if account.portfolio_value else 0
        lines.append(
            f"- {p.symbol}: {p.qty} shares, average entry {money(p.avg_entry_price)}, market "
            f"value {money(p.market_value)} ({weight:.1%} of the portfolio), unrealized P/L "
            f"{money(p.unrealized_pl)}"
        )
    return "\n".join(lines)
