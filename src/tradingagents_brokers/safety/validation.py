"""What the gate checks of a request before any state is read: the broker's capabilities.

Also what a preview answers (:class:`OrderPreview`) and the request a replace
amounts to (:func:`replacement_request`), which the risk checks judge as a new order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from ..decisions import Decision
from ..enums import TimeInForce
from ..errors import InvalidOrderError, Reason
from ..models import BrokerCapabilities
from ..orders import Order, OrderChanges, OrderRequest

__all__ = ["OrderPreview", "check_capabilities", "check_replace", "replacement_request"]


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
    by_type = caps.time_in_force_for(request.order_type)
    if request.time_in_force not in by_type:
        raise refuse(
            f"time in force {request.time_in_force.value!r} for a {request.order_type.value} order",
            by_type,
        )
    if request.order_class not in caps.order_classes:
        raise refuse(f"order class {request.order_class.value!r}", caps.order_classes)
    if request.notional is not None and not caps.notional:
        raise refuse("notional (dollar) orders; give qty in shares")
    fractional = request.qty is not None and request.qty != request.qty.to_integral_value()
    if fractional and not caps.fractional:
        raise refuse("fractional quantities; use a whole number of shares")
    if request.extended_hours and not caps.extended_hours:
        raise refuse("extended-hours orders")
    if request.expire_at is not None and request.expire_at <= dt.datetime.now(dt.UTC):
        raise InvalidOrderError(
            f"expire_at {request.expire_at.isoformat()} has passed; give a time to come"
        )


def check_replace(changes: OrderChanges, name: str, caps: BrokerCapabilities) -> None:
    """Refuse a replace that changes a field broker ``name`` cannot change, before any call."""
    asked = {k for k, v in changes.to_dict().items() if v is not None and k != "client_order_id"}
    refused = sorted(asked - caps.replace_fields)
    if refused:
        allowed = ", ".join(sorted(caps.replace_fields)) or "nothing"
        raise InvalidOrderError(
            f"broker {name!r} cannot change {', '.join(refused)} in a replace; it can change: "
            f"{allowed}. Cancel the order and place a new one instead",
            details={"refused": refused},
        )


def replacement_request(order: Order, changes: OrderChanges) -> OrderRequest:
    """The request an order would become after ``changes`` (for the risk checks)."""
    time_in_force = changes.time_in_force or order.time_in_force
    return OrderRequest(
        symbol=order.symbol,
        side=order.side,
        qty=changes.qty or order.qty,
        notional=None if (changes.qty or order.qty) else order.notional,
        order_type=order.order_type,
        time_in_force=time_in_force,
        expire_at=order.expire_at if time_in_force is TimeInForce.GTD else None,
        limit_price=changes.limit_price or order.limit_price,
        stop_price=changes.stop_price or order.stop_price,
        # A replace's ``trail`` changes whichever trail the order has: a price or a percent.
        trail_price=None if order.trail_percent is not None else changes.trail or order.trail_price,
        trail_percent=None if order.trail_percent is None else changes.trail or order.trail_percent,
        extended_hours=order.extended_hours,
        client_order_id=changes.client_order_id,
    )
