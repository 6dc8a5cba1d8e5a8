"""IB's order events as the core's order stream.

TWS pushes every change of this client's orders on the API socket the broker
already holds: ``orderStatus`` (status changes), ``openOrder`` (the order's
terms) and ``execDetails`` (each fill). The session hands them over on its loop
thread; the stream turns each into an :class:`OrderUpdate` there, at once (the
trade keeps changing), and offers it to the listener's ``on_own_update`` (which
never blocks) before queueing it. The listener's other methods block (they read
from the broker and write the journal), so they run one at a time, in the order
things happened, on a worker thread of the stream's own.

* ``on_connected`` when subscribed while connected, after every reconnect, and
  when TWS's link to IB comes back (1101/1102): the core then reconciles, which
  covers what ib_async re-reads on connect and what happened meanwhile;
* ``on_alive`` after each answered heartbeat of the session;
* ``on_disconnected`` on a drop, and while TWS has no link to IB (1100).

Only stock orders are streamed (the core's model is stocks); an update that
cannot be read makes the stream resynchronise, as after a reconnect.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from tradingagents_brokers import BrokerError
from tradingagents_brokers.streams import OrderUpdate, OrderUpdateListener

from .mapping import number, order_id_of
from .session import Session
from .trading import OrderDesk

__all__ = ["IBKROrderStream", "to_update"]

log = logging.getLogger("tradingagents.broker.ibkr")

_EVENTS = {
    "accepted": "new",
    "partially_filled": "partial_fill",
    "filled": "fill",
}


def to_update(desk: OrderDesk, trade: Any, fill: Any | None) -> OrderUpdate:
    """The change of ``trade`` (and its execution ``fill``, if it is one) as an update."""
    order = desk.order(trade)
    status = order.status.value
    if fill is None:
        return OrderUpdate(event=_EVENTS.get(status, status), order=order)
    execution = fill.execution
    return OrderUpdate(
        event="fill" if status == "filled" else "partial_fill",
        order=order,
        at=fill.time or execution.time,
        execution_id=str(execution.execId),
        qty=number(execution.shares, "shares"),
        price=number(execution.price, "price"),
    )


class IBKROrderStream:
    """A running subscription to this client's order events (the core's ``OrderStream``)."""

    def __init__(self, session: Session, desk: OrderDesk, listener: OrderUpdateListener) -> None:
        self._session = session
        self._desk = desk
        self._listener = listener
        #: The listener's optional shortcut (streams.OwnUpdateListener), when it has one.
        self._take_own: Callable[..., bool] | None = getattr(listener, "on_own_update", None)
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._inbox: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, name="ibkr-order-updates", daemon=True)
        self._worker.start()
        self._closed = False
        session.subscribe(self)

    def __repr__(self) -> str:
        return f"<IBKROrderStream {self._session.options.where}>"

    def poll(self) -> None:
        """Updates are pushed; there is nothing to pull."""

    # -- the session's sink (on its loop thread: never blocks) -----------------------

    def connected(self) -> None:
        self._seen.clear()
        self._inbox.put(("connected", None))

    def disconnected(self, reason: str) -> None:
        self._inbox.put(("disconnected", reason))

    def alive(self) -> None:
        self._inbox.put(("alive", None))

    def trade_changed(self, trade: Any, fill: Any | None) -> None:
        if self._closed or trade.contract.secType != "STK":
            return
        try:
            update = to_update(self._desk, trade, fill)
        except BrokerError as exc:
            self._inbox.put(("unreadable", exc.message))
            return
        order = update.order
        # Every term a change in place can make, its new client order id included.
        state = (
            order.status,
            order.filled_qty,
            order.client_order_id,
            order.qty,
            order.limit_price,
            order.stop_price,
            order.trail_price,
            order.trail_percent,
            order.time_in_force,
            order.expire_at,
        )
        key = order_id_of(trade)
        if fill is None and self._seen.get(key) == state:
            return  # ib_async reports some changes twice (openOrder, then orderStatus)
        if order.status.is_terminal:
            self._seen.pop(key, None)  # a late repeat is harmless: the core ignores it
        else:
            self._seen[key] = state
        take = self._take_own
        if take is not None:
            try:
                taken = take(
                    order.client_order_id, order.status.value, order.filled_qty, lambda: update
                )
            except Exception:
                log.exception("the listener's on_own_update failed; delivering the update")
                taken = False
            if taken:
                return
        self._inbox.put(("update", update))

    # -- the worker ---------------------------------------------------------------------

    def _work(self) -> None:
        while (item := self._inbox.get()) is not None:
            self._call(*item)

    def _call(self, kind: str, data: Any) -> None:
        listener = self._listener
        try:
            if kind == "update":
                listener.on_update(data)
            elif kind == "connected":
                listener.on_connected()
            elif kind == "alive":
                listener.on_alive()
            elif kind == "unreadable":
                # Whatever it said is missed: resynchronise as on a reconnect.
                listener.on_disconnected(f"an unreadable order update ({data})")
                listener.on_connected()
            else:
                listener.on_disconnected(str(data))
        except Exception:
            log.exception("the order stream's listener failed on %s", kind)

    def close(self) -> None:
        """Stop delivering; what is already queued is still handled before this returns."""
        if self._closed:
            return
        self._closed = True
        self._session.unsubscribe(self)
        self._inbox.put(None)
        if threading.current_thread() is not self._worker:
            self._worker.join(timeout=10)
