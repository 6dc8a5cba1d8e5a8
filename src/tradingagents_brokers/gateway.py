"""The gated broker: the one path every order takes (DESIGN §5).

:class:`GatedBroker` wraps one broker instance. Python callers, ``route_to_broker``,
the CLI and agent tools all place orders through :meth:`GatedBroker.submit`,
which runs, in order:

1. validation (the :class:`~tradingagents_brokers.orders.OrderRequest` itself, then
   the broker's capabilities) -> ``InvalidOrderError``;
2. the mode gate: live needs ``broker_mode="live"``, ``auto_execute_trades=True``
   and the live credentials -> ``OrderBlockedError``;
3. every ``check_order`` risk check, failing closed -> ``OrderRejectedError`` with
   every reason;
4. confirmation through ``confirm_order`` when ``require_confirmation`` is on;
5. submission with a ``client_order_id`` through the ``place_order`` hook; an
   outcome the broker leaves unknown is looked up by that id before giving up,
   and a duplicate id resolves to the existing order;
6. the outcome is logged to ``tradingagents.broker.trades`` and sent to
   ``on_order_event``.

Reads pass straight through to the operation hooks.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from ._numbers import to_decimal
from .broker import Broker, BrokerType, OrderQuery
from .decisions import Approval, CheckContext, Decision, OrderContext
from .enums import TradingMode
from .errors import (
    BrokerError,
    DuplicateClientOrderIdError,
    InvalidOrderError,
    OrderBlockedError,
    OrderOutcomeUnknownError,
    OrderRejectedError,
    Reason,
)
from .events import OrderEvent, OrderEventKind
from .host import PluginHost
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
from .orders import Order, OrderChanges, OrderRequest, normalize_symbol

__all__ = ["GatedBroker", "OrderPreview", "check_capabilities"]

trades_log = logging.getLogger("tradingagents.broker.trades")

_REQUEST_FIELDS = frozenset(f.name for f in attrs.fields(OrderRequest))


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
    ) -> None:
        self.host = host
        self.name = name
        self.broker = broker
        self.config: Mapping[str, Any] = MappingProxyType(dict(config))
        self.mode = TradingMode(config["broker_mode"])
        self.broker_type: BrokerType = host.broker_type(name)

    def __repr__(self) -> str:
        return f"<GatedBroker {self.name!r} mode={self.mode.value}>"

    @property
    def capabilities(self) -> BrokerCapabilities:
        return self.broker_type.capabilities

    def close(self) -> None:
        self.broker.close()

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
        return self.host.get_order(self.name, self.broker, order_id)

    def get_order_by_client_id(self, client_order_id: str) -> Order:
        return self.host.get_order_by_client_id(self.name, self.broker, client_order_id)

    def get_orders(
        self,
        status: OrderQuery = "open",
        limit: int | None = None,
        symbols: Sequence[str] | None = None,
    ) -> list[Order]:
        if status not in ("open", "closed", "all"):
            raise InvalidOrderError(f"status {status!r} is not valid; use open, closed or all")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise InvalidOrderError(f"limit must be a positive whole number, got {limit!r}")
        wanted = [normalize_symbol(s) for s in symbols] if symbols else None
        return self.host.get_orders(self.name, self.broker, status, limit, wanted)

    def get_portfolio_history(
        self, period: str | None = None, timeframe: str | None = None
    ) -> PortfolioHistory:
        return self.host.get_portfolio_history(self.name, self.broker, period, timeframe)

    def get_clock(self) -> Clock:
        return self.host.get_clock(self.name, self.broker)

    def get_asset(self, symbol: str) -> Asset:
        return self.host.get_asset(self.name, self.broker, normalize_symbol(symbol))

    def get_quote(self, symbol: str) -> Quote:
        return self.host.get_quote(self.name, self.broker, normalize_symbol(symbol))

    # -- the order path --------------------------------------------------------------

    def build_request(self, **fields: Any) -> OrderRequest:
        """An :class:`OrderRequest` from keyword fields; unknown fields are an error."""
        unknown = sorted(set(fields) - _REQUEST_FIELDS)
        if unknown:
            raise InvalidOrderError(
                f"unknown order field(s) {', '.join(unknown)}; accepted: "
                f"{', '.join(sorted(_REQUEST_FIELDS))}"
            )
        if "symbol" not in fields or "side" not in fields:
            raise InvalidOrderError("an order needs a symbol and a side ('buy' or 'sell')")
        return OrderRequest(**fields)

    def place_order(self, *, context: OrderContext | None = None, **fields: Any) -> Order:
        """Build a request from ``fields`` (symbol, side, qty or notional, ...) and submit it."""
        return self.submit(self.build_request(**fields), context=context)

    def preview(self, request: OrderRequest, context: OrderContext | None = None) -> OrderPreview:
        """Run validation, the mode gate and every risk check; send nothing."""
        ctx = context or OrderContext()
        check_capabilities(request, self.name, self.capabilities)
        reasons: list[Reason] = []
        blocked = self._mode_block()
        if blocked:
            reasons.append(Reason("MODE_BLOCKED", blocked, "mode_gate"))
        decisions = self.host.check_order(request, self._check_context(request, ctx))
        reasons.extend(Reason(d.code, d.reason, d.check) for d in decisions if not d.allowed)
        return OrderPreview(request, not reasons, tuple(reasons), tuple(decisions))

    def submit(self, request: OrderRequest, context: OrderContext | None = None) -> Order:
        """Take ``request`` through the whole gate and send it. See the module docstring."""
        ctx = context or OrderContext()
        check_capabilities(request, self.name, self.capabilities)
        self._require_mode()
        decisions = self.host.check_order(request, self._check_context(request, ctx))
        denied = [d for d in decisions if not d.allowed]
        if denied:
            self._deny(request, ctx, [Reason(d.code, d.reason, d.check) for d in denied])
        if self.config["require_confirmation"]:
            approval = self.host.confirm_order(request, ctx, self.name, self.mode)
            if not approval.approved:
                self._deny(request, ctx, [_approval_reason(approval)])
        request = request.with_client_order_id(request.client_order_id or _new_client_order_id())
        return self._send(request, ctx)

    def _send(self, request: OrderRequest, ctx: OrderContext) -> Order:
        assert request.client_order_id is not None
        try:
            order = self.host.place_order(self.name, self.broker, request)
        except DuplicateClientOrderIdError:
            order = self.get_order_by_client_id(request.client_order_id)
        except OrderOutcomeUnknownError as exc:
            order = self._resolve_unknown(request, ctx, exc)
        except BrokerError as exc:
            self._record("rejected", request, ctx, error=exc.to_dict())
            raise
        kind: OrderEventKind = "filled" if order.status.value == "filled" else "accepted"
        if order.status.value == "rejected":
            kind = "rejected"
        self._record(kind, request, ctx, order=order)
        return order

    def _resolve_unknown(
        self, request: OrderRequest, ctx: OrderContext, exc: OrderOutcomeUnknownError
    ) -> Order:
        assert request.client_order_id is not None
        try:
            return self.get_order_by_client_id(request.client_order_id)
        except BrokerError:
            # Not found yet, or the look-up failed too: the outcome stays unknown.
            pass
        self._record("unknown", request, ctx, error=exc.to_dict())
        raise exc

    def _require_mode(self) -> None:
        blocked = self._mode_block()
        if blocked:
            raise OrderBlockedError(blocked, details={"broker": self.name, "mode": self.mode.value})

    def _mode_block(self) -> str | None:
        if self.mode is not TradingMode.LIVE:
            return None
        if not self.config["auto_execute_trades"]:
            return (
                "live trading is not enabled, so nothing was sent: set "
                "'auto_execute_trades: True' (with broker_mode 'live') to send live orders"
            )
        missing = self.host.missing_credentials(self.name, self.mode)
        if missing:
            return (
                f"live credentials are missing ({', '.join(missing)}), so nothing was sent: "
                "set them in the environment"
            )
        return None

    def _check_context(self, request: OrderRequest, ctx: OrderContext) -> CheckContext:
        return CheckContext(
            request=request,
            order=ctx,
            broker_name=self.name,
            mode=self.mode,
            config=self.config,
            fetch_account=self.get_account,
            fetch_positions=self.get_positions,
            fetch_open_orders=lambda: self.get_orders("open"),
            fetch_quote=self.get_quote,
        )

    def _deny(self, request: OrderRequest, ctx: OrderContext, reasons: list[Reason]) -> None:
        summary = "; ".join(f"{r.code}: {r.message}" for r in reasons)
        error = OrderRejectedError(f"order refused by the safety gate: {summary}", reasons=reasons)
        self._record("denied", request, ctx, error=error.to_dict())
        raise error

    def _record(
        self,
        kind: OrderEventKind,
        request: OrderRequest | None,
        ctx: OrderContext,
        *,
        order: Order | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        subject = request.to_dict() if request else {}
        trades_log.info(
            "%s broker=%s mode=%s source=%s symbol=%s side=%s qty=%s notional=%s "
            "client_order_id=%s order_id=%s status=%s code=%s",
            kind,
            self.name,
            self.mode.value,
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
        self.host.emit(
            OrderEvent(
                kind=kind,
                broker_name=self.name,
                request=request,
                order=order,
                context=ctx,
                error=error,
            )
        )

    # -- other order-changing operations --------------------------------------------

    def cancel_order(self, order_id: str, *, context: OrderContext | None = None) -> None:
        """Cancel one open order. Cancels are never blocked: they only reduce risk."""
        self.host.cancel_order(self.name, self.broker, order_id)
        self._record("canceled", None, context or OrderContext(), order=None)

    def cancel_all_orders(self, *, context: OrderContext | None = None) -> list[str]:
        """Cancel every open order; returns the ids asked to cancel."""
        ids = [order.order_id for order in self.get_orders("open")]
        for order_id in ids:
            self.cancel_order(order_id, context=context)
        return ids

    def replace_order(
        self, order_id: str, *, context: OrderContext | None = None, **changes: Any
    ) -> Order:
        """Replace an open order (qty, limit_price, stop_price, trail, time_in_force)."""
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
        self._require_mode()
        order = self.host.replace_order(self.name, self.broker, order_id, parsed)
        self._record("replaced", None, context or OrderContext(), order=order)
        return order

    def close_position(
        self,
        symbol: str,
        *,
        qty: Any = None,
        percentage: Any = None,
        context: OrderContext | None = None,
    ) -> Order:
        """Close all of a position, ``qty`` shares of it, or ``percentage`` (0-100] of it."""
        wanted = normalize_symbol(symbol)
        if qty is not None and percentage is not None:
            raise InvalidOrderError("give qty or percentage to close, not both")
        amount = None if qty is None else to_decimal(qty, "qty", InvalidOrderError)
        if amount is not None and amount <= 0:
            raise InvalidOrderError("qty to close must be greater than zero")
        share = (
            None if percentage is None else to_decimal(percentage, "percentage", InvalidOrderError)
        )
        if share is not None and not 0 < share <= 100:
            raise InvalidOrderError("percentage to close must be above 0 and at most 100")
        self._require_mode()
        order = self.host.close_position(self.name, self.broker, wanted, amount, share)
        self._record("accepted", None, context or OrderContext(), order=order)
        return order

    def close_all_positions(
        self, *, cancel_orders: bool = False, context: OrderContext | None = None
    ) -> list[ClosePositionResult]:
        """Close every position; each symbol's outcome is reported separately."""
        self._require_mode()
        results = self.host.close_all_positions(self.name, self.broker, cancel_orders)
        ctx = context or OrderContext()
        for result in results:
            if result.order is not None:
                self._record("accepted", None, ctx, order=result.order)
        return results


def _approval_reason(approval: Approval) -> Reason:
    return Reason(
        "CONFIRMATION_DENIED",
        approval.reason or f"{approval.approver} did not approve the order",
        approval.approver,
    )


def _new_client_order_id() -> str:
    return f"tab-{uuid.uuid4().hex}"
