"""A polled order stream: order updates for a broker that cannot push them.

A broker with only a REST API has no ``trade_updates`` socket, so without help
the gate reads the account, the positions, the open orders and a price before
every order. :class:`PolledOrderStream` gives such a broker an order stream made
of reads: on a background thread, every ``interval`` seconds, it reads the open
orders and one page of the most recent closed ones, compares them with what it
saw last time, and tells the core's listener what changed, exactly as a push
stream would (the contract is in :mod:`tradingagents_brokers.streams`). The
gate's state cache then stays live and an order costs its own request, plus a
price read when the price is older than ``quote_cache_seconds`` and an account
read when the account is older than ``state_max_age_seconds``.

A plugin opts in with two lines: declare ``BrokerCapabilities(order_updates=True)``
and return the stream from ``subscribe_order_updates``::

    def subscribe_order_updates(self, listener):
        return PolledOrderStream(self, listener, interval=2.0)

The stream uses only ``get_orders`` and ``get_order`` of the
:class:`~tradingagents_brokers.broker.Broker` contract. Each poll costs two
requests (the open orders and ``recent`` closed ones), plus one ``get_order``
for each order that was open and is on neither list (an old order that filled;
at most ``lookups``). Sixty polls a minute are 120 requests: choose
``interval`` from the broker's rate limit, and poll only where orders are
frequent enough to pay for it (five reads saved per order).

Fail-closed rules, each a comment where it is enforced below:

* the state cache counts as live only while a poll succeeded within
  ``freshness`` seconds (the stream's ``freshness_seconds``, which the core
  applies on top of ``state_max_age_seconds``): a poller that hangs is not
  trusted for longer than that;
* a poll that fails, or takes longer than ``freshness``, is a dropped connection: the listener hears
  ``on_disconnected`` at once and the gate reads the broker again, as without a
  stream; the next poll that succeeds connects again (the core reconciles and
  reads a new snapshot). Failed polls are retried with a doubling delay, up to
  ``max_backoff`` seconds;
* when more may have changed than one poll can see - a page of closed orders
  that are all new, or more vanished orders than ``lookups`` - the stream
  reconnects in the same way instead of guessing;
* on (re)connect, the stream reads its own baseline *before* it tells the
  listener, so a change between the two reads is delivered by the next poll
  (and the cache, which already holds it or cannot place it, stays exact or
  reads again); it is never missed.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ._text import inert
from .broker import Broker
from .enums import OrderStatus
from .errors import BrokerError
from .orders import Order
from .safety.records import advances
from .streams import OrderUpdate, OrderUpdateListener

__all__ = ["PolledOrderStream"]

log = logging.getLogger("tradingagents.broker")

#: Events named after the status an order reached (a growing filled quantity is a fill).
_EVENTS = {
    "new": "new",
    "accepted": "new",
    "pending_new": "new",
    "canceled": "canceled",
    "expired": "expired",
    "replaced": "replaced",
    "rejected": "rejected",
    "pending_cancel": "pending_cancel",
    "pending_replace": "pending_replace",
    "done_for_day": "done_for_day",
}
#: The longest error text kept for the status (broker text is untrusted).
MAX_REASON = 200


class _Gap(Exception):
    """More may have changed than one poll can see: connect again."""


class SlowPollError(BrokerError):
    """A poll took longer than the freshness bound: what it read is too old to trust."""

    code = "poll_too_slow"
    retryable = True


class PolledOrderStream:
    """An :class:`~tradingagents_brokers.streams.OrderStream` made of periodic reads.

    ``interval``: seconds between polls. ``freshness``: how long after the last
    successful poll the state cache may still be trusted (default three
    intervals; at least one). ``recent``: how many closed orders each poll reads.
    ``lookups``: at most this many vanished orders are looked up one by one per
    poll. ``max_backoff``: the longest wait after failed polls. With
    ``thread=False`` nothing runs in the background: :meth:`poll` (which the gate
    calls before each decision) polls when one is due, and :meth:`tick` polls now.
    """

    def __init__(
        self,
        broker: Broker,
        listener: OrderUpdateListener,
        *,
        interval: float = 5.0,
        freshness: float | None = None,
        recent: int = 50,
        lookups: int = 10,
        max_backoff: float = 60.0,
        thread: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        fresh = 3 * interval if freshness is None else freshness
        if not fresh >= interval:
            raise ValueError(
                f"freshness ({fresh!r}s) must be at least the interval ({interval!r}s): "
                "otherwise the cache would go stale between two good polls"
            )
        if recent < 1 or lookups < 0:
            raise ValueError("recent must be at least 1 and lookups at least 0")
        self._broker = broker
        self._listener = listener
        self.interval = float(interval)
        #: Read by the core: the cache is live only this long after a successful poll.
        self.freshness_seconds = float(fresh)
        self.recent = recent
        self.lookups = lookups
        self.max_backoff = max(float(max_backoff), self.interval)
        self._monotonic = monotonic
        # Reentrant: a listener may close the stream from inside a tick.
        self._tick_lock = threading.RLock()
        self._in_tick = False
        self._closed = threading.Event()
        self._connected = False
        self._known: dict[str, Order] = {}
        self._due = monotonic()
        self.polls = 0
        self.failures = 0  # in a row
        self.requests = 0
        self.updates = 0
        self.reconnects = 0
        self.last_success: dt.datetime | None = None
        self.last_error: str | None = None
        self._thread: threading.Thread | None = None
        if thread:
            self._thread = threading.Thread(
                target=self._run, name="tradingagents-order-poller", daemon=True
            )
            self._thread.start()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "connected" if self._connected else "connecting"
        return f"<PolledOrderStream every {self.interval:g}s {state}>"

    # -- streams.OrderStream -----------------------------------------------------------

    def poll(self) -> None:
        """Without a thread, poll when one is due; with one, nothing (it polls on its own)."""
        if self._thread is None and not self.closed and self._monotonic() >= self._due:
            self.tick()

    def close(self) -> None:
        """Stop polling; the listener hears nothing more once this returns."""
        self._closed.set()
        thread, wait = self._thread, max(10.0, 2 * self.interval)
        if thread is not None:
            if thread is not threading.current_thread():
                thread.join(timeout=wait)
                if thread.is_alive():
                    log.warning("the order poller is inside a request; it stops after it")
            return
        # Without a thread, a tick running on another thread ends before this returns
        # (closing from inside the listener, on the ticking thread, passes at once).
        if self._tick_lock.acquire(timeout=wait):
            self._tick_lock.release()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- status ------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What the poller is doing: for ``GatedBroker.order_stream_status()["stream"]``."""
        return {
            "kind": "polled",
            "interval_seconds": self.interval,
            "freshness_seconds": self.freshness_seconds,
            "connected": self._connected and not self.closed,
            "polls": self.polls,
            "failures_in_a_row": self.failures,
            "requests": self.requests,
            "updates": self.updates,
            "reconnects": self.reconnects,
            "last_success": None
            if self.last_success is None
            else self.last_success.isoformat(timespec="milliseconds"),
            "last_error": self.last_error,
            "next_poll_in_seconds": round(max(self._due - self._monotonic(), 0.0), 3),
        }

    # -- polling -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self.closed:
            try:
                self.tick()
            except Exception:  # the listener failed: log it and go on polling
                log.exception("the order poller's listener failed")
            self._closed.wait(max(self._due - self._monotonic(), 0.0))

    def tick(self) -> bool:
        """Poll once now; True when the poll succeeded."""
        with self._tick_lock:
            if self._closed.is_set() or self._in_tick:
                return False
            self._in_tick = True
            try:
                return self._tick()
            finally:
                self._in_tick = False

    def _tick(self) -> bool:
        """One poll (the tick lock held)."""
        self.polls += 1
        began = self._monotonic()
        self._due = began + self.interval
        try:
            orders, baseline = self._read()
            took = self._monotonic() - began
            if took > self.freshness_seconds:
                # What it read is older than the bound by the time it is delivered.
                raise SlowPollError(
                    f"the poll took {took:g}s, over its {self.freshness_seconds:g}s freshness bound"
                )
        except Exception as exc:  # noqa: BLE001 - any failure is a dropped connection
            self._failed(exc)
            return False
        if baseline is not None:
            self._connect(baseline)
        else:
            for update in orders:
                if self._closed.is_set():
                    return False
                self.updates += 1
                self._listener.on_update(update)
        self.failures = 0
        self.last_error = None
        self.last_success = dt.datetime.now(dt.UTC)
        if self._closed.is_set():
            return False
        # Heard from: the cache counts as fresh for freshness_seconds from now.
        self._listener.on_alive()
        return True

    def _connect(self, baseline: dict[str, Order]) -> None:
        """Take ``baseline`` (read before this call) and tell the listener: it reads a snapshot."""
        if self._connected:
            self.reconnects += 1
            self._listener.on_disconnected(
                "the order poller may have missed changes; connecting again"
            )
        self._known = baseline
        self._connected = True
        if not self.closed:
            self._listener.on_connected()

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        what = exc.message if isinstance(exc, BrokerError) else ""
        reason = inert(f"{type(exc).__name__}: {what}".rstrip(": ")[:MAX_REASON])
        self.last_error = reason
        # Backoff: the interval, doubled for each failure in a row, at most max_backoff.
        delay = min(self.interval * 2 ** (self.failures - 1), self.max_backoff)
        self._due = self._monotonic() + delay
        log.warning("an order poll failed (%s); next try in %gs", reason, delay)
        if self._connected:
            # A failed poll is a dropped connection: the cache stops counting at once.
            self._connected = False
            if not self.closed:
                self._listener.on_disconnected(f"polling failed ({reason})")

    def _read(self) -> tuple[list[OrderUpdate], dict[str, Order] | None]:
        """The updates since the last poll, or (when connecting) a new baseline."""
        broker = self._broker
        self.requests += 2
        open_now = list(broker.get_orders("open"))
        closed_now = list(broker.get_orders("closed", limit=self.recent))
        # The closed page was read second: an order on both lists closed in between.
        seen = {o.order_id: o for o in (*open_now, *closed_now)}
        if not self._connected:
            return [], seen
        try:
            looked = self._look_up_vanished(seen, closed_now)
        except _Gap:
            # Connect again: the baseline is what was just read, before the snapshot.
            return [], seen
        known, updates = self._known, []
        # Closed orders first (oldest first), then the open ones: a replaced order
        # before its replacement.
        still_open = [o for o in reversed(open_now) if seen[o.order_id] is o]
        for order in (*reversed(closed_now), *looked, *still_open):
            update = _update(order, known.get(order.order_id))
            if update is not None:
                updates.append(update)
        for order in looked:
            seen[order.order_id] = order
        self._known = seen
        return updates, None

    def _look_up_vanished(self, seen: dict[str, Order], closed_now: list[Order]) -> list[Order]:
        """Orders open at the last poll that are on neither list now, read one by one."""
        # A full page of closed orders none of which was seen before may hide more
        # beyond it: whatever happened there cannot be delivered, so connect again.
        known = self._known
        if len(closed_now) >= self.recent and not any(o.order_id in known for o in closed_now):
            raise _Gap
        vanished = [
            order_id
            for order_id, order in self._known.items()
            if order_id not in seen and not order.status.is_terminal
        ]
        if len(vanished) > self.lookups:
            raise _Gap
        looked = []
        for order_id in vanished:
            self.requests += 1
            looked.append(self._broker.get_order(order_id))
        return looked


def _update(order: Order, known: Order | None) -> OrderUpdate | None:
    """The update that brings ``known`` (None: never seen) to ``order``; None when no news."""
    before_qty = Decimal(0) if known is None else known.filled_qty
    if known is not None and not advances(
        known.status.value, known.filled_qty, order.status.value, order.filled_qty
    ):
        return None
    delta = order.filled_qty - before_qty
    if delta > 0:
        event = "fill" if order.status is OrderStatus.FILLED else "partial_fill"
        # The execution's own price is known only when it is the order's first fill.
        price = order.filled_avg_price if before_qty == 0 else None
        return OrderUpdate(event=event, order=order, at=order.filled_at, qty=delta, price=price)
    event = _EVENTS.get(order.status.value, order.status.value)
    return OrderUpdate(
        event=event, order=order, at=order.canceled_at if event == "canceled" else None
    )
