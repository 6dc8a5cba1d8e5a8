"""The narrow collaborators the safety parts are handed, instead of the whole gated broker.

* :class:`BrokerLink` - one broker instance reached through the host's typed hook
  calls (so plugins' wrappers apply): the operations the gate, the submitter,
  reconciliation and the stream consumer make, and nothing else.
* :class:`Recorder` - tells people and plugins about an outcome: one line to the
  ``tradingagents.broker.trades`` logger and an ``on_order_event``.

As NautilusTrader's engines are given their cache and portfolio, each safety
part takes what it uses; the import graph points one way (gateway -> safety ->
host).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from ..broker import Broker, OrderQuery
from ..decisions import OrderContext
from ..enums import TradingMode
from ..events import OrderEvent, OrderEventKind
from ..host import PluginHost
from ..models import Account, ClosePositionResult, Position, Quote
from ..orders import Order, OrderChanges, OrderRequest
from ..streams import OrderStream, OrderUpdate, OrderUpdateListener

__all__ = ["BrokerLink", "Recorder"]

trades_log = logging.getLogger("tradingagents.broker.trades")


@attrs.frozen
class BrokerLink:
    """One broker instance, named ``name``, called through ``host``'s operation hooks."""

    host: PluginHost = attrs.field(repr=False)
    name: str
    broker: Broker = attrs.field(repr=False)
    mode: TradingMode

    def place_order(self, request: OrderRequest) -> Order:
        return self.host.place_order(self.name, self.broker, request)

    def replace_order(self, order_id: str, changes: OrderChanges) -> Order:
        return self.host.replace_order(self.name, self.broker, order_id, changes)

    def get_order(self, order_id: str, symbol: str | None = None) -> Order:
        return self.host.get_order(self.name, self.broker, order_id, symbol)

    def get_order_by_client_id(self, client_order_id: str, symbol: str | None = None) -> Order:
        return self.host.get_order_by_client_id(self.name, self.broker, client_order_id, symbol)

    def get_orders(
        self,
        status: OrderQuery = "open",
        limit: int | None = None,
        symbols: Sequence[str] | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Order]:
        return self.host.get_orders(self.name, self.broker, status, limit, symbols, after, until)

    def get_positions(self) -> list[Position]:
        return self.host.get_positions(self.name, self.broker)

    def get_position(self, symbol: str) -> Position:
        return self.host.get_position(self.name, self.broker, symbol)

    def close_position(self, symbol: str, qty: Any, percentage: Any) -> Order:
        return self.host.close_position(self.name, self.broker, symbol, qty, percentage)

    def close_all_positions(self, cancel_orders: bool) -> list[ClosePositionResult]:
        return self.host.close_all_positions(self.name, self.broker, cancel_orders)

    def get_account(self) -> Account:
        return self.host.get_account(self.name, self.broker)

    def read_quote(self, symbol: str) -> Quote:
        return self.host.get_quote(self.name, self.broker, symbol)

    def subscribe_order_updates(self, listener: OrderUpdateListener) -> OrderStream | None:
        return self.host.subscribe_order_updates(self.name, self.broker, listener)


@attrs.frozen
class Recorder:
    """Logs an outcome to ``tradingagents.broker.trades`` and tells ``on_order_event``."""

    host: PluginHost = attrs.field(repr=False)
    broker_name: str
    mode: TradingMode

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
        if trades_log.isEnabledFor(logging.INFO):
            self._log(kind, request, ctx, order, error)
        self.host.emit(
            OrderEvent(
                kind=kind,
                broker_name=self.broker_name,
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
        fields = {
            "event": str(kind),
            "broker": self.broker_name,
            "mode": self.mode.value,
            "source": ctx.source,
            "symbol": subject.get("symbol") or (order.symbol if order else None),
            "side": subject.get("side"),
            "qty": subject.get("qty"),
            "notional": subject.get("notional"),
            "client_order_id": subject.get("client_order_id")
            or (order.client_order_id if order else None),
            "order_id": order.order_id if order else None,
            "status": order.status.value if order else None,
            "code": error["code"] if error else None,
        }
        # The same fields as attributes of the record, for a JSON formatter to emit.
        trades_log.info(
            "%s broker=%s mode=%s source=%s symbol=%s side=%s qty=%s notional=%s "
            "client_order_id=%s order_id=%s status=%s code=%s",
            *fields.values(),
            extra=fields,
        )
