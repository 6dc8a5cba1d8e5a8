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
placed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..errors import BrokerRateLimitError
from .backend import Backend

__all__ = ["WINDOW", "RequestBudget", "RequestBudgetExhaustedError"]

log = logging.getLogger("tradingagents.broker")

#: The window the limit counts over, in seconds.
WINDOW = 60.0


class RequestBudgetExhaustedError(BrokerRateLimitError):
    """The account's shared request budget is spent for longer than the caller may wait.

    Nothing was sent. Wait ``retry_after`` seconds and retry, or spread the work
    over more time: every process on the account draws from the same budget.
    """

    code = "request_budget_exhausted"
    outcome_known = True

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, retry_after=round(retry_after, 3), status_code=None)


class RequestBudget:
    """``per_minute`` requests in any sixty seconds for the budget ``name`` of one store."""

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
        if per_minute < 1:
            raise ValueError(f"a request budget needs a positive limit, not {per_minute}")
        self.backend = backend
        self.name = name
        self.per_minute = per_minute
        self.max_wait = max_wait
        self.clock = clock
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"<RequestBudget {self.name!r} {self.per_minute}/min>"

    def acquire(self) -> None:
        """Take one request from the budget, waiting up to ``max_wait`` seconds in all."""
        waited = 0.0
        while True:
            wait = self._take()
            if wait <= 0:
                return
            if waited + wait > self.max_wait:
                raise RequestBudgetExhaustedError(
                    f"the {self.per_minute}-a-minute request budget of {self.name} is spent by "
                    f"every process on the account; nothing was sent - retry in {wait:.1f}s "
                    f"(request_wait_max_seconds is {self.max_wait:g})",
                    retry_after=wait,
                )
            if wait >= 1:
                log.warning(
                    "waiting %.1fs for the shared request budget of %s (%d a minute)",
                    wait,
                    self.name,
                    self.per_minute,
                )
            self.sleep(wait)
            waited += wait

    def _take(self) -> float:
        """0 when a request was taken; otherwise the seconds until one frees."""
        now = self.clock()
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
            if used < self.per_minute:
                backend.execute(
                    "INSERT INTO request_log (budget, at) VALUES (?, ?)", (self.name, now)
                )
                return 0.0
            assert row is not None
            return max(float(row["oldest"]) + WINDOW - now, 0.001)

    def used(self) -> int:
        """Requests made in the last sixty seconds, by every process."""
        row = self.backend.query_one(
            "SELECT COUNT(*) AS used FROM request_log WHERE budget = ? AND at > ?",
            (self.name, self.clock() - WINDOW),
        )
        return int(row["used"]) if row else 0
