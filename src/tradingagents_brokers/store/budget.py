"""A broker's request budget, shared by every process and host that uses the account.

Brokers limit requests per account, not per process (Alpaca: 200 a minute). A
plugin draws each request from a :class:`RequestBudget` kept in the store: a
sliding sixty-second window of the requests every process made, in the
``request_log`` table. At most ``per_minute`` requests start in any sixty seconds,
across all of them together.

A caller that would have to wait longer than ``max_wait`` seconds in all gets
:class:`RequestBudgetExhaustedError` (a rate-limit error, with ``retry_after``)
at once, never a silent minute-long sleep; a wait over a second is logged. The
error is raised before anything is sent, so an order refused this way was not
placed. A broker built without a store gets a :class:`LocalRequestBudget`, the
same rules for this process alone.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

from ..errors import RequestBudgetExhaustedError
from ..waits import activity
from .backend import Backend

__all__ = [
    "DEFAULT_MAX_WAIT",
    "LEASE_SECONDS",
    "MAX_LEASE",
    "WINDOW",
    "LocalRequestBudget",
    "RequestBudget",
    "RequestBudgetExhaustedError",
    "SlidingBudget",
    "local_request_budget",
]

log = logging.getLogger("tradingagents.broker")

#: The window the limit counts over, in seconds.
WINDOW = 60.0
#: How long a caller waits for a budget in all, when nobody says (``request_wait_max_seconds``).
DEFAULT_MAX_WAIT = 10.0
#: The most requests a busy process takes from the store at once, and how long it may
#: hold them before they are dropped (they count as made at the end of that time).
MAX_LEASE = 8
LEASE_SECONDS = 1.0


class SlidingBudget:
    """At most ``per_minute`` requests start in any sixty seconds; see the module docstring.

    :meth:`acquire` is the same for every kind; where the requests are counted is
    each subclass's :meth:`_take`.
    """

    def __init__(
        self,
        name: str,
        per_minute: int,
        *,
        max_wait: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute < 1:
            raise ValueError(f"a request budget needs a positive limit, not {per_minute}")
        self.name = name
        self.per_minute = per_minute
        self.max_wait = max_wait
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.per_minute}/min>"

    def acquire(self) -> None:
        """Take one request from the budget, waiting up to ``max_wait`` seconds in all."""
        waited = 0.0
        while True:
            wait = self._take()
            if wait <= 0:
                return
            if waited + wait > self.max_wait:
                raise RequestBudgetExhaustedError(
                    f"the {self.per_minute}-a-minute request budget of {self.name} is spent"
                    f"{self._by_whom}; nothing was sent - retry in {wait:.1f}s "
                    f"(request_wait_max_seconds is {self.max_wait:g})",
                    retry_after=wait,
                )
            if wait >= 1:
                log.warning(
                    "waiting %.1fs for the request budget of %s (%d a minute%s)",
                    wait,
                    self.name,
                    self.per_minute,
                    self._by_whom,
                )
            with activity(f"the request budget of {self.name} ({self.per_minute} a minute)"):
                self.sleep(wait)
            waited += wait

    _by_whom = ""

    def _take(self) -> float:
        """0 when a request was taken; otherwise the seconds until one frees."""
        raise NotImplementedError


class RequestBudget(SlidingBudget):
    """The budget ``name`` of one store, shared by every process and host on it.

    A busy process takes several requests at once (a *lease*, up to
    :data:`MAX_LEASE`), so it pays one store transaction for several requests: each
    leased request is recorded as made :data:`LEASE_SECONDS` from now, so it counts
    in every window its real use can fall in, and one not used by then is dropped
    (counted, never used: the budget errs on the side of fewer requests). A lease
    doubles while the process needs another within a lease's time of the last one
    and used that one up, falls back to one otherwise, and never takes more than
    half of what is left.
    """

    _by_whom = " by every process on the account"

    def __init__(
        self,
        backend: Backend,
        name: str,
        per_minute: int,
        *,
        max_wait: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(name, per_minute, max_wait=max_wait, sleep=sleep)
        self.backend = backend
        self.clock = clock
        self._lease_size = 1
        self._leased = 0
        self._lease_ends = 0.0
        self._lease_lock = threading.Lock()

    def _take(self) -> float:
        now = self.clock()
        with self._lease_lock:
            if self._leased and now < self._lease_ends:
                self._leased -= 1
                return 0.0
            # Another draw within a lease's time, the last lease used up: a busy process.
            busy = not self._leased and now < self._lease_ends
            self._lease_size = min(self._lease_size * 2, MAX_LEASE) if busy else 1
            wanted, self._leased = self._lease_size, 0
        granted, wait = self._draw(now, wanted)
        if granted:
            with self._lease_lock:
                self._leased, self._lease_ends = granted - 1, now + LEASE_SECONDS
        return wait

    def _draw(self, now: float, wanted: int) -> tuple[int, float]:
        """Take up to ``wanted`` requests from the store: (how many, seconds to wait if none)."""
        backend = self.backend
        with backend.transaction(lock=False, durable=False):
            backend.serialize(f"request_budget:{self.name}")
            backend.execute(
                "DELETE FROM request_log WHERE budget = ? AND at <= ?", (self.name, now - WINDOW)
            )
            row = backend.query_one(
                "SELECT COUNT(*) AS used, MIN(at) AS oldest FROM request_log WHERE budget = ?",
                (self.name,),
            )
            used = int(row["used"]) if row else 0
            left = self.per_minute - used
            if left <= 0:
                assert row is not None
                return 0, max(float(row["oldest"]) + WINDOW - now, 0.001)
            granted = max(1, min(wanted, left // 2))
            at = now if granted == 1 else now + LEASE_SECONDS
            for _ in range(granted):
                backend.execute(
                    "INSERT INTO request_log (budget, at) VALUES (?, ?)", (self.name, at)
                )
            return granted, 0.0

    def used(self) -> int:
        """Requests made in the last sixty seconds, by every process."""
        row = self.backend.query_one(
            "SELECT COUNT(*) AS used FROM request_log WHERE budget = ? AND at > ?",
            (self.name, self.clock() - WINDOW),
        )
        return int(row["used"]) if row else 0


class LocalRequestBudget(SlidingBudget):
    """A budget of this process alone: for a broker built without a store."""

    _by_whom = " (this process alone: give it a store to share it)"

    def __init__(
        self,
        name: str,
        per_minute: int,
        *,
        max_wait: float = DEFAULT_MAX_WAIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(name, per_minute, max_wait=max_wait, sleep=sleep)
        self.clock = clock
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def _take(self) -> float:
        with self._lock:
            now, sent = self.clock(), self._sent
            while sent and now - sent[0] >= WINDOW:
                sent.popleft()
            if len(sent) < self.per_minute:
                sent.append(now)
                return 0.0
            return max(sent[0] + WINDOW - now, 0.001)

    def used(self) -> int:
        with self._lock:
            now = self.clock()
            return sum(1 for at in self._sent if now - at < WINDOW)


def local_request_budget(per_minute: int, scope: str | None = None) -> SlidingBudget:
    """The default of ``BrokerSettings.request_budget``: a budget of this process alone."""
    return LocalRequestBudget("broker" if scope is None else f"broker:{scope}", per_minute)
