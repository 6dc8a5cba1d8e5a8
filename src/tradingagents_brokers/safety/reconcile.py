"""Reconciliation: bring every open intent in the journal to the broker's truth.

Run at start-up (a gated broker refuses new orders until it succeeds) and on
demand (``tradingagents-brokers reconcile``). An intent the broker does not know
becomes ``not_placed`` if its outcome was unknown; an intent whose status moved
(accepted -> filled, unknown -> new) is updated; each change is reported as drift.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from ..errors import BrokerError, NotFoundError
from .journal import OPEN_STATUSES

if TYPE_CHECKING:
    from ..gateway import GatedBroker

__all__ = ["ReconcileReport", "reconcile"]


@attrs.frozen
class ReconcileReport:
    checked: int
    changed: tuple[dict[str, Any], ...]
    failed: tuple[dict[str, Any], ...]

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "changed": list(self.changed),
            "failed": list(self.failed),
        }


def reconcile(gated: GatedBroker) -> ReconcileReport:
    journal = gated.journal
    intents = journal.intents(broker=gated.name, statuses=OPEN_STATUSES)
    changed, failed = [], []
    for intent in reversed(intents):
        try:
            order = gated.host.get_order_by_client_id(
                gated.name, gated.broker, intent.client_order_id
            )
        except NotFoundError:
            # Unknown outcome and no order: it never reached the broker. An order the
            # broker acknowledged and then forgot is drift a person should look at.
            status = "not_placed" if intent.unresolved else "missing"
            journal.set_status(
                intent.intent_id,
                status,
                kind="reconcile",
                event={"reason": "the broker has no order with this id"},
            )
            changed.append(
                {"client_order_id": intent.client_order_id, "from": intent.status, "to": status}
            )
            continue
        except BrokerError as exc:
            failed.append({"client_order_id": intent.client_order_id, "error": exc.message})
            continue
        if order.status.value != intent.status or order.order_id != intent.order_id:
            journal.set_status(
                intent.intent_id,
                order.status.value,
                order_id=order.order_id,
                kind="reconcile",
                event={"order": order.to_dict()},
            )
            changed.append(
                {
                    "client_order_id": intent.client_order_id,
                    "from": intent.status,
                    "to": order.status.value,
                }
            )
    return ReconcileReport(len(intents), tuple(changed), tuple(failed))
