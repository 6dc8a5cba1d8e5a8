"""Order events: what ``on_order_event`` receives after an order changes state."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import attrs

from .decisions import OrderContext
from .orders import Order, OrderRequest

__all__ = ["OrderEvent", "OrderEventKind"]

OrderEventKind = Literal[
    "accepted", "filled", "rejected", "unknown", "canceled", "replaced", "denied"
]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class OrderEvent:
    """One state change of one order. ``order`` is None when the broker never answered."""

    kind: OrderEventKind
    broker_name: str
    request: OrderRequest | None
    order: Order | None = None
    context: OrderContext = attrs.field(factory=OrderContext)
    error: dict[str, Any] | None = None
    at: dt.datetime = attrs.field(factory=_utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "broker": self.broker_name,
            "request": self.request.to_dict() if self.request else None,
            "order": self.order.to_dict() if self.order else None,
            "context": self.context.to_dict(),
            "error": self.error,
            "at": self.at.isoformat(timespec="milliseconds"),
        }
