"""Listing orders a page at a time: the time window of ``get_orders`` and a pager over it.

A broker lists orders newest first. ``after`` and ``until`` bound ``submitted_at``
(both exclusive), so the next page back is the one ``until`` the oldest order seen.
Orders submitted in the same microsecond may straddle a page's edge, so the pager
asks for the oldest instant again and drops the orders it has already given; a page
all of one instant is asked for again, twice as large.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from .errors import InvalidOrderError
from .orders import Order

__all__ = ["check_window", "in_window", "iter_orders"]

#: The largest page a caller may ask for.
MAX_PAGE = 500

_ONE_TICK = timedelta(microseconds=1)


def check_window(after: Any, until: Any) -> tuple[datetime | None, datetime | None]:
    """``after`` and ``until`` as timezone-aware datetimes, or :class:`InvalidOrderError`."""
    for name, value in (("after", after), ("until", until)):
        if value is None:
            continue
        if not isinstance(value, datetime):
            raise InvalidOrderError(
                f"{name} must be a date and time, got {type(value).__name__}; "
                "give an ISO 8601 time with its zone, e.g. 2026-12-01T14:30:00Z"
            )
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidOrderError(
                f"{name} has no time zone; add one, e.g. 2026-12-01T14:30:00Z for UTC"
            )
    if after is not None and until is not None and after >= until:
        raise InvalidOrderError(
            f"after ({after.isoformat()}) must be earlier than until ({until.isoformat()})"
        )
    return after, until


def in_window(order: Order, after: datetime | None, until: datetime | None) -> bool:
    """Whether ``order`` was submitted strictly between ``after`` and ``until``.

    An order without a submission time is outside any bounded window: nobody can
    say which page it belongs to.
    """
    at = order.submitted_at
    if at is None:
        return after is None and until is None
    return (after is None or at > after) and (until is None or at < until)


class _Lister(Protocol):
    def get_orders(
        self,
        status: Any = ...,
        limit: int | None = ...,
        symbols: Sequence[str] | None = ...,
        after: datetime | None = ...,
        until: datetime | None = ...,
    ) -> list[Order]: ...


def iter_orders(
    broker: _Lister,
    *,
    status: str = "all",
    symbols: Sequence[str] | None = None,
    after: datetime | None = None,
    until: datetime | None = None,
    page_size: int = 100,
) -> Iterator[Order]:
    """Every order in the window, newest first, one listing per ``page_size`` orders.

    ``broker`` is a :class:`GatedBroker` or a plugin's broker. Memory stays flat: only
    the ids at the current page's edge are remembered.
    """
    if not 1 <= page_size <= MAX_PAGE:
        raise InvalidOrderError(f"page_size must be 1 to {MAX_PAGE}, got {page_size}")
    check_window(after, until)
    given: set[str] = set()  # the ids already yielded at the edge instant
    edge, limit = until, page_size
    while True:
        page = broker.get_orders(status, limit, symbols, after=after, until=edge)
        fresh = [order for order in page if order.order_id not in given]
        yield from fresh
        oldest = min((o.submitted_at for o in page if o.submitted_at is not None), default=None)
        if len(page) < limit or oldest is None:
            return
        if not fresh:
            # a whole page of orders from one instant, all given already: ask for more
            limit *= 2
            continue
        given = {o.order_id for o in page if o.submitted_at == oldest}
        # ask for the oldest instant again: orders that share it may not all have fit
        edge = oldest + _ONE_TICK
