"""Reconciliation: bring every open intent in the journal to the broker's truth.

Run at start-up (a gated broker refuses new orders until it succeeds), each
time the order stream (re)connects, and on demand (``tradingagents-brokers
reconcile``). An intent the broker does not know becomes ``not_placed`` if its
outcome was unknown, ``missing`` if the broker had acknowledged it; an intent
whose status moved (accepted -> filled, unknown -> new) is updated; each change
is reported as drift. An acknowledged order is looked up by the broker's id
first, then by client order id. ``missing`` intents, and ``not_placed`` ones of
the last :data:`RECHECK` , are looked at again each time: a broker can lag behind
an order it has just accepted, and a look-up that lagged must not lose an order
for good. The journal only moves forward: an answer older than what it holds
changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import BrokerError, NotFoundError
from ..orders import Order
from .journal import OPEN_STATUSES, IntentRecord

if TYPE_CHECKING:
    from ..gateway import GatedBroker

__all__ = ["RECHECK", "ReconcileReport", "reconcile"]

#: How long an intent judged ``not_placed`` is looked up again by each reconciliation.
RECHECK = dt.timedelta(days=1)


@attrs.frozen
class ReconcileReport:
    """``checked`` open intents (and ``rechecked`` missing or not placed ones): what changed."""

    checked: int
    changed: tuple[dict[str, Any], ...]
    failed: tuple[dict[str, Any], ...]
    rechecked: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "rechecked": self.rechecked,
            "changed": list(self.changed),
            "failed": list(self.failed),
        }


def reconcile(
    gated: GatedBroker,
    *,
    open_orders: Sequence[Order] | None = None,
    include_unresolved: bool = True,
) -> ReconcileReport:
    """Reconcile the open intents of ``gated``'s broker.

    ``open_orders``, when given, is a fresh list of the broker's open orders:
    intents found in it need no look-up of their own. ``include_unresolved=False``
    leaves intents still being submitted to their submitter (the stream's
    reconnects run beside live submissions; start-up and the CLI include them).
    """
    journal = gated.journal
    intents = journal.intents(broker=gated.name, statuses=OPEN_STATUSES | {"missing"})
    intents += journal.intents(
        broker=gated.name, statuses={"not_placed"}, updated_since=journal.now() - RECHECK
    )
    intents.sort(key=lambda intent: intent.intent_id, reverse=True)
    listed = {order.client_order_id: order for order in open_orders or ()}
    changed, failed = [], []
    checked = rechecked = 0
    for intent in reversed(intents):
        if intent.unresolved and not include_unresolved:
            continue
        if intent.status in ("missing", "not_placed"):
            rechecked += 1
        else:
            checked += 1
        order = listed.get(intent.client_order_id)
        if order is None:
            try:
                order = _look_up(gated, intent)
            except NotFoundError:
                if intent.status in ("missing", "not_placed"):
                    continue  # still gone: already reported
                # Unknown outcome and no order: it never reached the broker. An order the
                # broker acknowledged and then forgot is drift a person should look at.
                verdict = "not_placed" if intent.unresolved else "missing"
                journal.set_status(
                    intent.intent_id,
                    verdict,
                    kind="reconcile",
                    event={"reason": "the broker has no order with this id"},
                )
                changed.append(
                    {
                        "client_order_id": intent.client_order_id,
                        "from": intent.status,
                        "to": verdict,
                    }
                )
                continue
            except BrokerError as exc:
                failed.append({"client_order_id": intent.client_order_id, "error": exc.message})
                continue
        status = journal.observe(
            intent.intent_id, order, kind="reconcile", event={"order": order.to_dict()}
        )
        if status is not None:
            changed.append(
                {"client_order_id": intent.client_order_id, "from": intent.status, "to": status}
            )
    return ReconcileReport(checked, tuple(changed), tuple(failed), rechecked)


def _look_up(gated: GatedBroker, intent: IntentRecord) -> Order:
    """The intent's order: by the broker's id when known, else (or then) by client order id."""
    if intent.order_id is not None:
        try:
            return gated.host.get_order(gated.name, gated.broker, intent.order_id)
        except NotFoundError:
            pass
    return gated.host.get_order_by_client_id(gated.name, gated.broker, intent.client_order_id)
