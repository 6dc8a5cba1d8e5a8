"""What this process is waiting on: the broker call in progress, for a person to see.

Every broker operation the core makes runs inside :func:`activity` (the plugin host
marks each hook call). A front end - the CLI - asks :func:`longest` now and then
and, once a wait passes a second, says what it waits for, so a slow or unreachable
broker never looks like a hung program.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

__all__ = ["activity", "describe", "longest"]

#: Thread id -> (what, since): the innermost activity of each thread.
_ACTIVE: dict[int, tuple[str, float]] = {}

_WORDS = {
    "build_broker": "connecting",
    "place_order": "placing the order",
    "cancel_order": "cancelling an order",
    "replace_order": "changing an order",
    "get_order": "looking an order up",
    "get_order_by_client_id": "looking an order up",
    "get_orders": "listing orders",
    "get_positions": "reading the positions",
    "get_position": "reading a position",
    "close_position": "closing a position",
    "get_account": "reading the account",
    "get_portfolio_history": "reading the account's history",
    "get_clock": "reading the market clock",
    "get_asset": "reading an asset",
    "get_quote": "reading a price",
    "subscribe_order_updates": "starting the order stream",
    "subscribe_quotes": "starting the price stream",
}


def describe(hook: str, broker: str) -> str:
    """``"reading the account (alpaca)"`` for a hook name and a broker name."""
    return f"{_WORDS.get(hook, hook.replace('_', ' '))} ({broker})"


class activity:
    """Mark this thread as waiting on ``what`` until the block ends (nests)."""

    __slots__ = ("key", "previous", "what")

    def __init__(self, what: str) -> None:
        self.what = what
        self.key = 0
        self.previous: tuple[str, float] | None = None

    def __enter__(self) -> None:
        self.key = threading.get_ident()
        self.previous = _ACTIVE.get(self.key)
        _ACTIVE[self.key] = (self.what, time.monotonic())

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.previous is None:
            _ACTIVE.pop(self.key, None)
        else:
            _ACTIVE[self.key] = self.previous


def longest(now: float | None = None) -> tuple[str, float] | None:
    """The wait in progress the longest, as ``(what, seconds)``; None when nothing waits."""
    moment = time.monotonic() if now is None else now
    waits = list(_ACTIVE.values())  # a copy: other threads change it
    if not waits:
        return None
    what, since = min(waits, key=lambda wait: wait[1])
    return what, moment - since
