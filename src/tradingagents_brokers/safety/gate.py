"""The gate: the one path every new order takes (DESIGN §5).

:class:`Gate` belongs to one :class:`~tradingagents_brokers.gateway.GatedBroker`.
``submit`` runs, in order:

1. validation: the :class:`~tradingagents_brokers.orders.OrderRequest` itself, then
   the broker's capabilities -> ``InvalidOrderError``;
2. the mode gate: live needs ``broker_mode="live"``, ``auto_execute_trades=True``
   and the live credentials -> ``OrderBlockedError`` (journaled);
3. inside one journal transaction (``BEGIN IMMEDIATE``, so two processes cannot
   both pass a limit only one should): the trading state, every ``check_order``
   risk check (failing closed), the ``confirm_order`` approval, and the intent
   with its decisions - one durable commit before anything is sent;
4. submission by :class:`~tradingagents_brokers.safety.submission.Submitter` with
   the intent's ``client_order_id``; the answer is the second commit;
5. the outcome is logged to ``tradingagents.broker.trades`` and sent to
   ``on_order_event``.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from ..decisions import Approval, CheckContext, Decision, OrderContext
from ..enums import TradingMode
from ..errors import (
    BrokerConfigurationError,
    BrokerError,
    InvalidOrderError,
    OrderBlockedError,
    OrderRejectedError,
    Reason,
)
from ..events import OrderEvent, OrderEventKind
from ..models import BrokerCapabilities
from ..orders import Order, OrderChanges, OrderRequest
from ..streams import OrderUpdate
from .cache import RATE_WINDOW
from .checks import REQUIRED_CHECKS, MissingData, dedupe_key, order_value
from .journal import UNRESOLVED
from .state import TradingState, current_state, state_decision

if TYPE_CHECKING:
    from ..gateway import GatedBroker

__all__ = ["Gate", "OrderPreview", "check_capabilities", "replacement_request"]

trades_log = logging.getLogger("tradingagents.broker.trades")


@attrs.frozen
class OrderPreview:
    """What the gate would decide for an order, without sending it."""

    request: OrderRequest
    allowed: bool
    reasons: tuple[Reason, ...]
    decisions: tuple[Decision, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "request": self.request.to_dict(),
            "reasons": [r.to_dict() for r in self.reasons],
            "decisions": [d.to_dict() for d in self.decisions],
        }


def check_capabilities(request: OrderRequest, name: str, caps: BrokerCapabilities) -> None:
    """Refuse what broker ``name`` cannot do, before anything is sent."""

    def refuse(what: str, supported: Any = None) -> InvalidOrderError:
        hint = f"; it supports: {', '.join(sorted(str(s) for s in supported))}" if supported else ""
        return InvalidOrderError(f"broker {name!r} does not support {what}{hint}")

    if request.order_type not in caps.order_types:
        raise refuse(f"order type {request.order_type.value!r}", caps.order_types)
    if request.time_in_force not in caps.time_in_force:
        raise refuse(f"time in force {request.time_in_force.value!r}", caps.time_in_force)
    if request.order_class not in caps.order_classes:
        raise refuse(f"order class {request.order_class.value!r}", caps.order_classes)
    if request.notional is not None and not caps.notional:
        raise refuse("notional (dollar) orders; give qty in shares")
    fractional = request.qty is not None and request.qty != request.qty.to_integral_value()
    if fractional and not caps.fractional:
        raise refuse("fractional quantities; use a whole number of shares")
    if request.extended_hours and not caps.extended_hours:
        raise refuse("extended-hours orders")


class Gate:
    """Validation, the mode gate, trading state, risk checks, confirmation and the journal."""

    def __init__(self, gated: GatedBroker) -> None:
        self.gated = gated

    def preview(self, request: OrderRequest, context: OrderContext | None = None) -> OrderPreview:
        """Run validation, the mode gate, the trading state and every risk check; send nothing."""
        ctx = context or OrderContext()
        check_capabilities(request, self.gated.name, self.gated.capabilities)
        reasons: list[Reason] = []
        blocked = self.mode_block()
        if blocked:
            reasons.append(Reason("MODE_BLOCKED", blocked, "mode_gate"))
        decisions = self.decide(request, self.check_context(request, ctx))
        reasons.extend(Reason(d.code, d.reason, d.check) for d in decisions if not d.allowed)
        return OrderPreview(request, not reasons, tuple(reasons), tuple(decisions))

    def submit(self, request: OrderRequest, context: OrderContext | None = None) -> Order:
        """Take ``request`` through the whole gate and send it. See the module docstring."""
        ctx = context or OrderContext()
        check_capabilities(request, self.gated.name, self.gated.capabilities)
        self.require_mode(request, ctx)
        self.require_ready()
        if request.client_order_id is not None:
            replay = self.replay(request.client_order_id)
            if replay is not None:
                return replay
        self.gated.stream.poll()
        journal, cache = self.gated.journal, self.gated.cache
        with journal.transaction():
            synced = cache.sync() if self.gated.stream.stream is not None else None
            check_ctx = self.check_context(request, ctx, synced=True)
            decisions = self.decide(request, check_ctx)
            reasons = [Reason(d.code, d.reason, d.check) for d in decisions if not d.allowed]
            approval = None
            if not reasons and self.gated.config["require_confirmation"]:
                approval = self.gated.host.confirm_order(
                    request, ctx, self.gated.name, self.gated.mode
                )
                if not approval.approved:
                    reasons.append(_approval_reason(approval))
            # One event holds the intent, what was decided, on what state and under which
            # limits, who approved it, and (when admitted) that attempt 1 is being sent.
            record: dict[str, Any] = {
                "request": request.to_dict(),
                "context": ctx.to_dict(),
                "mode": self.gated.mode.value,
                "limits_hash": self.gated.limits_hash,
                "decisions": [d.to_dict() for d in decisions],
                "state": self.state_record(check_ctx),
            }
            if approval is not None:
                record["approval"] = approval.to_dict()
            if not reasons:
                record["attempt"] = 1
            intent = journal.new_intent(
                {
                    "broker": self.gated.name,
                    "symbol": request.symbol,
                    "side": request.side.value,
                    "qty": request.qty,
                    "notional": request.notional,
                    "value": _estimated_value(request, check_ctx) if not reasons else None,
                    "dedupe_key": dedupe_key(request),
                    "status": "denied" if reasons else "submitting",
                    "source": ctx.source,
                    "client_order_id": request.client_order_id,
                },
                record,
            )
            if synced is not None:
                cache.adopt(intent, after=synced)
        request = request.with_client_order_id(intent.client_order_id)
        if reasons:
            self.deny(request, ctx, reasons)
        return self.gated.submitter.send(intent, request, ctx)

    def replay(self, client_order_id: str) -> Order | None:
        """A caller resending its own client order id gets the first outcome, not a second order."""
        try:
            intent = self.gated.journal.intent(client_order_id)
        except KeyError:
            return None
        if intent.status == "denied":
            raise OrderRejectedError(
                f"client_order_id {client_order_id} was refused before; "
                "use a new id for a new order"
            )
        return self.gated.get_order_by_client_id(client_order_id)

    def decide(self, request: OrderRequest, ctx: CheckContext) -> list[Decision]:
        state = current_state(self.gated.journal)
        return [state_decision(state, request, ctx), *self.gated.host.check_order(request, ctx)]

    def require_checks(self) -> None:
        """Refuse to work without every required risk check (checked at start-up and per order)."""
        missing = [name for name in REQUIRED_CHECKS if self.gated.host.pm.get_plugin(name) is None]
        if missing:
            raise BrokerConfigurationError(
                f"required risk check(s) {', '.join(missing)} are not registered; the gate "
                "refuses to send orders without them"
            )

    def require_ready(self) -> None:
        self.require_checks()
        if self.gated._needs_reconcile:
            report = self.gated.reconcile()
            if not report.ok:
                raise BrokerError(
                    "the journal could not be reconciled with the broker, so no new orders are "
                    f"sent: {report.failed[0]['error']}; retry with tradingagents-brokers reconcile"
                )

    def require_mode(
        self, request: OrderRequest | None = None, ctx: OrderContext | None = None
    ) -> None:
        blocked = self.mode_block()
        if blocked:
            self.gated.journal.append(
                "blocked",
                {
                    "reason": blocked,
                    "request": request.to_dict() if request else None,
                    "context": ctx.to_dict() if ctx else None,
                },
                broker=self.gated.name,
            )
            raise OrderBlockedError(
                blocked, details={"broker": self.gated.name, "mode": self.gated.mode.value}
            )

    def mode_block(self) -> str | None:
        if self.gated.mode is not TradingMode.LIVE:
            return None
        if not self.gated.config["auto_execute_trades"]:
            return (
                "live trading is not enabled, so nothing was sent: set "
                "'auto_execute_trades: True' (with broker_mode 'live') to send live orders"
            )
        missing = self.gated.host.missing_credentials(self.gated.name, self.gated.mode)
        if missing:
            return (
                f"live credentials are missing ({', '.join(missing)}), so nothing was sent: "
                "set them in the environment"
            )
        return None

    def check_context(
        self, request: OrderRequest, ctx: OrderContext, *, synced: bool = False
    ) -> CheckContext:
        """What the checks read: the state cache while the order stream is live, else the broker.

        Call inside the journal transaction when deciding for real, so the journal
        reads (in flight, recent orders) and the cache's catch-up are atomic with
        the intent they admit. ``synced``: the caller has just caught the cache up.
        """
        gated, journal, name = self.gated, self.gated.journal, self.gated.name
        cache = gated.cache
        if gated.stream.stream is not None and not synced:
            cache.sync()

        def since(seconds: float) -> dt.datetime:
            return journal.now() - dt.timedelta(seconds=seconds)

        reads: dict[str, Any] = {
            "fetch_recent": lambda seconds: [
                i
                for i in journal.intents(broker=name, since=since(seconds))
                if i.status != "denied"
            ],
            "fetch_count_recent": lambda seconds: journal.count_admitted(name, since(seconds)),
            "fetch_recent_duplicate": lambda seconds, key: journal.admitted_with_key(
                name, since(seconds), key
            ),
        }
        if gated.stream.live:
            reads.update(
                fetch_account=lambda: cache.account(gated.get_account)[0],
                fetch_positions=cache.positions,
                fetch_open_orders=cache.open_orders,
                fetch_symbol_orders=cache.open_orders,
                fetch_unfilled=cache.unfilled,
                fetch_quote=lambda symbol: cache.quotes.quote(symbol, gated.read_quote),
                fetch_in_flight=cache.in_flight,
                fetch_account_in_flight=cache.account_in_flight,
                fetch_account_in_flight_buys=cache.account_in_flight_buys,
                fetch_count_recent=lambda seconds: (
                    cache.count_admitted(seconds)
                    if seconds <= RATE_WINDOW
                    else journal.count_admitted(name, since(seconds))
                ),
                state_source="stream",
            )
        else:
            reads.update(
                fetch_account=gated.get_account,
                fetch_positions=gated.get_positions,
                fetch_open_orders=lambda: gated.get_orders("open"),
                fetch_quote=gated.read_quote,
                fetch_in_flight=lambda: journal.intents(broker=name, statuses=UNRESOLVED),
            )
        return CheckContext(
            request=request,
            order=ctx,
            broker_name=name,
            mode=gated.mode,
            config=gated.config,
            now=journal.now,
            **reads,
        )

    def state_record(self, check_ctx: CheckContext) -> dict[str, Any]:
        """Where the decision's broker state came from, how old it was, and the prices used."""
        record: dict[str, Any] = {"source": check_ctx.state_source}
        if check_ctx.state_source == "stream":
            record.update(self.gated.cache.as_of())
        quotes = check_ctx.quotes_used()
        if quotes:
            record["quotes"] = [q.to_dict() for q in quotes]
        return record

    def deny(self, request: OrderRequest, ctx: OrderContext, reasons: list[Reason]) -> None:
        summary = "; ".join(f"{r.code}: {r.message}" for r in reasons)
        error = OrderRejectedError(f"order refused by the safety gate: {summary}", reasons=reasons)
        self.record("denied", request, ctx, error=error.to_dict())
        raise error

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
        if trades_log.isEnabledFor(logging.INFO):
            self._log(kind, request, ctx, order, error)
        self.gated.host.emit(
            OrderEvent(
                kind=kind,
                broker_name=self.gated.name,
                request=request,
                order=order,
                context=ctx,
                error=error,
                update=update,
            )
        )

    def _log(
        self,
        kind: OrderEventKind,
        request: OrderRequest | None,
        ctx: OrderContext,
        order: Order | None,
        error: dict[str, Any] | None,
    ) -> None:
        subject = request.to_dict() if request else {}
        trades_log.info(
            "%s broker=%s mode=%s source=%s symbol=%s side=%s qty=%s notional=%s "
            "client_order_id=%s order_id=%s status=%s code=%s",
            kind,
            self.gated.name,
            self.gated.mode.value,
            ctx.source,
            subject.get("symbol") or (order.symbol if order else None),
            subject.get("side"),
            subject.get("qty"),
            subject.get("notional"),
            subject.get("client_order_id") or (order.client_order_id if order else None),
            order.order_id if order else None,
            order.status.value if order else None,
            error["code"] if error else None,
        )

    def confirm_closes(self, requests: list[OrderRequest], ctx: OrderContext) -> None:
        """Ask ``confirm_order`` about each closing order; journal each answer; refuse on a no."""
        for request in requests:
            approval = self.gated.host.confirm_order(request, ctx, self.gated.name, self.gated.mode)
            self.gated.journal.append(
                "confirmation",
                {
                    **approval.to_dict(),
                    "action": "close",
                    "request": request.to_dict(),
                    **ctx.provenance(),
                },
                broker=self.gated.name,
            )
            if not approval.approved:
                self.deny(request, ctx, [_approval_reason(approval)])

    def require_closable(self, ctx: OrderContext) -> None:
        """Closing reduces risk, so only HALTED stops it."""
        if current_state(self.gated.journal) is TradingState.HALTED:
            reason = Reason(
                "TRADING_HALTED", "trading is halted; only cancels are accepted", "trading_state"
            )
            self.gated.journal.append(
                "denied",
                {"action": "close", "reason": reason.to_dict(), **ctx.provenance()},
                broker=self.gated.name,
            )
            self.deny(None, ctx, [reason])  # type: ignore[arg-type]


def _approval_reason(approval: Approval) -> Reason:
    return Reason(
        "CONFIRMATION_DENIED",
        approval.reason or f"{approval.approver} did not approve the order",
        approval.approver,
    )


def _estimated_value(request: OrderRequest, ctx: CheckContext) -> Decimal | None:
    try:
        return order_value(request, ctx)
    except MissingData:
        return None


def replacement_request(order: Order, changes: OrderChanges) -> OrderRequest:
    """The request an order would become after ``changes`` (for the risk checks)."""
    return OrderRequest(
        symbol=order.symbol,
        side=order.side,
        qty=changes.qty or order.qty,
        notional=None if (changes.qty or order.qty) else order.notional,
        order_type=order.order_type,
        time_in_force=changes.time_in_force or order.time_in_force,
        limit_price=changes.limit_price or order.limit_price,
        stop_price=changes.stop_price or order.stop_price,
        # A replace's ``trail`` changes whichever trail the order has: a price or a percent.
        trail_price=None if order.trail_percent is not None else changes.trail or order.trail_price,
        trail_percent=None if order.trail_percent is None else changes.trail or order.trail_percent,
        extended_hours=order.extended_hours,
    )
