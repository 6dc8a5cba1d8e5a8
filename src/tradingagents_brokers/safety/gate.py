"""The gate: the one path every new order takes (DESIGN §5).

:class:`Gate` belongs to one gated broker and is handed the narrow parts it uses
(the broker link, the journal, the state cache, the stream consumer, the
submitter, the recorder, the reconciler and the configuration). ``submit`` runs,
in order:

1. validation: the :class:`~tradingagents_brokers.orders.OrderRequest` itself, then
   the broker's capabilities -> ``InvalidOrderError``;
2. the mode gate: live needs ``broker_mode="live"``, ``auto_execute_trades=True``
   and the live credentials -> ``OrderBlockedError`` (journaled);
3. outside the store's write section: a first decision, in which the risk checks
   read the broker (recorded, :mod:`.reads`), and - when it passes and
   ``require_confirmation`` is on - the ``confirm_order`` approval, which may wait
   for a person;
4. inside the write section (one writer at a time across every process and host
   of the store, and no network call): the trading state, every ``check_order``
   risk check again on the recorded broker state and the store's current state
   (orders in flight, recent orders), and the intent with its decisions - one
   durable commit before anything is sent. Should a check need a broker read
   the first decision did not make, the gate reads it outside and decides again;
5. submission by :class:`~tradingagents_brokers.safety.submission.Submitter` with
   the intent's ``client_order_id``; the answer is the second commit;
6. the outcome is logged to ``tradingagents.broker.trades`` and sent to
   ``on_order_event``.

``replace`` takes the same path with the order's new terms: the replacement is an
intent of its own (its own client order id, the id of the order it replaces),
decided in the write section and counted in flight by every process until the
broker answers, like any new order.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import partial
from typing import Any

import attrs

from ..decisions import Approval, CheckContext, Decision, OrderContext
from ..enums import TradingMode
from ..errors import (
    BrokerConfigurationError,
    BrokerError,
    JournalDamagedError,
    OrderBlockedError,
    OrderRejectedError,
    Reason,
)
from ..models import BrokerCapabilities
from ..orders import Order, OrderChanges, OrderRequest
from .cache import StateCache
from .checks import REQUIRED_CHECKS, MissingData, dedupe_key, order_value
from .context import Marks, check_context, marks_of
from .guard import RECOVERY
from .instruments import InstrumentRules, check_instrument, check_price_places
from .journal import IntentRecord, Journal
from .limits import DayTotals
from .link import BrokerLink, Recorder
from .reads import BrokerReads
from .reconcile import Reconciler
from .records import compact
from .state import TradingState, current_state, state_decision
from .stream import StreamConsumer
from .submission import Submitter
from .validation import OrderPreview, check_capabilities, replacement_request
from .watch import Watch

__all__ = ["DECIDE_ATTEMPTS", "Gate"]

#: How often the gate decides again when the write section needs a read nobody made.
DECIDE_ATTEMPTS = 3


class Gate:
    """Validation, the mode gate, trading state, risk checks, confirmation and the journal."""

    def __init__(
        self,
        *,
        link: BrokerLink,
        capabilities: BrokerCapabilities,
        journal: Journal,
        cache: StateCache,
        stream: StreamConsumer,
        submitter: Submitter,
        recorder: Recorder,
        reconciler: Reconciler,
        config: Mapping[str, Any],
        limits_hash: str,
        owner: Callable[[], str],
    ) -> None:
        self.link = link
        self.capabilities = capabilities
        self.journal = journal
        self.cache = cache
        self.stream = stream
        self.submitter = submitter
        self.recorder = recorder
        self.reconciler = reconciler
        self.config = config
        self.limits_hash = limits_hash
        self.owner = owner
        self.day_totals = DayTotals(journal, link.name)
        self.watch = Watch(journal=journal, name=link.name, config=config, limits_hash=limits_hash)
        self.sleep = time.sleep
        self.instruments = InstrumentRules(
            lambda symbol: link.host.get_instrument(link.name, link.broker, symbol)
        )
        self._account_currency: str | None = None

    @property
    def name(self) -> str:
        return self.link.name

    @property
    def mode(self) -> TradingMode:
        return self.link.mode

    def validate(self, request: OrderRequest) -> None:
        """Refuse what the broker cannot take: its capabilities, then its price and size rules."""
        check_capabilities(request, self.name, self.capabilities)
        if not self.capabilities.instruments:
            check_price_places(request)
            return
        instrument = self.instruments.get(request.symbol)
        check_instrument(
            request, instrument, lambda: self._reference_price(request.symbol), self._currency
        )

    def _reference_price(self, symbol: str) -> Decimal:
        link = self.link
        if self.stream.live:
            read = partial(link.host.get_quote, link.name, link.broker)
            return self.cache.quotes.quote(symbol, read).price
        return link.host.get_quote(link.name, link.broker, symbol).price

    def _currency(self) -> str:
        if self._account_currency is None:
            self._account_currency = self.link.get_account().currency
        return self._account_currency

    def preview(self, request: OrderRequest, context: OrderContext | None = None) -> OrderPreview:
        """Run validation, the mode gate, the trading state and every risk check; send nothing."""
        ctx = context or OrderContext()
        self.validate(request)
        reasons: list[Reason] = []
        blocked = self.mode_block()
        if blocked:
            reasons.append(Reason("MODE_BLOCKED", blocked, "mode_gate"))
        decisions = self.decide(request, check_context(self, request, ctx))
        reasons.extend(Reason(d.code, d.reason, d.check) for d in decisions if not d.allowed)
        return OrderPreview(request, not reasons, tuple(reasons), tuple(decisions))

    def submit(self, request: OrderRequest, context: OrderContext | None = None) -> Order:
        """Take ``request`` through the whole gate and send it. See the module docstring."""
        ctx = context or OrderContext()
        self.validate(request)
        self.require_mode(request, ctx)
        self.require_ready()
        if request.client_order_id is not None:
            replay = self.replay(request.client_order_id)
            if replay is not None:
                return replay
        intent, request = self._admit(request, ctx, None)
        return self.submitter.send(intent, request, ctx)

    def replace(self, current: Order, changes: OrderChanges, context: OrderContext) -> Order:
        """Replace ``current`` with ``changes``: the new terms take the path of a new order.

        The replacement is an intent of its own, with its own client order id, so
        every process counts it in flight (on top of the order it replaces, until
        the broker answers) and reconciliation resolves it by that id.
        """
        self.require_mode(None, context)
        self.require_ready()
        if changes.client_order_id is not None:
            replay = self.replay(changes.client_order_id)
            if replay is not None:
                return replay
        request = replacement_request(current, changes)
        self.validate(request)
        intent, request = self._admit(
            request, context, current.order_id, compact(changes.to_dict())
        )
        sent = attrs.evolve(changes, client_order_id=intent.client_order_id)
        return self.submitter.send_replace(intent, request, current, sent, context)

    def _admit(
        self,
        request: OrderRequest,
        ctx: OrderContext,
        replaces: str | None,
        changes: dict[str, Any] | None = None,
    ) -> tuple[IntentRecord, OrderRequest]:
        """Decide (outside, then in the write section) and journal the intent; refuse or admit."""
        self.stream.poll()
        reads = BrokerReads()
        confirm = bool(self.config["require_confirmation"])
        # The core's own approvers answer at once: they may be asked inside the write
        # section. Any other may wait for a person, so it is asked before it.
        ask_inside = confirm and self.link.host.approvers_answer_at_once()
        approval: Approval | None = None
        extra = {} if replaces is None else {"replaces": replaces, "changes": changes}
        for attempt in range(1, DECIDE_ATTEMPTS + 1):
            marks = None if self.stream.live else marks_of(self.journal, self.name)
            # While the state cache is live, the first try decides in the write section
            # at once, on what the cache holds; it reads outside only what the cache lacks.
            if attempt > 1 or marks is not None or (not ask_inside and confirm):
                first = self._first_decision(request, ctx, reads, marks, replaces)
                if confirm and not ask_inside and approval is None and first:
                    approval = self.link.host.confirm_order(request, ctx, self.name, self.mode)
            decided = self._decide_and_journal(
                request,
                ctx,
                (reads, marks, replaces, extra),
                approval,
                ask_inside=ask_inside,
                last=attempt == DECIDE_ATTEMPTS,
            )
            if decided is not None:
                break
            reads.read_missed()
        assert decided is not None
        intent, reasons = decided
        request = request.with_client_order_id(intent.client_order_id)
        if reasons:
            self.deny(request, ctx, reasons)
        return intent, request

    def _first_decision(
        self,
        request: OrderRequest,
        ctx: OrderContext,
        reads: BrokerReads,
        marks: Marks | None,
        replaces: str | None,
    ) -> bool:
        """Decide outside the write section, reading the broker; True when every check allows."""
        check_ctx = check_context(self, request, ctx, reads, marks, replaces)
        if check_ctx.state_source == "broker":
            # Open orders before positions: an order that fills in between is counted
            # twice (refusing too much), never not at all.
            with contextlib.suppress(BrokerError):  # recorded: the checks deny for want of it
                check_ctx.open_orders()
        return all(d.allowed for d in self.decide(request, check_ctx))

    def _decide_and_journal(
        self,
        request: OrderRequest,
        ctx: OrderContext,
        on: tuple[BrokerReads, Marks | None, str | None, dict[str, Any]],
        approval: Approval | None,
        *,
        ask_inside: bool,
        last: bool,
    ) -> tuple[IntentRecord, list[Reason]] | None:
        """The write section: decide on recorded broker state and journal the intent.

        ``on``: the recorded reads, the marks, the order replaced and what the intent
        event records besides. None (nothing written) when the decision needs a read
        made outside first.
        """
        reads, marks, replaces, extra = on
        reads.frozen = True
        confirm = bool(self.config["require_confirmation"])
        claimed = None
        try:
            with self.journal.transaction():
                synced = self.cache.sync() if self.stream.stream is not None else None
                check_ctx = check_context(self, request, ctx, reads, marks, replaces)
                decisions = self.decide(request, check_ctx)
                reasons = [Reason(d.code, d.reason, d.check) for d in decisions if not d.allowed]
                if reads.missed and not last:
                    return None
                if ask_inside and approval is None and not reasons:
                    approval = self.link.host.confirm_order(request, ctx, self.name, self.mode)
                unasked = confirm and approval is None and not reasons
                if unasked and not last:
                    return None
                if confirm and not reasons and (approval is None or not approval.approved):
                    reasons.append(_approval_reason(approval))
                intent = self._journal_intent(
                    request, ctx, (check_ctx, decisions, reasons, approval), extra
                )
                pause = self.watch.after(reasons, ctx)
                if not reasons:
                    # This process sends it: no reconciliation here may judge it meanwhile.
                    claimed = self.submitter.claim(intent.client_order_id)
                if synced is not None:
                    self.cache.adopt(intent, after=synced)
        except BaseException:
            self.watch.ended(committed=False)
            if claimed is not None:
                self.submitter.release(claimed)
            raise
        self.watch.ended(committed=True)
        if pause:  # outside the write section: nobody else waits for it
            self.sleep(pause)
        return intent, reasons

    def _journal_intent(
        self,
        request: OrderRequest,
        ctx: OrderContext,
        decided: tuple[CheckContext, list[Decision], list[Reason], Approval | None],
        extra: dict[str, Any],
    ) -> IntentRecord:
        # One event holds the intent, what was decided, on what state and under which
        # limits, who approved it, and (when admitted) that attempt 1 is being sent.
        check_ctx, decisions, reasons, approval = decided
        record: dict[str, Any] = {
            **extra,
            "request": compact(request.to_dict()),
            "context": compact(ctx.to_dict()),
            "mode": self.mode.value,
            "limits_hash": self.limits_hash,
            **self.watch.verdicts(decisions),
            "state": self.state_record(check_ctx),
        }
        if approval is not None:
            record["approval"] = approval.to_dict()
        if not reasons:
            record["attempt"] = 1
        return self.journal.new_intent(
            {
                "broker": self.name,
                "symbol": request.symbol,
                "side": request.side.value,
                "qty": request.qty,
                "notional": request.notional,
                "value": _estimated_value(request, check_ctx) if not reasons else None,
                "dedupe_key": dedupe_key(request),
                "status": "denied" if reasons else "submitting",
                "source": ctx.source,
                "client_order_id": request.client_order_id,
                "owner": self.owner(),
            },
            record,
        )

    def replay(self, client_order_id: str) -> Order | None:
        """A caller resending its own client order id gets the first outcome, not a second order."""
        try:
            intent = self.journal.intent(client_order_id)
        except KeyError:
            return None
        if intent.status == "denied":  # the same refusal, with its reasons
            recorded = self.journal.decided(intent.intent_id).get("decisions", [])
            reasons = [Reason(d["code"], d["reason"], d["check"]) for d in recorded]
            summary = "; ".join(f"{r.code}: {r.message}" for r in reasons) or "see the journal"
            raise OrderRejectedError(
                f"client_order_id {client_order_id} was refused when it was decided ({summary}); "
                "nothing was sent. An order under a new client order id is decided afresh",
                reasons=reasons,
            )
        return self.link.get_order_by_client_id(client_order_id, intent.symbol)

    def decide(self, request: OrderRequest, ctx: CheckContext) -> list[Decision]:
        state = current_state(self.journal)
        return [state_decision(state, request, ctx), *self.link.host.check_order(request, ctx)]

    def require_checks(self) -> None:
        """Refuse to work without every required risk check (checked at start-up and per order)."""
        missing = [name for name in REQUIRED_CHECKS if self.link.host.pm.get_plugin(name) is None]
        if missing:
            raise BrokerConfigurationError(
                f"required risk check(s) {', '.join(missing)} are not registered; the gate "
                "refuses to send orders without them"
            )

    def require_ready(self) -> None:
        """Every check registered, the journal sound, this gated broker registered, the
        journal reconciled."""
        self.require_checks()
        damage = self.journal.refresh_damage()
        if damage is not None:
            raise JournalDamagedError(
                f"the journal at {self.journal.location} takes no orders: {damage}; {RECOVERY}",
                details={"journal": self.journal.location},
            )
        self.owner()
        if self.reconciler.needed:
            report = self.reconciler.run()
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
            self.journal.append(
                "blocked",
                {
                    "reason": blocked,
                    "request": request.to_dict() if request else None,
                    "context": ctx.to_dict() if ctx else None,
                },
                broker=self.name,
            )
            raise OrderBlockedError(blocked, details={"broker": self.name, "mode": self.mode.value})

    def mode_block(self) -> str | None:
        if self.mode is not TradingMode.LIVE:
            return None
        if not self.config["auto_execute_trades"]:
            return (
                "live trading is not enabled, so nothing was sent: set "
                "'auto_execute_trades: True' (with broker_mode 'live') to send live orders"
            )
        missing = self.link.host.missing_credentials(self.name, self.mode)
        if missing:
            return (
                f"live credentials are missing ({', '.join(missing)}), so nothing was sent: "
                "set them in the environment"
            )
        return None

    def state_record(self, check_ctx: CheckContext) -> dict[str, Any]:
        """Where the decision's broker state came from, how old it was, and the prices used."""
        record: dict[str, Any] = {"source": check_ctx.state_source}
        if check_ctx.state_source == "stream":
            record.update(self.cache.as_of())
        quotes = check_ctx.quotes_used()
        if quotes:
            record["quotes"] = [q.to_dict() for q in quotes]
        return record

    def deny(self, request: OrderRequest | None, ctx: OrderContext, reasons: list[Reason]) -> None:
        summary = "; ".join(f"{r.code}: {r.message}" for r in reasons)
        error = OrderRejectedError(f"order refused by the safety gate: {summary}", reasons=reasons)
        self.recorder.record("denied", request, ctx, error=error.to_dict())
        raise error

    def confirm_closes(self, requests: list[OrderRequest], ctx: OrderContext) -> None:
        """Ask ``confirm_order`` about each closing order; journal each answer; refuse on a no."""
        for request in requests:
            approval = self.link.host.confirm_order(request, ctx, self.name, self.mode)
            self.journal.append(
                "confirmation",
                {
                    **approval.to_dict(),
                    "action": "close",
                    "request": request.to_dict(),
                    **ctx.provenance(),
                },
                broker=self.name,
            )
            if not approval.approved:
                self.deny(request, ctx, [_approval_reason(approval)])

    def require_closable(self, ctx: OrderContext) -> None:
        """Closing reduces risk, so only HALTED stops it."""
        if current_state(self.journal) is TradingState.HALTED:
            reason = Reason(
                "TRADING_HALTED", "trading is halted; only cancels are accepted", "trading_state"
            )
            self.journal.append(
                "denied",
                {"action": "close", "reason": reason.to_dict(), **ctx.provenance()},
                broker=self.name,
            )
            self.deny(None, ctx, [reason])


def _approval_reason(approval: Approval | None) -> Reason:
    if approval is None:
        return Reason("CONFIRMATION_DENIED", "nobody was asked to approve the order", "none")
    return Reason(
        "CONFIRMATION_DENIED",
        approval.reason or f"{approval.approver} did not approve the order",
        approval.approver,
    )


def _estimated_value(request: OrderRequest, ctx: CheckContext) -> Decimal | None:
    try:
        return order_value(request, ctx)
    except (MissingData, BrokerError):
        return None
