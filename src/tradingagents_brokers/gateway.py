"""The gated broker: one broker instance behind the safety gate.

:class:`GatedBroker` is what Python callers, ``route_to_broker``, the CLI and agent
tools hold. Reads pass straight through to the operation hooks; new orders go
through :class:`~tradingagents_brokers.safety.gate.Gate` (validation, mode gate,
trading state, risk checks, confirmation, journal) and are sent by
:class:`~tradingagents_brokers.safety.submission.Submitter`; replacing and closing
pass the gate's checks that apply to them; cancels are never blocked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from .broker import Broker, BrokerType, OrderQuery
from .config import risk_limits_hash
from .decisions import OrderContext
from .enums import TradingMode
from .errors import (
    BrokerError,
    InvalidOrderError,
    NotSupportedError,
)
from .events import OrderEventKind
from .host import PluginHost
from .listing import check_window
from .models import (
    Account,
    Asset,
    BrokerCapabilities,
    Clock,
    ClosePositionResult,
    PortfolioHistory,
    Position,
    Quote,
)
from .orders import MAX_QTY_PLACES, Order, OrderChanges, OrderRequest, normalize_symbol
from .safety.cache import StateCache
from .safety.closing import Closer
from .safety.gate import Gate
from .safety.journal import Journal
from .safety.link import BrokerLink, Recorder
from .safety.reconcile import Reconciler, ReconcileReport
from .safety.state import TradingState, set_state
from .safety.stream import StreamConsumer
from .safety.submission import Submitter
from .safety.validation import OrderPreview, check_capabilities, check_replace
from .store import open_journal
from .store.registry import Heartbeat, Owner, Registry
from .streams import OrderUpdate

__all__ = ["GatedBroker", "OrderPreview", "check_capabilities"]

trades_log = logging.getLogger("tradingagents.broker.trades")
log = logging.getLogger("tradingagents.broker")

_REQUEST_FIELDS = frozenset(f.name for f in attrs.fields(OrderRequest))
QTY_STEP = Decimal(1).scaleb(-MAX_QTY_PLACES)


class GatedBroker:
    """One broker instance behind the gate.

    Build it with :func:`~tradingagents_brokers.get_broker`.
    """

    def __init__(
        self,
        host: PluginHost,
        name: str,
        broker: Broker,
        config: Mapping[str, Any],
        journal: Journal | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        owns_journal: bool | None = None,
    ) -> None:
        self.host = host
        self.name = name
        self.broker = broker
        self.config: Mapping[str, Any] = MappingProxyType(dict(config))
        self.mode = TradingMode(config["broker_mode"])
        self.broker_type: BrokerType = host.broker_type(name)
        self.limits_hash = risk_limits_hash(config)
        self._owns_journal = journal is None if owns_journal is None else owns_journal
        self.journal = journal if journal is not None else open_journal(config)
        owner_timeout = float(config["owner_timeout_seconds"])
        self.registry = Registry(
            self.journal.backend, now=self.journal.now, owner_timeout=owner_timeout
        )
        self._owner: Owner | None = None
        self._heartbeat: Heartbeat | None = None
        self._owner_lock = threading.Lock()
        link = BrokerLink(host, name, broker, self.mode)
        self.recorder = Recorder(host, name, self.mode)
        #: What the risk checks read while the order stream is live (``docs/order-path.md``).
        self.cache = StateCache(
            self.journal,
            name,
            max_age_seconds=int(config["state_max_age_seconds"]),
            quote_seconds=int(config["quote_cache_seconds"]),
            quote_max_age_seconds=int(config["quote_max_age_seconds"]),
        )
        self.reconciler = Reconciler(
            link,
            self.journal,
            self.registry,
            owner=lambda: self._owner.owner if self._owner else None,
            sending=lambda: self.submitter.sending(),
            submit_timeout=float(config["submit_timeout_seconds"]),
            owner_timeout=owner_timeout,
            lookups=int(config["reconcile_lookups"]),
        )
        self.stream = StreamConsumer(
            link=link,
            journal=self.journal,
            cache=self.cache,
            recorder=self.recorder,
            reconciler=self.reconciler,
        )
        self.submitter = Submitter(
            link=link,
            journal=self.journal,
            cache=self.cache,
            stream=self.stream,
            recorder=self.recorder,
            retries=int(config["submit_retries"]),
            timeout=float(config["submit_timeout_seconds"]),
            sleep=sleep,
        )
        self.gate = Gate(
            link=link,
            capabilities=self.broker_type.capabilities,
            journal=self.journal,
            cache=self.cache,
            stream=self.stream,
            submitter=self.submitter,
            recorder=self.recorder,
            reconciler=self.reconciler,
            config=self.config,
            limits_hash=self.limits_hash,
            owner=self.owner,
        )
        self.closer = Closer(
            link=link,
            gate=self.gate,
            journal=self.journal,
            cache=self.cache,
            recorder=self.recorder,
            config=self.config,
        )
        self.gate.require_checks()
        if config["order_stream"] and self.capabilities.order_updates:
            self.stream.start()
            self._start_quote_stream()

    def owner(self) -> str:
        """This gated broker's id in the store's registry (registered before its first order)."""
        with self._owner_lock:
            if self._owner is None:
                self._owner = self.registry.register(self.name)
                interval = float(self.config["owner_timeout_seconds"]) / 6
                self._heartbeat = Heartbeat(self.registry, self._owner, interval, holder=self)
            return self._owner.owner

    def __repr__(self) -> str:
        return f"<GatedBroker {self.name!r} mode={self.mode.value}>"

    @property
    def capabilities(self) -> BrokerCapabilities:
        return self.broker_type.capabilities

    def _start_quote_stream(self) -> None:
        """Follow the broker's trades where it can stream them (``safety/quotes.py``)."""
        board = self.cache.quotes
        if not self.config["quote_stream"] or board.max_age.total_seconds() <= 0:
            board.attach(None, "quote_stream is off (or quote_cache_seconds is 0)")
        elif not self.capabilities.quote_updates:
            board.attach(None, f"broker {self.name!r} offers no quote stream")
        else:
            try:
                stream = self.host.subscribe_quotes(self.name, self.broker, board)
            except Exception as exc:  # prices are read instead; the status says why
                log.exception("the %s quote stream could not start; prices are read", self.name)
                board.attach(None, f"the quote stream could not start ({type(exc).__name__})")
                return
            board.attach(stream, "no symbol confirmed yet" if stream else "no quote stream offered")

    def close(self) -> None:
        quotes = self.cache.quotes.detach("closed")
        if quotes is not None:
            quotes.close()
        self.stream.close()
        self.broker.close()
        with self._owner_lock:
            if self._heartbeat is not None:
                self._heartbeat.stop()
            if self._owner is not None:
                try:
                    self.registry.leave(self._owner)
                except BrokerError as exc:  # it will look gone once its heartbeat is old
                    log.warning("could not leave the registry: %s", exc.message)
            self._owner = self._heartbeat = None
        if self._owns_journal:
            self.journal.close()

    def __enter__(self) -> GatedBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads -----------------------------------------------------------------------

    def get_account(self) -> Account:
        return self.host.get_account(self.name, self.broker)

    def get_buying_power(self) -> Decimal:
        return self.get_account().buying_power

    def get_positions(self) -> list[Position]:
        return self.host.get_positions(self.name, self.broker)

    def get_position(self, symbol: str) -> Position:
        return self.host.get_position(self.name, self.broker, normalize_symbol(symbol))

    def get_order(self, order_id: str) -> Order:
        symbol = self.journal.symbol_of(self.name, order_id=order_id)
        return self.host.get_order(self.name, self.broker, order_id, symbol)

    def get_order_by_client_id(self, client_order_id: str) -> Order:
        symbol = self.journal.symbol_of(self.name, client_order_id=client_order_id)
        return self.host.get_order_by_client_id(self.name, self.broker, client_order_id, symbol)

    def get_orders(
        self,
        status: OrderQuery = "open",
        limit: int | None = None,
        symbols: Sequence[str] | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Order]:
        """Orders, newest first; ``after``/``until`` page back in time (see :mod:`.listing`)."""
        if status not in ("open", "closed", "all"):
            raise InvalidOrderError(f"status {status!r} is not valid; use open, closed or all")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise InvalidOrderError(f"limit must be a positive whole number, got {limit!r}")
        wanted = [normalize_symbol(s) for s in symbols] if symbols else None
        after, until = check_window(after, until)
        return self.host.get_orders(self.name, self.broker, status, limit, wanted, after, until)

    def get_portfolio_history(
        self, period: str | None = None, timeframe: str | None = None
    ) -> PortfolioHistory:
        if not self.capabilities.portfolio_history:
            raise NotSupportedError(
                f"broker {self.name!r} keeps no history of the account's equity; "
                "use get_account for its value now"
            )
        return self.host.get_portfolio_history(self.name, self.broker, period, timeframe)

    def get_clock(self) -> Clock:
        return self.host.get_clock(self.name, self.broker)

    def get_asset(self, symbol: str) -> Asset:
        return self.host.get_asset(self.name, self.broker, normalize_symbol(symbol))

    def get_quote(self, symbol: str) -> Quote:
        """The reference price the risk checks would judge an order by, now.

        While the order stream is live that is the state cache's: streamed by the
        broker's quote stream, or read within ``quote_cache_seconds`` (an agent that
        looks at the price and then orders pays one read, not two). Otherwise it
        is read.
        """
        wanted = normalize_symbol(symbol)
        if self.stream.live:
            return self.cache.quotes.quote(wanted, self.read_quote)
        return self.read_quote(wanted)

    def read_quote(self, symbol: str) -> Quote:
        """A price read from the broker now (through the ``get_quote`` hook)."""
        return self.host.get_quote(self.name, self.broker, normalize_symbol(symbol))

    # -- the order path --------------------------------------------------------------

    def build_request(self, **fields: Any) -> OrderRequest:
        """An :class:`OrderRequest` from keyword fields; unknown fields are an error.

        Without ``time_in_force`` (or with None) the order gets the broker's
        ``default_time_in_force``.
        """
        unknown = sorted(set(fields) - _REQUEST_FIELDS)
        if unknown:
            raise InvalidOrderError(
                f"unknown order field(s) {', '.join(unknown)}; accepted: "
                f"{', '.join(sorted(_REQUEST_FIELDS))}"
            )
        if "symbol" not in fields or "side" not in fields:
            raise InvalidOrderError("an order needs a symbol and a side ('buy' or 'sell')")
        if fields.get("time_in_force") is None:
            # An order that names no time in force gets the broker's default (day for most).
            fields = {**fields, "time_in_force": self.capabilities.order_time_in_force}
        return OrderRequest(**fields)

    def place_order(self, *, context: OrderContext | None = None, **fields: Any) -> Order:
        """Build a request from ``fields`` (symbol, side, qty or notional, ...) and submit it."""
        return self.submit(self.build_request(**fields), context=context)

    def preview(self, request: OrderRequest, context: OrderContext | None = None) -> OrderPreview:
        """Run validation, the mode gate, the trading state and every risk check; send nothing."""
        return self.gate.preview(request, context)

    def submit(self, request: OrderRequest, context: OrderContext | None = None) -> Order:
        """Take ``request`` through the whole gate and send it (see :mod:`.safety.gate`)."""
        return self.gate.submit(request, context)

    def record(
        self,
        kind: OrderEventKind,
        request: OrderRequest | None,
        ctx: OrderContext,
        *,
        order: Order | None = None,
        error: dict[str, Any] | None = None,
        update: OrderUpdate | None = None,
    ) -> None:
        """Log an outcome to ``tradingagents.broker.trades`` and tell ``on_order_event``."""
        self.recorder.record(kind, request, ctx, order=order, error=error, update=update)

    # -- trading state and reconciliation ---------------------------------------------

    def trading_state(self) -> dict[str, Any]:
        """The current trading state: ``{"state", "reason", "by", "at"}``."""
        return self.journal.trading_state()

    def halt(
        self, reason: str, *, cancel_open_orders: bool = False, context: OrderContext | None = None
    ) -> list[str]:
        """Stop all new orders (cancels still pass); optionally cancel every open order."""
        ctx = context or OrderContext()
        set_state(self.journal, TradingState.HALTED, reason=reason, by=ctx.source, context=ctx)
        return self.cancel_all_orders(context=ctx) if cancel_open_orders else []

    def reduce_only(self, reason: str, *, context: OrderContext | None = None) -> None:
        """Accept only orders that shrink a position."""
        ctx = context or OrderContext()
        set_state(self.journal, TradingState.REDUCING, reason=reason, by=ctx.source, context=ctx)

    def resume(self, reason: str, *, context: OrderContext | None = None) -> None:
        """Return to ACTIVE. Refused for agents: only a person resumes trading."""
        ctx = context or OrderContext()
        set_state(self.journal, TradingState.ACTIVE, reason=reason, by=ctx.source, context=ctx)

    def order_stream_status(self) -> dict[str, Any]:
        """Whether the risk checks read the state cache (``live``), and if not, why."""
        reason = self.cache.why_not_live() if self.stream.stream is not None else None
        return {
            "subscribed": self.stream.stream is not None,
            "live": self.stream.stream is not None and reason is None,
            "reason": reason
            if self.stream.stream is not None
            else "no order stream (order_stream is off, or the broker has none)",
            "updates": self.stream.updates,
            "snapshots": self.cache.snapshots,
            # What the stream says of itself: a polled stream's polls, failures, requests.
            "stream": self.stream.stream_status(),
        }

    def quote_stream_status(self) -> dict[str, Any]:
        """Whether reference prices come from the broker's quote stream, for which symbols."""
        return self.cache.quotes.status()

    def restart_order_stream(self) -> bool:
        """Drop the order stream and subscribe again; the cache is re-read on connect."""
        return self.stream.restart()

    def reconcile(self) -> ReconcileReport:
        """Bring every open intent of this broker to the broker's truth.

        The report includes what earlier passes in this gated broker changed (at
        the stream's connect, before the first order). See
        :mod:`tradingagents_brokers.safety.reconcile`.
        """
        return self.reconciler.report()

    # -- other order-changing operations --------------------------------------------

    def cancel_order(self, order_id: str, *, context: OrderContext | None = None) -> None:
        """Cancel one open order. Cancels are never blocked: they only reduce risk."""
        ctx = context or OrderContext()
        symbol = self.journal.symbol_of(self.name, order_id=order_id)
        self.host.cancel_order(self.name, self.broker, order_id, symbol)
        self.journal.append(
            "cancel_requested", {"order_id": order_id, **ctx.provenance()}, broker=self.name
        )
        # The broker confirms the cancel later (a fill can still win): "canceled" comes from
        # the order stream, or from reconciliation.
        self.record("cancel_requested", None, ctx, order=None)

    def cancel_all_orders(self, *, context: OrderContext | None = None) -> list[str]:
        """Cancel every open order; returns the ids asked to cancel."""
        ids = [order.order_id for order in self.get_orders("open")]
        for order_id in ids:
            self.cancel_order(order_id, context=context)
        return ids

    def replace_order(
        self, order_id: str, *, context: OrderContext | None = None, **changes: Any
    ) -> Order:
        """Replace an open order (qty, limit_price, stop_price, trail, time_in_force).

        The new terms pass the trading state and every risk check, as a new order would.
        """
        ctx = context or OrderContext()
        try:
            parsed = OrderChanges(**changes)
        except TypeError:
            raise InvalidOrderError(
                f"unknown replace field(s) in {sorted(changes)}; accepted: qty, limit_price, "
                "stop_price, trail, time_in_force, client_order_id"
            ) from None
        if not self.capabilities.replace:
            raise InvalidOrderError(
                f"broker {self.name!r} cannot replace orders; cancel and place anew"
            )
        check_replace(parsed, self.name, self.capabilities)
        self.gate.require_mode(None, ctx)
        current = self.get_order(order_id)
        order = self.gate.replace(current, parsed, ctx)
        in_place = order.order_id == order_id  # the broker changed the order itself (IB)
        replaced = attrs.evolve(current, status="replaced", replaced_by=order.order_id)
        if not in_place:
            self.cache.apply(replaced)
        payload = {"order_id": order_id, "order": order.to_dict(), "in_place": in_place}
        try:
            intent = self.journal.intent(current.client_order_id)
        except KeyError:  # an order placed elsewhere: nothing to move forward
            self.journal.append("replaced", payload, broker=self.name)
        else:
            # Recorded now, so the stream's later "replaced" for the old order is no news.
            self.journal.observe(
                intent.intent_id, replaced, kind="replaced", event=payload, record_unchanged=True
            )
        self.record("replaced", None, ctx, order=order)
        return order

    def close_request(
        self, symbol: str, *, qty: Any = None, percentage: Any = None
    ) -> OrderRequest:
        """The order that closing ``symbol`` (all, ``qty`` shares or ``percentage``) amounts to.

        This is what ``confirm_order`` approvers are asked about for a close.
        """
        return self.closer.request(normalize_symbol(symbol), qty=qty, percentage=percentage)

    def close_all_requests(self) -> list[OrderRequest]:
        """The orders that closing every position amounts to (see :meth:`close_request`)."""
        return self.closer.all_requests()

    def close_position(
        self,
        symbol: str,
        *,
        qty: Any = None,
        percentage: Any = None,
        context: OrderContext | None = None,
    ) -> Order:
        """Close all of a position, ``qty`` shares of it, or ``percentage`` (0-100] of it.

        With ``require_confirmation`` the close needs a ``confirm_order`` approval, as
        an order does (paper closes pass the default policy).
        """
        return self.closer.close(
            normalize_symbol(symbol), qty=qty, percentage=percentage, context=context
        )

    def close_all_positions(
        self, *, cancel_orders: bool = False, context: OrderContext | None = None
    ) -> list[ClosePositionResult]:
        """Close every position; each symbol's outcome is reported separately.

        With ``require_confirmation`` every position's close needs an approval first;
        one refusal refuses them all.
        """
        return self.closer.close_all(cancel_orders=cancel_orders, context=context)
