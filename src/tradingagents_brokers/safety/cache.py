"""The broker state cache: what the risk checks read while the broker's order stream is live.

One cache per gated broker. It holds a snapshot of the account, the positions and
the open orders (read when the stream connects, reconnects, or after something
the cache cannot account for), brought forward by every order update: the
gate's own answers and the stream's messages. Recent quotes are kept for
``quote_cache_seconds``.

The cache is *live* - trusted by the checks - only while the stream is connected,
a snapshot is installed, nothing has made it doubtful since, and the stream was
heard from within ``state_max_age_seconds``. Otherwise the gate reads the broker
as it would without a cache. The account is re-read when older than
``state_max_age_seconds`` even while live.

Fail-closed rules, each a comment where it is enforced below:

* fills are counted per order, only as the order's filled quantity grows, so a
  duplicate or late update changes nothing;
* an order seen for the first time that is older than the snapshot (a late or
  replayed message, or an order placed while the snapshot was read) makes the
  cache doubtful (``dirty``) until a new snapshot: its fills could be counted
  twice or not at all;
* journal intents the cache has not seen at the broker yet (in flight, or placed
  by another process whose update has not arrived) count as pending, and one
  acknowledged but still unseen after ``state_max_age_seconds`` makes it dirty;
* buying power: every buy admitted since the account was read counts against it
  until the next read, whatever became of it since.
"""

from __future__ import annotations

import bisect
import collections
import datetime as dt
import threading
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

import attrs

from ..enums import OrderSide
from ..models import Account, Position
from ..orders import Order
from .book import OpenBook
from .journal import Journal
from .quotes import QuoteBoard
from .records import UNRESOLVED, IntentRecord, advances, stamp

__all__ = ["SnapshotMarks", "StateCache"]

#: Intents in these states never reached (or never acted at) the broker.
NEVER_EXECUTED = frozenset({"denied", "not_placed", "rejected"})
#: How many final orders the cache remembers, to recognise late and duplicate updates.
KEEP_FINAL = 20_000
#: The longest window (seconds) of admitted orders the cache counts (the rate limits' minute).
RATE_WINDOW = 60.0
#: Admitted intents kept before sync() forgets those older than RATE_WINDOW by itself.
PRUNE_AT = 10_000


@attrs.frozen
class SnapshotMarks:
    """The journal as it stood when a snapshot's reads began."""

    at: dt.datetime
    max_intent_id: int
    unresolved: tuple[IntentRecord, ...]


def _parse_stamp(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class StateCache:
    """Account, positions, open orders and quotes of one broker. Thread-safe."""

    def __init__(
        self,
        journal: Journal,
        broker_name: str,
        *,
        max_age_seconds: float,
        quote_seconds: float,
        quote_max_age_seconds: float | None = None,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.journal = journal
        self.broker_name = broker_name
        self.max_age = dt.timedelta(seconds=max_age_seconds)
        #: A stream's own, shorter bound on silence (a polled stream's freshness); see
        #: :meth:`limit_silence`.
        self.silence_limit: dt.timedelta | None = None
        self.now = now or journal.now
        self._lock = threading.RLock()
        self.connected = False
        self.last_alive: dt.datetime | None = None
        self.dirty: str | None = "no snapshot has been taken yet"
        #: Bumped by each snapshot; an answer to a call begun in the same generation is exact.
        self.generation = 0
        self.snapshots = 0
        self._mark_end = 0
        self._orders: dict[str, Order] = {}
        self._final: collections.deque[str] = collections.deque()
        self._by_client: dict[str, str] = {}
        self._open = OpenBook()
        self._positions: dict[str, Position] = {}
        self._qty: dict[str, Decimal] = {}
        self._tracked: dict[int, IntentRecord] = {}
        self._scanned = 0
        self._account: Account | None = None
        self._account_at: dt.datetime | None = None
        self._account_pending: dict[int, IntentRecord] = {}
        self._account_buys = Decimal(0)  # the value of the buys among them
        self.quotes = QuoteBoard(quote_seconds, self.now, trade_age_seconds=quote_max_age_seconds)
        #: When each intent admitted in the last RATE_WINDOW seconds was created (sorted).
        self._admitted: list[str] = []

    def __repr__(self) -> str:
        return f"<StateCache {self.broker_name!r} {self.status()}>"

    # -- the stream's state ---------------------------------------------------------

    def connect(self) -> None:
        with self._lock:
            self.connected = True

    def disconnect(self, reason: str) -> None:
        with self._lock:
            self.connected = False
            self.dirty = f"the order stream dropped ({reason})"

    def alive(self) -> None:
        with self._lock:
            self.last_alive = self.now()

    def mark_dirty(self, reason: str) -> None:
        with self._lock:
            self.dirty = reason

    def limit_silence(self, seconds: float | None) -> None:
        """Trust the stream only ``seconds`` after it was last heard from (None: max_age).

        A polled stream says how fresh its polls keep the state; the tighter of
        that and ``state_max_age_seconds`` applies.
        """
        with self._lock:
            self.silence_limit = None if seconds is None else dt.timedelta(seconds=seconds)

    def why_not_live(self) -> str | None:
        """None when the checks may read the cache; otherwise why they read the broker."""
        with self._lock:
            if not self.connected:
                return self.dirty or "the order stream is not connected"
            if self.dirty is not None:
                return self.dirty
            limit, name = self.max_age, "state_max_age_seconds"
            if self.silence_limit is not None and self.silence_limit < limit:
                limit, name = self.silence_limit, "the stream's freshness bound"
            # Exactly at the bound still counts; a moment over it does not.
            if self.last_alive is None or self.now() - self.last_alive > limit:
                return (
                    f"the order stream has been silent longer than {name} "
                    f"({limit.total_seconds():g}s)"
                )
            return None

    @property
    def live(self) -> bool:
        return self.why_not_live() is None

    def status(self) -> str:
        reason = self.why_not_live()
        return "live" if reason is None else f"not live: {reason}"

    # -- snapshots ------------------------------------------------------------------

    def begin_snapshot(self) -> SnapshotMarks:
        """Note where the journal stands; call before reading the broker for a snapshot."""
        unresolved = self.journal.intents(broker=self.broker_name, statuses=UNRESOLVED)
        return SnapshotMarks(self.now(), self.journal.max_intent_id(), tuple(unresolved))

    def install(
        self,
        marks: SnapshotMarks,
        open_orders: Sequence[Order],
        positions: Sequence[Position],
        account: Account,
    ) -> None:
        """Replace everything with a snapshot read after ``marks`` were taken."""
        mark_end = self.journal.max_intent_id()
        later = self.journal.intents_after(marks.max_intent_id, self.broker_name)
        pending = {i.intent_id: i for i in (*marks.unresolved, *later) if i.status != "denied"}
        scanned = max([marks.max_intent_id, *pending])
        cutoff = stamp(self.now() - dt.timedelta(seconds=RATE_WINDOW))
        admitted = self.journal.admitted_stamps(self.broker_name, cutoff, scanned)
        with self._lock:
            self.generation += 1
            self.snapshots += 1
            self._mark_end = mark_end
            self._orders = {o.order_id: o for o in open_orders}
            self._final.clear()
            self._by_client = {o.client_order_id: o.order_id for o in open_orders}
            self._open = OpenBook()
            for order in open_orders:
                self._open.put(order)
            self._positions = {p.symbol: p for p in positions}
            self._qty = {p.symbol: p.qty for p in positions}
            # Intents the snapshot may not show: unresolved when it began, or newer.
            self._tracked = {
                k: i for k, i in pending.items() if i.client_order_id not in self._by_client
            }
            self._scanned = scanned
            self._admitted = admitted
            self._account = account
            self._account_at = marks.at
            self._reset_account(pending.values())
            self.quotes.forget_reads()
            self.dirty = None
            self.last_alive = self.now()

    # -- what the gate learns -------------------------------------------------------

    def knows(self, order_id: str) -> bool:
        with self._lock:
            return order_id in self._orders

    def apply(
        self, order: Order, *, intent_id: int | None = None, generation: int | None = None
    ) -> str:
        """Bring one order's state forward; returns "news", "stale" or "doubtful".

        An order the cache has not seen is counted from a filled quantity of zero
        only when it is younger than the snapshot: its intent is newer, or the
        call that made it began after the snapshot (``generation``). Of an older
        order the snapshot may already hold some fills - or the message is late
        and the order has moved on since - so the cache becomes doubtful instead.
        A known order under a client order id the cache has not seen was modified in
        place (a broker that replaces that way, IB): its new terms are taken.
        """
        with self._lock:
            known = self._orders.get(order.order_id)
            if known is None:
                younger = (intent_id is not None and intent_id > self._mark_end) or (
                    generation is not None and generation == self.generation
                )
                if not younger:
                    self.dirty = (
                        f"order {order.order_id} is older than the snapshot but not in it; "
                        "its fills may be counted twice or not at all"
                    )
                    return "doubtful"
                merged, delta = order, order.filled_qty
            else:
                amended = order.client_order_id not in self._by_client
                if not amended and not advances(
                    known.status.value, known.filled_qty, order.status.value, order.filled_qty
                ):
                    return "stale"
                delta = max(order.filled_qty - known.filled_qty, Decimal(0))
                status = known.status if known.status.is_terminal else order.status
                merged = attrs.evolve(
                    order, status=status, filled_qty=max(order.filled_qty, known.filled_qty)
                )
            if delta:
                sign = 1 if order.side is OrderSide.BUY else -1
                self._qty[order.symbol] = self._qty.get(order.symbol, Decimal(0)) + sign * delta
            self._remember(merged)
            return "news"

    def _remember(self, order: Order) -> None:
        self._orders[order.order_id] = order
        self._by_client[order.client_order_id] = order.order_id
        seen = [k for k, i in self._tracked.items() if i.client_order_id == order.client_order_id]
        for key in seen:
            del self._tracked[key]
        book = self._open
        if order.replaces:
            book.remove(order.symbol, order.replaces)  # the replacement stands for the replaced
        replaced_pending = (
            order.status.value == "replaced"
            and order.replaced_by is not None
            and order.replaced_by not in self._orders
        )
        if order.status.is_open or replaced_pending:
            # A replaced order keeps counting until its replacement is seen.
            book.put(order)
            return
        book.remove(order.symbol, order.order_id)
        self._final.append(order.order_id)
        while len(self._final) > KEEP_FINAL:
            old = self._orders.pop(self._final.popleft(), None)
            if old is not None:
                self._by_client.pop(old.client_order_id, None)

    def sync(self) -> int:
        """Catch up with the journal: intents placed since, and what became of tracked ones.

        Call inside the gate's journal transaction, before the checks. Returns the
        newest intent id taken in (for :meth:`adopt`).
        """
        with self._lock:
            after, tracked_ids = self._scanned, list(self._tracked)
        new = self.journal.intents_after(after, self.broker_name)
        current = self.journal.intents_by_id(tracked_ids) if tracked_ids else []
        now = self.now()
        with self._lock:
            for intent in new:
                self.adopt(intent)
            if len(self._admitted) > PRUNE_AT:  # nobody counts the minute: keep it bounded
                floor = stamp(now - dt.timedelta(seconds=RATE_WINDOW))
                del self._admitted[: bisect.bisect_left(self._admitted, floor)]
            for intent in current:
                if intent.intent_id not in self._tracked:
                    continue
                if intent.status in NEVER_EXECUTED:
                    del self._tracked[intent.intent_id]
                    self._drop_account(intent.intent_id)
                    continue
                self._tracked[intent.intent_id] = intent
                answered = _parse_stamp(intent.updated_at)
                if not intent.unresolved and (answered is None or now - answered > self.max_age):
                    self.dirty = (
                        f"order {intent.client_order_id} was acknowledged but never seen on "
                        "the order stream"
                    )
            return self._scanned

    def adopt(self, intent: IntentRecord, *, after: int | None = None) -> None:
        """Take in an intent as :meth:`sync` reads it.

        The gate adopts the intent it wrote in the transaction whose :meth:`sync`
        returned ``after``: nothing else was written since, so the next sync need not
        read it back - unless a snapshot was installed meanwhile (then it will).
        """
        with self._lock:
            if intent.intent_id <= self._scanned or after not in (None, self._scanned):
                return
            self._scanned = intent.intent_id
            if intent.status == "denied":
                return
            bisect.insort(self._admitted, intent.created_at)
            self._add_account(intent)
            if intent.client_order_id not in self._by_client:
                self._tracked[intent.intent_id] = intent

    # -- what the checks read -------------------------------------------------------

    def account(self, read: Callable[[], Account]) -> tuple[Account, dt.datetime]:
        """The account, re-read with ``read`` when older than ``state_max_age_seconds``.

        Call inside the gate's journal transaction (no intent can appear meanwhile).
        """
        with self._lock:
            account, at = self._account, self._account_at
        now = self.now()
        if account is not None and at is not None and now - at <= self.max_age:
            return account, at
        mark = self.journal.max_intent_id()
        unresolved = self.journal.intents(broker=self.broker_name, statuses=UNRESOLVED)
        fresh = read()
        with self._lock:
            self._account, self._account_at = fresh, now
            # Newer intents than ``mark`` are added by the next sync().
            self._reset_account(i for i in unresolved if i.intent_id <= mark)
        return fresh, now

    def _reset_account(self, intents: Iterable[IntentRecord]) -> None:
        self._account_pending, self._account_buys = {}, Decimal(0)
        for intent in intents:
            self._add_account(intent)

    def _add_account(self, intent: IntentRecord) -> None:
        if intent.intent_id not in self._account_pending:
            self._account_pending[intent.intent_id] = intent
            if intent.side == "buy":
                self._account_buys += intent.value or Decimal(0)

    def _drop_account(self, intent_id: int) -> None:
        intent = self._account_pending.pop(intent_id, None)
        if intent is not None and intent.side == "buy":
            self._account_buys -= intent.value or Decimal(0)

    def account_in_flight(self) -> list[IntentRecord]:
        """Intents admitted since the account was read (and unresolved ones)."""
        with self._lock:
            return list(self._account_pending.values())

    def account_in_flight_buys(self) -> Decimal:
        """The value of the buys among :meth:`account_in_flight`, kept as a running total."""
        with self._lock:
            return self._account_buys

    def in_flight(self) -> list[IntentRecord]:
        """Intents the positions and open orders do not show yet."""
        with self._lock:
            return list(self._tracked.values())

    def count_admitted(self, seconds: float) -> int:
        """Intents admitted in the last ``seconds`` (at most RATE_WINDOW), as of the last sync.

        The journal's count, kept in memory: ``sync`` adds every intent any process
        admitted since, inside the gate's transaction, and intents are admitted or
        denied when they are written, never later.
        """
        if seconds > RATE_WINDOW:
            raise ValueError(f"the cache counts the last {RATE_WINDOW:g}s, not {seconds:g}s")
        floor = stamp(self.now() - dt.timedelta(seconds=seconds))
        with self._lock:
            admitted = self._admitted
            start = bisect.bisect_left(admitted, floor)
            if seconds == RATE_WINDOW:  # what is older will never be counted again
                del admitted[:start]
                start = 0
            return len(admitted) - start

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        with self._lock:
            return self._open.orders(symbol)

    def open_count(self) -> int:
        with self._lock:
            return len(self._open)

    def unfilled(self, symbol: str, side: OrderSide) -> tuple[Decimal, list[Order]]:
        """What the open orders of ``symbol`` on ``side`` have left to fill (see OpenBook)."""
        with self._lock:
            return self._open.unfilled(symbol, side)

    def position_qty(self, symbol: str) -> Decimal:
        with self._lock:
            return self._qty.get(symbol, Decimal(0))

    def positions(self) -> list[Position]:
        """The snapshot's positions with the quantities fills have moved them to.

        A position opened after the snapshot has no prices here (0): the cache
        tracks quantities, which is what the checks need.
        """
        with self._lock:
            result = []
            for symbol, qty in sorted(self._qty.items()):
                if qty == 0:
                    continue
                known = self._positions.get(symbol)
                result.append(
                    attrs.evolve(known, qty=qty)
                    if known is not None
                    else Position(symbol=symbol, qty=qty, avg_entry_price=0, cost_basis=0)
                )
            return result

    def as_of(self) -> dict[str, Any]:
        """When the state the checks read was last known to be true, for the audit trail."""
        with self._lock:
            return {
                "orders_as_of": _iso(self.last_alive),
                "account_as_of": _iso(self._account_at),
                "generation": self.generation,
            }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds")
