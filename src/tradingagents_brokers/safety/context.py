"""What the risk checks read for one decision (DESIGN §5).

While the order stream is live, the broker state comes from the state cache;
otherwise it is read from the broker through :class:`~.reads.BrokerReads`
(recorded outside the store's write section, replayed inside it). Store reads
(orders in flight, recent orders) are made afresh each time.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ..decisions import CheckContext, OrderContext
from ..orders import OrderRequest
from .cache import NEVER_EXECUTED, RATE_WINDOW
from .journal import UNRESOLVED, IntentRecord, Journal
from .reads import BrokerReads, no_read

if TYPE_CHECKING:
    from .gate import Gate

__all__ = ["Marks", "check_context", "in_flight", "marks_of"]

#: The store as it stood before the broker was read: (newest intent id, unresolved ids).
Marks = tuple[int, frozenset[int]]


def check_context(
    gate: Gate,
    request: OrderRequest,
    ctx: OrderContext,
    reads: BrokerReads | None = None,
    marks: Marks | None = None,
    replaces: str | None = None,
) -> CheckContext:
    """What the checks read: the state cache while the order stream is live, else the broker.

    Broker reads go through ``reads`` (recorded outside the write section,
    replayed inside it); store reads are made afresh each time.
    """
    journal, link, cache, name = gate.journal, gate.link, gate.cache, gate.name
    reads = reads if reads is not None else BrokerReads()

    def since(seconds: float) -> dt.datetime:
        return journal.now() - dt.timedelta(seconds=seconds)

    fetch: dict[str, Any] = {
        "fetch_recent": lambda seconds: [
            i for i in journal.intents(broker=name, since=since(seconds)) if i.status != "denied"
        ],
        # orders admitted and closes sent both reach the broker: both count
        "fetch_count_recent": lambda seconds: (
            journal.count_admitted(name, since(seconds))
            + journal.count_closes(name, since(seconds))
        ),
        "fetch_recent_duplicate": lambda seconds, key: journal.admitted_with_key(
            name, since(seconds), key
        ),
    }
    if gate.stream.live:
        fetch.update(
            fetch_account=reads.wrap(
                "account",
                lambda: cache.account(link.get_account)[0],
                offline=lambda: cache.account(no_read)[0],
            ),
            fetch_positions=cache.positions,
            fetch_open_orders=cache.open_orders,
            fetch_symbol_orders=cache.open_orders,
            fetch_unfilled=cache.unfilled,
            fetch_quote=reads.wrap(
                "quote",
                lambda symbol: cache.quotes.quote(symbol, link.read_quote),
                offline=lambda symbol: cache.quotes.held(symbol) or no_read(),
            ),
            fetch_in_flight=cache.in_flight,
            fetch_account_in_flight=cache.account_in_flight,
            fetch_account_in_flight_buys=cache.account_in_flight_buys,
            fetch_count_recent=lambda seconds: (
                (
                    cache.count_admitted(seconds)
                    if seconds <= RATE_WINDOW
                    else journal.count_admitted(name, since(seconds))
                )
                + journal.count_closes(name, since(seconds))
            ),
            state_source="stream",
        )
    else:
        fetch.update(
            fetch_account=reads.wrap("account", link.get_account),
            fetch_positions=reads.wrap("positions", link.get_positions),
            fetch_open_orders=reads.wrap("open_orders", lambda: link.get_orders("open")),
            fetch_quote=reads.wrap("quote", link.read_quote),
            fetch_in_flight=lambda: in_flight(journal, name, marks),
        )
    return CheckContext(
        request=request,
        order=ctx,
        broker_name=name,
        fetch_day_totals=gate.day_totals.totals,
        mode=gate.mode,
        config=gate.config,
        replaces=replaces,
        now=journal.now,
        **fetch,
    )


def marks_of(journal: Journal, name: str) -> Marks:
    """The store as it stands before the broker is read."""
    unresolved = journal.intents(broker=name, statuses=UNRESOLVED)
    return journal.max_intent_id(), frozenset(i.intent_id for i in unresolved)


def in_flight(journal: Journal, name: str, marks: Marks | None) -> list[IntentRecord]:
    """Intents the broker state read after ``marks`` may not show (see the module doc).

    Unresolved now, unresolved when the reads began, or newer than them: what
    became of those meanwhile may or may not be in what was read.
    """
    found = {i.intent_id: i for i in journal.intents(broker=name, statuses=UNRESOLVED)}
    if marks is not None:
        last, earlier = marks
        for intent in (
            *journal.intents_by_id(earlier),
            *journal.intents_after(last, name),
        ):
            found.setdefault(intent.intent_id, intent)
    return [i for i in found.values() if i.status not in NEVER_EXECUTED]
