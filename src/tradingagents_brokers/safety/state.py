"""Trading state, the kill switch: ACTIVE, REDUCING or HALTED, persisted in the journal.

* ACTIVE - orders pass to the risk checks.
* REDUCING - only orders that shrink a position pass (closing positions too).
* HALTED - no new, replaced or closing orders; cancels still pass.

Anyone may halt or switch to REDUCING; an agent can never return to ACTIVE from
another state: only a person (Python or the CLI) resumes trading.
"""

from __future__ import annotations

import enum
from decimal import Decimal

from .._numbers import format_decimal
from ..decisions import AGENT_SOURCES, CheckContext, Decision, OrderContext
from ..enums import OrderSide
from ..errors import BrokerConfigurationError, BrokerError
from ..orders import OrderRequest
from .checks import MissingData, pending_qty, reference_quote
from .journal import Journal

__all__ = ["NotPermittedError", "TradingState", "current_state", "set_state", "state_decision"]


class TradingState(enum.StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class NotPermittedError(BrokerError):
    """The caller may not do this (an agent resuming trading). A person must do it."""

    code = "not_permitted"


def current_state(journal: Journal) -> TradingState:
    return TradingState(journal.trading_state()["state"])


def set_state(
    journal: Journal,
    state: TradingState | str,
    *,
    reason: str,
    by: str,
    context: OrderContext | None = None,
) -> None:
    """Record a new trading state. ``by`` is the caller's source ("python", "cli", "agent", "mcp").

    ``context`` adds the caller's agent, run and tool call ids to the record.
    """
    try:
        wanted = TradingState(str(state).lower())
    except ValueError:
        raise BrokerConfigurationError(
            f"trading state {state!r} is not valid; use active, reducing or halted"
        ) from None
    with journal.transaction():
        now = current_state(journal)
        if by in AGENT_SOURCES and wanted is TradingState.ACTIVE and now is not TradingState.ACTIVE:
            raise NotPermittedError(
                f"trading is {now.value}; an agent cannot resume it - a person must "
                "(tradingagents-brokers resume)"
            )
        ids = {k: v for k, v in (context.provenance() if context else {}).items() if k != "source"}
        journal.set_trading_state(wanted.value, reason, by, ids)


def state_decision(state: TradingState, request: OrderRequest, context: CheckContext) -> Decision:
    """The trading-state gate for one new order."""
    if state is TradingState.ACTIVE:
        return Decision.allow("trading_state")
    if state is TradingState.HALTED:
        return Decision.deny(
            "trading_state", "TRADING_HALTED", "trading is halted; only cancels are accepted"
        )
    try:
        held = sum((p.qty for p in context.positions() if p.symbol == request.symbol), Decimal(0))
        # Orders on the same side, resting or in flight, will shrink it first.
        pending = pending_qty(
            context, request.symbol, request.side, lambda: reference_quote(context).price
        )
    except (BrokerError, MissingData) as exc:
        return Decision.deny(
            "trading_state",
            "ACCOUNT_DATA_MISSING",
            f"positions or open orders could not be read: {exc}",
        )
    qty = request.qty
    room = held if request.side is OrderSide.SELL else -held
    if qty is not None and qty > 0 and pending + qty <= room:
        return Decision.allow("trading_state")
    waiting = f", {format_decimal(pending)} of it already in orders" if pending else ""
    return Decision.deny(
        "trading_state",
        "TRADING_STATE_REDUCING",
        f"trading is reducing: only orders that shrink the {request.symbol} position "
        f"({format_decimal(held)}{waiting}) are accepted",
    )
