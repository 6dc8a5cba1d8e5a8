"""Order events: what ``on_order_event`` receives after an order changes state."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import attrs

from .decisions import OrderContext
from .orders import Order, OrderRequest
from .streams import OrderUpdate

__all__ = ["OrderEvent", "OrderEventKind", "kind_of_status"]

OrderEventKind = Literal[
    "accepted",
    "partially_filled",
    "filled",
    "rejected",
    "unknown",
    "cancel_requested",
    "canceled",
    "expired",
    "replaced",
    "denied",
]

#: The event kind an order in a broker status is reported as.
STATUS_KINDS: dict[str, OrderEventKind] = {
    "partially_filled": "partially_filled",
    "filled": "filled",
    "rejected": "rejected",
    "canceled": "canceled",
    "expired": "expired",
    "replaced": "replaced",
}


def kind_of_status(status: str) -> OrderEventKind:
    """``accepted`` for every open status, else the status's own kind."""
    return STATUS_KINDS.get(status, "accepted")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class OrderEvent:
    """One state change of one order. ``order`` is None when the broker never answered.

    ``update`` is the order stream's message when the change came from the stream
    (with the fill's quantity and price); the gate's own answers have none.
    """

    kind: OrderEventKind
    broker_name: str
    request: OrderRequest | None
    order: Order | None = None
    context: OrderContext = attrs.field(factory=OrderContext)
    error: dict[str, Any] | None = None
    update: OrderUpdate | None = None
    at: dt.datetime = attrs.field(factory=_utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "broker": self.broker_name,
            "request": self.request.to_dict() if self.request else None,
            "order": self.order.to_dict() if self.order else None,
            "context": self.context.to_dict(),
            "error": self.error,
            "update": self.update.to_dict() if self.update else None,
            "at": self.at.isoformat(timespec="milliseconds"),
        }
