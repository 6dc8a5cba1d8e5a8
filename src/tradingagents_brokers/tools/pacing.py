"""How long a model should wait after ``RATE_LIMIT_EXCEEDED``: ``retry_after``, in seconds.

The rate check says how many orders it counted in which window (one second or a
minute) against which limit. The orders the journal admitted in that window tell
when enough of them will have left it for one more order to pass: that moment,
rounded up to a tenth of a second, is ``retry_after``. When the journal cannot
say (the window held closes, whose times are not counted here), the whole window.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..errors import OrderRejectedError, Reason
from ..gateway import GatedBroker

__all__ = ["paced", "retry_after"]

#: The rate check's message: "5 orders in the last 1s; max_orders_per_second=5; ...".
_COUNTED = re.compile(r"(\d+) orders(?: and closes)? in the last (\d+)s; \w+=(\d+)")


def retry_after(broker: GatedBroker, reasons: Sequence[Reason]) -> float | None:
    """Seconds until one more order passes the rate limit that refused, or None."""
    for reason in reasons:
        counted = _COUNTED.match(reason.message) if reason.code == "RATE_LIMIT_EXCEEDED" else None
        if counted is not None:
            break
    else:
        return None
    count, seconds, limit = (int(n) for n in counted.groups())
    now = broker.journal.now()
    since = now - dt.timedelta(seconds=seconds)
    stamps = sorted(
        dt.datetime.fromisoformat(intent.created_at)
        for intent in broker.journal.intents(broker=broker.name, since=since)
        if intent.status != "denied"
    )
    wait = float(seconds)
    if limit >= 1 and len(stamps) >= count >= limit:
        # the last of the oldest (count - limit + 1) to leave the window
        leaves = stamps[count - limit] + dt.timedelta(seconds=seconds)
        wait = (leaves - now).total_seconds()
    return min(float(seconds), max(0.1, math.ceil(wait * 10) / 10))


@contextmanager
def paced(broker: GatedBroker) -> Iterator[None]:
    """A rate-limit refusal raised inside carries ``retry_after`` in its details."""
    try:
        yield
    except OrderRejectedError as exc:
        wait = retry_after(broker, exc.reasons)
        if wait is not None:
            exc.details["retry_after"] = wait
        raise
