"""Argument schemas of the broker tools: what the model sees and what is validated.

Every schema forbids unknown keys (a model cannot smuggle ``broker_mode`` or
``max_order_value`` into a call), spells enums as ``Literal`` values, and takes
quantities and prices as ``Decimal`` (a JSON number or a numeric string; floats
are converted through their shortest text, never through binary). Limits that
belong to the safety gate (order value, position size, precision) are checked
there, so the model gets one consistent explanation.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "ORDER_FIELDS",
    "CancelOrderArgs",
    "ClosePositionArgs",
    "GetOrdersArgs",
    "HaltTradingArgs",
    "NoArgs",
    "OrderArgs",
    "OrderStatusArgs",
    "PortfolioHistoryArgs",
    "PositionsArgs",
    "QuoteArgs",
]

Symbol = Field(
    min_length=1,
    max_length=21,
    description="Ticker symbol in plain ASCII, e.g. 'AAPL'. Case does not matter.",
)


def _amount(description: str, **limits: Any) -> Any:
    """An optional amount: a positive, finite Decimal."""
    return Field(default=None, gt=0, allow_inf_nan=False, description=description, **limits)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoArgs(_Args):
    """This tool takes no arguments."""


class PositionsArgs(_Args):
    symbol: str | None = Field(
        default=None,
        min_length=1,
        max_length=21,
        description="Only this ticker's position. Omit to list every open position.",
    )


class QuoteArgs(_Args):
    symbol: str = Symbol


class OrderArgs(_Args):
    """One order, in the origin design's words: what to trade, which way, how much, at what price.

    ``execute_trade(symbol, action, quantity=None, dollar_amount=None,
    order_type="market", limit_price=None)``, and this project's additions
    beside them: ``stop_price``, ``time_in_force`` and the attached
    ``stop_loss_price`` / ``take_profit_price``.
    """

    symbol: str = Symbol
    action: Literal["buy", "sell"] = Field(
        description="'buy' to buy (or cover a short); 'sell' to sell shares you hold."
    )
    quantity: Decimal | None = _amount(
        "Number of shares (may be fractional where the broker allows). "
        "Give quantity or dollar_amount, not both."
    )
    dollar_amount: Decimal | None = _amount(
        "Amount in dollars to trade instead of a share count (market orders). "
        "Give quantity or dollar_amount, not both."
    )
    order_type: Literal["market", "limit", "stop", "stop_limit"] = Field(
        default="market",
        description="'market' fills now at the market price; 'limit' only at limit_price or "
        "better; 'stop' becomes a market order at stop_price; 'stop_limit' needs both prices.",
    )
    limit_price: Decimal | None = _amount(
        "Limit price in dollars per share (limit and stop_limit orders only)."
    )
    stop_price: Decimal | None = _amount(
        "Stop trigger price in dollars per share (stop and stop_limit orders only)."
    )
    time_in_force: Literal["day", "gtc", "ioc", "fok"] | None = Field(
        default=None,
        description="'day' expires at the close; 'gtc' stays until canceled; 'ioc' fills what "
        "it can at once and cancels the rest; 'fok' fills entirely at once or not at all. "
        "Leave it out for the broker's default (day for most, gtc for crypto).",
    )
    stop_loss_price: Decimal | None = _amount(
        "Attach a protective stop at this price (dollars per share); the broker "
        "must support attached orders. Below the entry for a buy."
    )
    take_profit_price: Decimal | None = _amount(
        "Attach a take-profit limit at this price (dollars per share); together "
        "with stop_loss_price it makes a bracket order."
    )


#: The order model's names for the tool's arguments, where they differ.
ORDER_FIELDS = {"action": "side", "quantity": "qty", "dollar_amount": "notional"}


class OrderStatusArgs(_Args):
    order_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="The broker's order id, as returned by execute_trade or get_orders.",
    )
    client_order_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="The client order id (starts with 'tab-'), e.g. from an error that says "
        "the outcome of an order is unknown. Give order_id or client_order_id.",
    )


class GetOrdersArgs(_Args):
    status: Literal["open", "closed", "all"] = Field(
        default="open",
        description="'open' for orders still working, 'closed' for filled, canceled or "
        "expired ones, 'all' for both.",
    )
    limit: int = Field(default=20, ge=1, le=100, description="At most this many, newest first.")
    symbols: list[Annotated[str, Field(min_length=1, max_length=21)]] | None = Field(
        default=None, max_length=20, description="Only orders for these tickers."
    )
    after: AwareDatetime | None = Field(
        default=None,
        description="Only orders submitted after this time: ISO 8601 with its zone, e.g. "
        "'2026-12-01T14:30:00Z'.",
    )
    until: AwareDatetime | None = Field(
        default=None,
        description="Only orders submitted before this time (ISO 8601 with its zone). For the "
        "next page of older orders, pass the time the previous answer gives.",
    )


class CancelOrderArgs(_Args):
    order_id: str = Field(
        min_length=1, max_length=128, description="The broker's order id of an open order."
    )


class ClosePositionArgs(_Args):
    """``close_position(symbol)``, and optionally only part of it."""

    symbol: str = Symbol
    quantity: Decimal | None = _amount(
        "Close only this many shares. Omit quantity and percentage to close it all."
    )
    percentage: Decimal | None = _amount(
        "Close this percentage (0-100] of the position instead of a share count.", le=100
    )


class PortfolioHistoryArgs(_Args):
    period: str | None = Field(
        default=None,
        pattern=r"^[0-9]{1,3}(D|W|M|A)$",
        description="How far back, e.g. '1W', '1M', '1A' (a year). Omit for the broker's default.",
    )
    timeframe: str | None = Field(
        default=None,
        pattern=r"^(1Min|5Min|15Min|1H|1D)$",
        description="Spacing of the points: '1Min', '5Min', '15Min', '1H' or '1D'.",
    )


class HaltTradingArgs(_Args):
    reason: str = Field(
        min_length=3,
        max_length=500,
        description="Why trading must stop; shown to the person who will review and resume it.",
    )
