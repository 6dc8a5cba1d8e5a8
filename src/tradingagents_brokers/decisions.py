"""The values that pass through the gate's hooks: who asked, what the checks decided, who approved.

* :class:`OrderContext` - provenance of an order (python, cli or agent; agent and run ids).
* :class:`Decision` - one risk check's explicit answer. ``None`` is never an answer:
  the gate treats a check that returns nothing as a denial.
* :class:`Approval` - the answer of the ``confirm_order`` hook.
* :class:`CheckContext` - what a risk check may look at, fetched lazily and at most once per order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from .enums import TradingMode
from .models import Account, Position, Quote
from .orders import Order, OrderRequest
from .safety.journal import IntentRecord

__all__ = ["Approval", "CheckContext", "Decision", "OrderContext", "OrderSource"]

OrderSource = Literal["python", "cli", "agent"]


@attrs.frozen(kw_only=True)
class OrderContext:
    """Who asked for an order. Journaled with the order; shown to approvers."""

    source: OrderSource = "python"
    agent_id: str | None = None
    run_id: str | None = None
    tool_call_id: str | None = None
    #: The caller says a repeat of a recent identical order is intended.
    allow_repeat: bool = False

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    def provenance(self) -> dict[str, Any]:
        """Who asked, for journal records: the source and whichever ids are known."""
        ids = {"agent_id": self.agent_id, "run_id": self.run_id, "tool_call_id": self.tool_call_id}
        return {"source": self.source, **{k: v for k, v in ids.items() if v is not None}}


@attrs.frozen
class Decision:
    """A risk check's verdict on one order.

    >>> Decision.deny("max_order_value", "ORDER_VALUE_EXCEEDS_MAX", "value 12000 > 10000").allowed
    False
    """

    check: str
    allowed: bool
    code: str = "ALLOWED"
    reason: str = ""

    @classmethod
    def allow(cls, check: str) -> Decision:
        return cls(check, True)

    @classmethod
    def deny(cls, check: str, code: str, reason: str) -> Decision:
        return cls(check, False, code, reason)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class Approval:
    """An answer to ``confirm_order``: approved or not, by whom, and why."""

    approved: bool
    approver: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.define(kw_only=True)
class CheckContext:
    """What risk checks see. Data comes from the broker on first use and is then cached.

    Checks must treat a failed look-up as missing data and deny: the accessors
    raise the broker's error, which the gate turns into a denial of that check.
    """

    request: OrderRequest
    order: OrderContext
    broker_name: str
    mode: TradingMode
    config: Mapping[str, Any]
    fetch_account: Callable[[], Account] = attrs.field(repr=False)
    fetch_positions: Callable[[], list[Position]] = attrs.field(repr=False)
    fetch_open_orders: Callable[[], list[Order]] = attrs.field(repr=False)
    fetch_quote: Callable[[str], Quote] = attrs.field(repr=False)
    #: Intents of this broker whose outcome is unknown or not yet answered.
    fetch_in_flight: Callable[[], list[IntentRecord]] = attrs.field(default=list, repr=False)
    #: Intents of this broker admitted in the last N seconds (denials excluded).
    fetch_recent: Callable[[float], list[IntentRecord]] = attrs.field(
        default=lambda seconds: [], repr=False
    )
    now: Callable[[], dt.datetime] = attrs.field(default=_utcnow, repr=False)
    #: The order id a replace would supersede (it leaves the open orders counted).
    replaces: str | None = None
    _cache: dict[str, Any] = attrs.field(factory=dict, repr=False)

    def _cached(self, key: str, load: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    def account(self) -> Account:
        result: Account = self._cached("account", self.fetch_account)
        return result

    def positions(self) -> list[Position]:
        result: list[Position] = self._cached("positions", self.fetch_positions)
        return result

    def open_orders(self) -> list[Order]:
        """Open orders at the broker, without the one being replaced."""
        result: list[Order] = self._cached("open_orders", self.fetch_open_orders)
        return [o for o in result if o.order_id != self.replaces]

    def in_flight(self) -> list[IntentRecord]:
        result: list[IntentRecord] = self._cached("in_flight", self.fetch_in_flight)
        return result

    def recent(self, seconds: float) -> list[IntentRecord]:
        result: list[IntentRecord] = self._cached(
            f"recent:{seconds}", lambda: self.fetch_recent(seconds)
        )
        return result

    def forget_journal_reads(self) -> None:
        """Drop cached journal reads (broker reads stay) before deciding inside a transaction."""
        for key in [k for k in self._cache if k == "in_flight" or k.startswith("recent:")]:
            del self._cache[key]

    def quote(self, symbol: str | None = None) -> Quote:
        wanted = symbol or self.request.symbol
        result: Quote = self._cached(f"quote:{wanted}", lambda: self.fetch_quote(wanted))
        return result
