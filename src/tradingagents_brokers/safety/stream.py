"""The core's side of a broker's order stream: journal, cache and events from each update.

:class:`StreamConsumer` is the :class:`~tradingagents_brokers.streams.OrderUpdateListener`
a gated broker hands its broker. On each (re)connect it reconciles the journal
with the broker and takes a snapshot for the state cache (the cache is trusted
only once both succeed). Each update is then, in this order:

1. journaled against its intent (found by client order id) when it is news -
   status and filled quantity only move forward, so duplicates and late
   messages change nothing;
2. applied to the state cache;
3. reported to ``on_order_event`` when the journal changed.

While this process is still submitting an order, that order's updates are held;
the submitter applies and journals those that say more than the broker's answer
(see :meth:`StreamConsumer.submitting`), so each change is recorded and reported
once. A push stream may hand them over unparsed (``on_own_update``).

An update for an order the journal never placed (a "foreign" order, placed on
the broker's website for instance) is journaled as such and makes the cache
doubtful until the next snapshot: it is never trusted for limits without a read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import attrs

from .._text import inert
from ..decisions import OrderContext
from ..errors import BrokerError
from ..events import kind_of_status
from ..streams import OrderStream, OrderUpdate
from .cache import StateCache
from .journal import Journal
from .link import BrokerLink, Recorder
from .reconcile import Reconciler
from .records import IntentRecord, advances

__all__ = ["StreamConsumer", "Submission"]

log = logging.getLogger("tradingagents.broker")

#: A doubtful cache is refreshed at most this often (seconds), whatever the stream says.
REFRESH_INTERVAL = 1.0


@attrs.define
class Submission:
    """One order this process is submitting: the updates held meanwhile, what was recorded."""

    intent_id: int
    #: The order's updates held meanwhile: (status, filled quantity, the update or its parser).
    held: list[tuple[str, Decimal, Callable[[], OrderUpdate]]] = attrs.field(factory=list)
    #: The journal's (status, filled quantity) once the submitter recorded the answer.
    recorded: tuple[str, Decimal] | None = None


class StreamConsumer:
    """Listens to one gated broker's order stream. Callbacks arrive one at a time.

    Handed the broker link, the journal, the state cache, the recorder and the
    reconciler it runs on each (re)connect.
    """

    def __init__(
        self,
        *,
        link: BrokerLink,
        journal: Journal,
        cache: StateCache,
        recorder: Recorder,
        reconciler: Reconciler,
    ) -> None:
        self.link = link
        self.journal = journal
        self.cache = cache
        self.recorder = recorder
        self.reconciler = reconciler
        self.stream: OrderStream | None = None
        self.updates = 0
        self._closed = False
        self._own: dict[str, Submission] = {}
        self._own_lock = threading.Lock()
        self._last_refresh: float | None = None
        #: Seconds between two snapshots a doubtful cache may take.
        self.refresh_interval = REFRESH_INTERVAL

    def __repr__(self) -> str:
        return f"<StreamConsumer {self.link.name!r} {self.cache.status()}>"

    # -- lifecycle (called by the gated broker) ---------------------------------------

    def start(self) -> bool:
        """Subscribe to the broker's order updates; False when it offers none."""
        self._closed = False
        self.stream = self.link.subscribe_order_updates(self)
        if self.stream is None:
            self.cache.mark_dirty(f"broker {self.link.name!r} offers no order stream")
        # A polled stream (polling.py) says how long a good poll keeps the state fresh.
        fresh = getattr(self.stream, "freshness_seconds", None)
        self.cache.limit_silence(float(fresh) if isinstance(fresh, int | float) else None)
        return self.stream is not None

    def stream_status(self) -> dict[str, Any] | None:
        """What the stream says of itself (a polled stream's ``status()``), if it says anything."""
        status = getattr(self.stream, "status", None)
        if not callable(status):
            return None
        try:
            found = status()
        except Exception:  # noqa: BLE001 - a status must never break the caller
            return {"error": "the stream's status() failed"}
        return dict(found) if isinstance(found, dict) else None

    @property
    def live(self) -> bool:
        """Subscribed, and the cache kept from the stream is what the checks read."""
        return self.stream is not None and self.cache.live

    def poll(self) -> None:
        """Let a pull-based stream deliver what is waiting (before the checks)."""
        if self.stream is None:
            return
        try:
            self.stream.poll()
        except Exception as exc:  # noqa: BLE001 - a broken stream must not stop an order
            self.cache.disconnect(f"polling failed ({type(exc).__name__})")
            log.warning("the %s order stream failed: %s", self.link.name, type(exc).__name__)

    def close(self) -> None:
        """Stop listening; what the stream still delivers afterwards is ignored."""
        self._closed = True
        stream, self.stream = self.stream, None
        if stream is not None:
            stream.close()
        self.cache.disconnect("closed")

    def restart(self) -> bool:
        """Drop the subscription and subscribe again (a reconnect, made on purpose)."""
        self.close()
        return self.start()

    @contextmanager
    def submitting(self, intent: IntentRecord) -> Iterator[Submission]:
        """While this process submits an order, its outcome is the gate's to record and report.

        Updates of that order that arrive meanwhile are held, parsed or not: the
        submitter records the broker's answer first (``Submission.recorded``), then
        the held updates that say more than the answer are applied and journaled.
        The stream and the gate never write the same order's record at the same
        time, and a held update that adds nothing (the broker's echo of the order)
        costs no parsing and no journal access.
        """
        submission = Submission(intent.intent_id)
        with self._own_lock:
            self._own[intent.client_order_id] = submission
        try:
            yield submission
        finally:
            with self._own_lock:
                self._own.pop(intent.client_order_id, None)
            for status, filled, parse in submission.held:
                recorded = submission.recorded
                if recorded is None or advances(*recorded, status, filled):
                    self._handle_held(parse)

    def _hold(
        self, client_order_id: str, status: str, filled: Decimal, parse: Callable[[], OrderUpdate]
    ) -> bool:
        """Hold an update of an order this process is submitting; False when it is not."""
        with self._own_lock:
            submission = self._own.get(client_order_id)
            if submission is not None:
                submission.held.append((status, filled, parse))
            return submission is not None

    def _handle_held(self, parse: Callable[[], OrderUpdate]) -> None:
        """A held update that says more than the answer: parsed (if need be) and journaled."""
        try:
            update = parse()
        except Exception as exc:  # noqa: BLE001 - unreadable: resynchronise, never fail the order
            what = exc.message if isinstance(exc, BrokerError) else type(exc).__name__
            self.cache.mark_dirty(f"an order update could not be read ({what})")
            log.warning(
                "the %s order stream sent an unreadable update: %s", self.link.name, inert(what)
            )
            return
        self._journal_update(update)

    # -- the listener -----------------------------------------------------------------

    def on_connected(self) -> None:
        if self._closed:
            return
        self.cache.connect()
        log.info("the %s order stream is connected; reconciling", self.link.name)
        self.refresh()

    def on_alive(self) -> None:
        if self._closed:
            return
        self.cache.alive()
        self._refresh_if_doubtful()

    def on_disconnected(self, reason: str) -> None:
        if self._closed:
            return
        self.cache.disconnect(reason)
        log.warning("the %s order stream dropped: %s", self.link.name, inert(str(reason)))

    def on_own_update(
        self,
        client_order_id: str,
        status: str,
        filled_qty: Decimal,
        parse: Callable[[], OrderUpdate],
    ) -> bool:
        """Take an update of an order this process is submitting, unparsed (never blocks).

        The submitter records the broker's answer first; the update is parsed and
        handled only when it says more than that answer (see :meth:`submitting`).
        """
        if self._closed or not self._hold(client_order_id, status, filled_qty, parse):
            return False
        with self._own_lock:
            self.updates += 1
        self.cache.alive()
        return True

    def on_update(self, update: OrderUpdate) -> None:
        if self._closed:
            return
        try:
            self._handle(update)
        except Exception as exc:  # never let one message stop the stream
            self.cache.mark_dirty(f"an order update could not be handled ({type(exc).__name__})")
            log.exception("the %s order stream's update could not be handled", self.link.name)
        with self._own_lock:  # on_own_update counts from another thread
            self.updates += 1  # handled
        self.cache.alive()
        self._refresh_if_doubtful()

    # -- internals --------------------------------------------------------------------

    def _refresh_if_doubtful(self) -> None:
        """A connected stream with a doubtful cache takes a new snapshot (not too often)."""
        if not (self.cache.connected and self.cache.dirty is not None):
            return
        last = self._last_refresh
        if last is None or time.monotonic() - last >= self.refresh_interval:
            self.refresh()

    def refresh(self) -> bool:
        """Reconcile the journal and install a new snapshot; True when the cache is live again."""
        link, cache = self.link, self.cache
        self._last_refresh = time.monotonic()
        try:
            marks = cache.begin_snapshot()
            open_orders = link.get_orders("open")
            positions = link.get_positions()
            account = link.get_account()
            report = self.reconciler.run(open_orders=open_orders)
        except BrokerError as exc:
            cache.mark_dirty(f"the snapshot could not be read ({exc.message})")
            log.warning("the %s snapshot failed: %s", link.name, inert(exc.message))
            return False
        if not report.ok:
            cache.mark_dirty(f"reconciliation failed: {report.failed[0]['error']}")
            return False
        cache.install(marks, open_orders, positions, account)
        return True

    def _handle(self, update: OrderUpdate) -> None:
        order = update.order
        if not self._hold(
            order.client_order_id, order.status.value, order.filled_qty, lambda: update
        ):
            self._journal_update(update)

    def _journal_update(self, update: OrderUpdate) -> None:
        journal, name, order = self.journal, self.link.name, update.order
        try:
            intent = journal.intent(order.client_order_id)
        except KeyError:
            intent = None
        if intent is not None and intent.broker == name:
            status = None
            if journal.is_news(intent, order):  # a duplicate costs no record
                status = journal.observe(
                    intent.intent_id,
                    order,
                    kind="order_update",
                    event={"update": update.to_dict()},
                    current=intent,
                )
            self.cache.apply(order, intent_id=intent.intent_id)
            if status is not None:
                context = OrderContext(source=intent.source)  # type: ignore[arg-type]
                self.recorder.record(
                    kind_of_status(status), None, context, order=order, update=update
                )
            return
        if self.cache.knows(order.order_id):
            # Not an intent, but an order the cache counts from a known point: a close or
            # a replacement made here, or an order placed elsewhere that a snapshot read.
            if self.cache.apply(order) == "news":
                journal.append("order_update", {"update": update.to_dict()}, broker=name)
            return
        journal.append("foreign_order_update", {"update": update.to_dict()}, broker=name)
        self.cache.mark_dirty(
            f"order {order.order_id} ({order.symbol}) was not placed through this journal"
        )
        log.warning(
            "order %s on %s was not placed through this journal; the state cache will be re-read",
            inert(order.order_id),
            name,
        )
