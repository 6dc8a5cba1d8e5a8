"""The values that pass through the gate's hooks: who asked, what the checks decided, who approved.

* :class:`OrderContext` - provenance of an order (python, cli, agent or mcp; agent and run
  ids, the tool call, and for MCP the client's name and the request id).
* :class:`Decision` - one risk check's explicit answer. ``None`` is never an answer:
  the gate treats a check that returns nothing as a denial.
* :class:`Approval` - the answer of the ``confirm_order`` hook.
* :class:`CheckContext` - what a risk check may look at, fetched lazily and at most once per order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Literal

import attrs

from ._serialize import to_json
from .enums import OrderSide, TradingMode
from .models import Account, Position, Quote
from .orders import Order, OrderRequest
from .safety.records import IntentRecord

__all__ = ["AGENT_SOURCES", "Approval", "CheckContext", "Decision", "OrderContext", "OrderSource"]

OrderSource = Literal["python", "cli", "agent", "mcp"]
#: Sources that are a model, not a person: they may halt trading but never resume it.
AGENT_SOURCES: frozenset[str] = frozenset({"agent", "mcp"})


#: The longest id an order's context keeps as given; a longer one is kept as its start
#: and a digest of the whole (still one id per id, at a bounded size in every record).
MAX_ID = 128


def _id(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    if len(text) <= MAX_ID:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return f"{text[: MAX_ID - 25]}~{digest}"


@attrs.frozen(kw_only=True)
class OrderContext:
    """Who asked for an order. Journaled with the order; shown to approvers.

    Ids come from agents and clients: each is kept to :data:`MAX_ID` characters.
    """

    source: OrderSource = "python"
    agent_id: str | None = attrs.field(default=None, converter=_id)
    run_id: str | None = attrs.field(default=None, converter=_id)
    tool_call_id: str | None = attrs.field(default=None, converter=_id)
    #: The program that relayed the call (an MCP client's name) and its request id.
    client: str | None = attrs.field(default=None, converter=_id)
    request_id: str | None = attrs.field(default=None, converter=_id)
    #: The caller says a repeat of a recent identical order is intended.
    allow_repeat: bool = False

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = to_json(self)
        return result

    def provenance(self) -> dict[str, Any]:
        """Who asked, for journal records: the source and whichever ids are known."""
        ids = {
            "agent_id": self.agent_id,
            "run_id": self.run_id,
            "tool_call_id": self.tool_call_id,
            "client": self.client,
            "request_id": self.request_id,
        }
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
        result: dict[str, Any] = to_json(self)
        return result


@attrs.frozen
class Approval:
    """An answer to ``confirm_order``: approved or not, by whom, and why."""

    approved: bool
    approver: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = to_json(self)
        return result


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.define(kw_only=True)
class CheckContext:
    """What risk checks see, fetched on first use and then kept for this order.

    The gate fills it from the broker's state cache while the broker's order
    stream is live, and from fresh reads of the broker otherwise (see
    ``docs/order-path.md``). Checks must treat a failed look-up as missing data
    and deny: the accessors raise the broker's error, which the gate turns into
    a denial of that check.
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
    #: Intents of this broker that the positions and open orders do not show yet:
    #: outcome unknown, not yet answered, or not yet seen on the order stream.
    fetch_in_flight: Callable[[], list[IntentRecord]] = attrs.field(default=list, repr=False)
    #: Intents of this broker admitted in the last N seconds (denials excluded).
    fetch_recent: Callable[[float], list[IntentRecord]] = attrs.field(
        default=lambda seconds: [], repr=False
    )
    #: Intents the account's buying power does not show yet (default: ``fetch_in_flight``).
    fetch_account_in_flight: Callable[[], list[IntentRecord]] | None = attrs.field(
        default=None, repr=False
    )
    #: The value of the buys among those (default: summed from ``fetch_account_in_flight``).
    fetch_account_in_flight_buys: Callable[[], Decimal] | None = attrs.field(
        default=None, repr=False
    )
    #: Open orders of one symbol (default: ``fetch_open_orders`` filtered).
    fetch_symbol_orders: Callable[[str], list[Order]] | None = attrs.field(default=None, repr=False)
    #: What the open orders of a symbol and side have left to fill, kept as a running
    #: sum: (shares left of the orders in shares, the orders in dollars). Optional.
    fetch_unfilled: Callable[[str, OrderSide], tuple[Decimal, list[Order]]] | None = attrs.field(
        default=None, repr=False
    )
    #: How many orders are open (default: ``fetch_open_orders`` counted).
    fetch_open_count: Callable[[], int] | None = attrs.field(default=None, repr=False)
    #: How many intents were admitted in the last N seconds (default: ``fetch_recent``).
    fetch_count_recent: Callable[[float], int] | None = attrs.field(default=None, repr=False)
    #: The newest admitted intent with a dedupe key in the last N seconds.
    fetch_recent_duplicate: Callable[[float, str], IntentRecord | None] | None = attrs.field(
        default=None, repr=False
    )
    #: The value of the orders admitted since the trading day began: (every source,
    #: agents only). Kept by the gate from the store; None where nobody keeps it.
    fetch_day_totals: Callable[[], tuple[Decimal, Decimal]] | None = attrs.field(
        default=None, repr=False
    )
    now: Callable[[], dt.datetime] = attrs.field(default=_utcnow, repr=False)
    #: The order id a replace would supersede (it leaves the open orders counted).
    replaces: str | None = None
    #: Where the broker state comes from: "broker" (read for this order) or "stream"
    #: (the state cache that the broker's order stream keeps current).
    state_source: str = "broker"
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

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Open orders at the broker (of ``symbol`` only, if given), without the one replaced."""
        if symbol is not None and self.fetch_symbol_orders is not None:
            fetch = self.fetch_symbol_orders
            orders: list[Order] = self._cached(f"open_orders:{symbol}", lambda: fetch(symbol))
        else:
            orders = self._cached("open_orders", self.fetch_open_orders)
            if symbol is not None:
                orders = [o for o in orders if o.symbol == symbol]
        return [o for o in orders if o.order_id != self.replaces]

    def open_count(self) -> int:
        """How many orders are open at the broker (without the one replaced)."""
        if self.fetch_open_count is None or self.replaces is not None:
            return len(self.open_orders())
        result: int = self._cached("open_count", self.fetch_open_count)
        return result

    def unfilled(self, symbol: str, side: OrderSide) -> tuple[Decimal, list[Order]] | None:
        """(shares the open orders in shares have left, the open orders in dollars), or None.

        None when the gate keeps no running sum, or when this order replaces one
        (that one must be left out): then count :meth:`open_orders` instead.
        """
        if self.fetch_unfilled is None or self.replaces is not None:
            return None
        fetch = self.fetch_unfilled
        result: tuple[Decimal, list[Order]] = self._cached(
            f"unfilled:{symbol}:{side.value}", lambda: fetch(symbol, side)
        )
        return result

    def in_flight(self) -> list[IntentRecord]:
        """Intents the positions and open orders do not show yet (they count as pending)."""
        result: list[IntentRecord] = self._cached("in_flight", self.fetch_in_flight)
        return result

    def account_in_flight(self) -> list[IntentRecord]:
        """Intents the account's buying power does not show yet."""
        if self.fetch_account_in_flight is None:
            return self.in_flight()
        result: list[IntentRecord] = self._cached("account_in_flight", self.fetch_account_in_flight)
        return result

    def account_in_flight_buys(self) -> Decimal:
        """The value of the buys among :meth:`account_in_flight` (what they will cost)."""
        if self.fetch_account_in_flight_buys is None:
            buys = (i.value or Decimal(0) for i in self.account_in_flight() if i.side == "buy")
            return sum(buys, Decimal(0))
        result: Decimal = self._cached("account_in_flight_buys", self.fetch_account_in_flight_buys)
        return result

    def recent(self, seconds: float) -> list[IntentRecord]:
        result: list[IntentRecord] = self._cached(
            f"recent:{seconds}", lambda: self.fetch_recent(seconds)
        )
        return result

    def count_recent(self, seconds: float) -> int:
        """How many intents were admitted in the last ``seconds`` (denials excluded)."""
        count = self.fetch_count_recent
        if count is None:
            return len(self.recent(seconds))
        result: int = self._cached(f"count_recent:{seconds}", lambda: count(seconds))
        return result

    def recent_duplicate(self, seconds: float, dedupe_key: str) -> IntentRecord | None:
        """The newest intent admitted in the last ``seconds`` with ``dedupe_key``, if any."""
        find = self.fetch_recent_duplicate
        if find is None:
            same = [
                i
                for i in self.recent(seconds)
                if i.dedupe_key == dedupe_key and i.status not in ("rejected", "not_placed")
            ]
            return same[0] if same else None
        result: IntentRecord | None = self._cached(
            f"duplicate:{seconds}:{dedupe_key}", lambda: find(seconds, dedupe_key)
        )
        return result

    def quote(self, symbol: str | None = None) -> Quote:
        wanted = symbol or self.request.symbol
        result: Quote = self._cached(f"quote:{wanted}", lambda: self.fetch_quote(wanted))
        return result

    def quotes_used(self) -> list[Quote]:
        """The reference prices the checks have asked for so far (for the audit trail)."""
        return [v for k, v in self._cache.items() if k.startswith("quote:")]
