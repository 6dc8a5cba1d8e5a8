"""Reconciliation: bring the journal's open intents to the broker's truth, cheaply and safely.

Run before a gated broker's first order (not when it is built: commands that
only read never pay for it), each time the order stream (re)connects, and on
demand (``tradingagents-brokers reconcile``).

**Only what nobody is sending.** An intent still being submitted belongs to its
sender. It is judged only when this process is not sending it and its owner is
gone (:mod:`tradingagents_brokers.store.registry`), or when its send began
longer ago than ``submit_timeout_seconds`` plus ``owner_timeout_seconds`` (a
sender stuck past its deadline). Every other one is left alone and keeps
counting against every limit (``in_flight`` in the report). An intent whose
outcome is ``unknown`` is judged at once: its sender has stopped sending it.

**Cheap.** One paged listing of the broker's open orders answers every intent
that is still open there; if more than ``reconcile_lookups`` intents remain,
one page of the broker's recent orders answers those that filled or ended
lately; only what is still unanswered is looked up by id, at most
``reconcile_lookups`` per pass (the rest are ``deferred`` to the next pass and
meanwhile count as they are).

**Verdicts.** An intent the broker does not know becomes ``not_placed`` if its
outcome was unknown, ``missing`` if the broker had acknowledged it; an intent
whose status moved is updated; each change is reported as drift. ``missing`` and
``not_placed`` intents are looked at again for :data:`RECHECK` (a broker can lag
behind an order it has just accepted), then the verdict is final. The journal
only moves forward: an answer older than what it holds changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from typing import Any

import attrs

from ..errors import BrokerError, NotFoundError
from ..orders import Order
from ..store.registry import Registry
from .journal import OPEN_STATUSES, IntentRecord, Journal
from .link import BrokerLink
from .records import stamp

__all__ = ["RECENT_PAGE", "RECHECK", "ReconcileReport", "Reconciler"]

#: How long an intent judged ``not_placed`` or ``missing`` is looked up again.
RECHECK = dt.timedelta(days=1)
#: How many of the broker's recent orders one listing asks for.
RECENT_PAGE = 500
_VERDICTS = ("missing", "not_placed")


@attrs.frozen
class ReconcileReport:
    """What a reconciliation did: intents ``checked`` (and ``rechecked``), what ``changed``.

    ``in_flight``: intents left to their live senders; ``deferred``: intents beyond
    this pass's look-ups; ``requests``: calls made to the broker.
    """

    checked: int
    changed: tuple[dict[str, Any], ...]
    failed: tuple[dict[str, Any], ...]
    rechecked: int = 0
    in_flight: int = 0
    deferred: int = 0
    requests: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "rechecked": self.rechecked,
            "in_flight": self.in_flight,
            "deferred": self.deferred,
            "requests": self.requests,
            "changed": list(self.changed),
            "failed": list(self.failed),
        }


class Reconciler:
    """Reconciles one broker's intents in one journal (see the module docstring)."""

    def __init__(
        self,
        link: BrokerLink,
        journal: Journal,
        registry: Registry,
        *,
        owner: Callable[[], str | None],
        sending: Callable[[], Collection[str]],
        submit_timeout: float,
        owner_timeout: float,
        lookups: int,
    ) -> None:
        self.link = link
        self.journal = journal
        self.registry = registry
        self.owner = owner
        self.sending = sending
        self.deadline = dt.timedelta(seconds=submit_timeout + owner_timeout)
        self.lookups = lookups
        #: Set when a pass failed or left intents for later; the gate runs one before an order.
        self.needed = True
        #: Changes made by passes nobody has reported yet (the stream's, start-up's).
        self._unreported: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"<Reconciler {self.link.name!r} needed={self.needed}>"

    def report(self) -> ReconcileReport:
        """Run a pass; its report includes every change earlier passes made unreported."""
        earlier, self._unreported = self._unreported, []
        report = self.run(remember=False)
        return attrs.evolve(report, changed=(*earlier, *report.changed))

    def run(
        self, *, open_orders: Sequence[Order] | None = None, remember: bool = True
    ) -> ReconcileReport:
        """One pass. ``open_orders``: a fresh listing of the broker's open orders, if at hand."""
        pass_ = _Pass(self, open_orders)
        report = pass_.run()
        self.needed = not report.ok or report.deferred > 0
        if remember:
            self._unreported.extend(report.changed)
        return report

    def judgeable(self, intents: list[IntentRecord]) -> tuple[list[IntentRecord], int]:
        """The intents this process may judge now, and how many belong to live senders."""
        sending = set(self.sending())
        submitting = [i for i in intents if i.status == "submitting"]
        others = {i.owner for i in submitting if i.owner and i.owner != self.owner()}
        living = self.registry.alive(others) if others else set()
        floor = stamp(self.journal.now() - self.deadline)
        result, in_flight = [], 0
        for intent in intents:
            held = intent.client_order_id in sending or (
                intent.status == "submitting"
                and intent.owner in living
                and intent.created_at > floor
            )
            if held:
                in_flight += 1
            else:
                result.append(intent)
        return result, in_flight


class _Pass:
    """One reconciliation pass over the journal."""

    def __init__(self, owner: Reconciler, open_orders: Sequence[Order] | None) -> None:
        self.r = owner
        self.journal = owner.journal
        self.link = owner.link
        self.listed = {o.client_order_id: o for o in open_orders} if open_orders else None
        self.changed: list[dict[str, Any]] = []
        self.failed: list[dict[str, Any]] = []
        self.requests = 0

    def _intents(self) -> list[IntentRecord]:
        journal, name = self.journal, self.link.name
        since = journal.now() - RECHECK
        intents = journal.intents(broker=name, statuses=OPEN_STATUSES)
        intents += journal.intents(broker=name, statuses=set(_VERDICTS), updated_since=since)
        intents.sort(key=lambda intent: intent.intent_id)
        return intents

    def run(self) -> ReconcileReport:
        intents, in_flight = self.r.judgeable(self._intents())
        pending = self._match_listing(intents)
        if len(pending) > self.r.lookups:
            pending = self._match_recent(pending)
        # Open intents first (oldest first), then the rechecks of earlier verdicts.
        pending.sort(key=lambda i: (i.status in _VERDICTS, i.updated_at, i.intent_id))
        looked = pending[: self.r.lookups]
        for intent in looked:
            self._look_up(intent)
        rechecked = sum(1 for i in intents if i.status in _VERDICTS)
        return ReconcileReport(
            checked=len(intents) - rechecked,
            changed=tuple(self.changed),
            failed=tuple(self.failed),
            rechecked=rechecked,
            in_flight=in_flight,
            deferred=len(pending) - len(looked),
            requests=self.requests,
        )

    def _match_listing(self, intents: list[IntentRecord]) -> list[IntentRecord]:
        """Observe every intent the open orders answer; the rest, still to be answered."""
        if not intents:
            return []
        if self.listed is None:
            try:
                self.requests += 1
                self.listed = {o.client_order_id: o for o in self.link.get_orders("open")}
            except BrokerError as exc:
                self.failed.append({"client_order_id": "(open orders)", "error": exc.message})
                return []
        return self._match(intents, self.listed)

    def _match_recent(self, intents: list[IntentRecord]) -> list[IntentRecord]:
        try:
            self.requests += 1
            recent = self.link.get_orders("all", RECENT_PAGE)
        except BrokerError:
            return intents  # the look-ups below will say what is wrong
        return self._match(intents, {o.client_order_id: o for o in recent})

    def _match(self, intents: list[IntentRecord], orders: dict[str, Order]) -> list[IntentRecord]:
        rest = []
        for intent in intents:
            order = orders.get(intent.client_order_id)
            if order is None:
                rest.append(intent)
            else:
                self._observe(intent, order)
        return rest

    def _observe(self, intent: IntentRecord, order: Order) -> None:
        status = self.journal.observe(
            intent.intent_id,
            order,
            kind="reconcile",
            event={"order": order.to_dict()},
            current=intent,
        )
        if status is not None:
            self._change(intent, status)

    def _change(self, intent: IntentRecord, to: str) -> None:
        self.changed.append(
            {"client_order_id": intent.client_order_id, "from": intent.status, "to": to}
        )

    def _look_up(self, intent: IntentRecord) -> None:
        try:
            order = self._order_of(intent)
        except NotFoundError:
            if intent.status in _VERDICTS:
                return  # still gone: already reported
            # Unknown outcome and no order: it never reached the broker. An order the
            # broker acknowledged and then forgot is drift a person should look at.
            verdict = "not_placed" if intent.unresolved else "missing"
            self.journal.set_status(
                intent.intent_id,
                verdict,
                kind="reconcile",
                event={"reason": "the broker has no order with this id"},
            )
            self._change(intent, verdict)
            return
        except BrokerError as exc:
            self.failed.append({"client_order_id": intent.client_order_id, "error": exc.message})
            return
        self._observe(intent, order)

    def _order_of(self, intent: IntentRecord) -> Order:
        """The intent's order: by the broker's id when known, else (or then) by client id."""
        if intent.order_id is not None:
            try:
                self.requests += 1
                return self.link.get_order(intent.order_id, intent.symbol)
            except NotFoundError:
                pass
        self.requests += 1
        return self.link.get_order_by_client_id(intent.client_order_id, intent.symbol)
