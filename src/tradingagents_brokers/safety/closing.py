"""Closing positions: the market orders a close amounts to, confirmed like orders.

Closing reduces risk, so only HALTED stops it (not REDUCING, not the risk
checks); with ``require_confirmation`` each close is put to ``confirm_order`` as
the order it amounts to, and every answer is journaled.

On a broker that declares ``fractional=False``, a close by percentage becomes a
whole number of shares, rounded down (toward the smaller close, never more than
asked), before it is shown, confirmed or sent; the broker is then sent that
quantity. A share of a position under one share is refused, as is a fractional
``qty``.

Every close is journaled (``close_requested``) in the write section before it
is sent. An agent's close is also held to the rate limits (admitted orders and
closes together, in every process) and to the duplicate window (a close of the
same symbol, or a second close of everything); a person's flatten is not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal
from typing import Any

from .._numbers import format_decimal, to_decimal
from ..decisions import AGENT_SOURCES, OrderContext
from ..enums import TimeInForce
from ..errors import InvalidOrderError, Reason
from ..models import ClosePositionResult, Position
from ..orders import MAX_QTY_PLACES, Order, OrderRequest
from .cache import StateCache
from .gate import Gate
from .journal import Journal
from .link import BrokerLink, Recorder

__all__ = ["Closer"]

QTY_STEP = Decimal(1).scaleb(-MAX_QTY_PLACES)
#: The symbol a close of every position is journaled under.
EVERYTHING = "*"


class Closer:
    """Closes positions of one gated broker; handed the parts it uses."""

    def __init__(
        self,
        *,
        link: BrokerLink,
        gate: Gate,
        journal: Journal,
        cache: StateCache,
        recorder: Recorder,
        config: Mapping[str, Any],
    ) -> None:
        self.link = link
        self.gate = gate
        self.journal = journal
        self.cache = cache
        self.recorder = recorder
        self.config = config

    def request(self, symbol: str, *, qty: Any = None, percentage: Any = None) -> OrderRequest:
        """The order that closing ``symbol`` (all, ``qty`` shares or ``percentage``) amounts to."""
        amount, share = _close_amounts(qty, percentage)
        position = self.link.get_position(symbol)
        amount, share = self._whole(position, amount, share)
        return _closing(position, amount, share, self._tif())

    def _tif(self) -> TimeInForce:
        """The time in force a closing order is shown with: the broker's default."""
        return self.link.host.broker_type(self.link.name).capabilities.order_time_in_force

    def _fractional(self) -> bool:
        return self.link.host.broker_type(self.link.name).capabilities.fractional

    def _whole(
        self, position: Position | None, amount: Decimal | None, share: Decimal | None
    ) -> tuple[Decimal | None, Decimal | None]:
        """``amount`` and ``share`` in whole shares for a broker without fractional ones."""
        if self._fractional() or (amount is None and share in (None, 100)):
            return amount, share
        name = self.link.name
        if amount is not None:
            if amount != amount.to_integral_value():
                raise InvalidOrderError(
                    f"broker {name!r} trades whole shares only; give qty as a whole number"
                )
            return amount, None
        assert position is not None
        assert share is not None
        held = abs(position.qty)
        whole = (held * share / 100).to_integral_value(ROUND_DOWN)
        if whole < 1:
            raise InvalidOrderError(
                f"{format_decimal(share)}% of {format_decimal(held)} {position.symbol} shares is "
                f"under one share, and broker {name!r} trades whole shares only; close a larger "
                "percentage or give qty",
                details={"symbol": position.symbol, "percentage": str(share)},
            )
        return whole, None

    def all_requests(self) -> list[OrderRequest]:
        """The orders that closing every position amounts to."""
        tif = self._tif()
        return [_closing(position, None, None, tif) for position in self.link.get_positions()]

    def close(
        self,
        symbol: str,
        *,
        qty: Any = None,
        percentage: Any = None,
        context: OrderContext | None = None,
    ) -> Order:
        ctx = context or OrderContext()
        amount, share = _close_amounts(qty, percentage)
        self.gate.require_mode(None, ctx)
        self.gate.require_closable(ctx)
        confirm = bool(self.config["require_confirmation"])
        rounds = share not in (None, 100) and not self._fractional()
        position = self.link.get_position(symbol) if confirm or rounds else None
        amount, share = self._whole(position, amount, share)
        if confirm:
            assert position is not None
            self.gate.confirm_closes([_closing(position, amount, share, self._tif())], ctx)
        self._admit(symbol, ctx, {"qty": qty, "percentage": percentage})
        generation = self.cache.generation
        order = self.link.close_position(symbol, amount, share)
        self.cache.apply(order, generation=generation)
        self.journal.append(
            "close",
            {"symbol": symbol, "order": order.to_dict(), **ctx.provenance()},
            broker=self.link.name,
        )
        self.recorder.record("accepted", None, ctx, order=order)
        return order

    def close_all(
        self, *, cancel_orders: bool = False, context: OrderContext | None = None
    ) -> list[ClosePositionResult]:
        ctx = context or OrderContext()
        self.gate.require_mode(None, ctx)
        self.gate.require_closable(ctx)
        if self.config["require_confirmation"]:
            self.gate.confirm_closes(self.all_requests(), ctx)
        self._admit(EVERYTHING, ctx, {"cancel_orders": cancel_orders})
        generation = self.cache.generation
        results = self.link.close_all_positions(cancel_orders)
        for result in results:
            if result.order is not None:
                self.cache.apply(result.order, generation=generation)
        self.journal.append(
            "close_all",
            {"results": [r.to_dict() for r in results], **ctx.provenance()},
            broker=self.link.name,
        )
        for result in results:
            if result.order is not None:
                self.recorder.record("accepted", None, ctx, order=result.order)
        return results

    def _admit(self, symbol: str, ctx: OrderContext, amounts: dict[str, Any]) -> None:
        """Journal the close in the write section; an agent's must pass rate and repeats."""
        journal, name = self.journal, self.link.name
        with journal.transaction():
            reason = self._agent_limits(symbol, ctx) if ctx.source in AGENT_SOURCES else None
            record = {"symbol": symbol, **amounts, **ctx.provenance()}
            if reason is not None:
                denied = {"action": "close", **record, "reason": reason.to_dict()}
                journal.append("denied", denied, broker=name)
            else:
                journal.append("close_requested", record, broker=name)
        if reason is not None:
            self.gate.deny(None, ctx, [reason])

    def _agent_limits(self, symbol: str, ctx: OrderContext) -> Reason | None:
        journal, name, config = self.journal, self.link.name, self.config
        now = journal.now()
        for seconds, key in ((1, "max_orders_per_second"), (60, "max_orders_per_minute")):
            since = now - dt.timedelta(seconds=seconds)
            count = journal.count_admitted(name, since) + journal.count_closes(name, since)
            if count + 1 > int(config[key]):
                return Reason(
                    "RATE_LIMIT_EXCEEDED",
                    f"{count} orders and closes in the last {seconds}s; {key}={config[key]}; "
                    "wait and retry",
                    "rate_limit",
                )
        window = int(config["duplicate_window_seconds"])
        if window and not ctx.allow_repeat:
            since = now - dt.timedelta(seconds=window)
            for earlier in journal.payloads_since("close_requested", name, since):
                if earlier.get("symbol") == symbol and earlier.get("source") in AGENT_SOURCES:
                    return Reason(
                        "DUPLICATE_ORDER",
                        f"{_what(symbol)} was asked for less than {window}s ago; it is being "
                        "done: look at the positions before closing again",
                        "duplicate_order",
                    )
        return None


def _what(symbol: str) -> str:
    return "closing every position" if symbol == EVERYTHING else f"closing {symbol}"


def _close_amounts(qty: Any, percentage: Any) -> tuple[Decimal | None, Decimal | None]:
    """``qty`` and ``percentage`` of a close, validated: at most one, within range."""
    if qty is not None and percentage is not None:
        raise InvalidOrderError("give qty or percentage to close, not both")
    amount = None if qty is None else to_decimal(qty, "qty", InvalidOrderError)
    if amount is not None and amount <= 0:
        raise InvalidOrderError("qty to close must be greater than zero")
    share = None if percentage is None else to_decimal(percentage, "percentage", InvalidOrderError)
    if share is not None and not 0 < share <= 100:
        raise InvalidOrderError("percentage to close must be above 0 and at most 100")
    return amount, share


def _closing(
    position: Position,
    amount: Decimal | None,
    share: Decimal | None,
    time_in_force: TimeInForce = TimeInForce.DAY,
) -> OrderRequest:
    """The market order on the other side of ``position`` that a close sends."""
    held = abs(position.qty)
    qty = amount if amount is not None else held * (share or 100) / 100
    return OrderRequest(
        symbol=position.symbol,
        side="sell" if position.qty > 0 else "buy",
        qty=qty.quantize(QTY_STEP, ROUND_DOWN),
        time_in_force=time_in_force,
    )
