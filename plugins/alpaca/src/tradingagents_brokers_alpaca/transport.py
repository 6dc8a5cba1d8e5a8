"""HTTP to Alpaca through alpaca-py's REST client, with the plugin's own rules.

alpaca-py resends requests on 429 and 504 by itself - order POSTs included, so
an order accepted before a 504 can be placed twice - and sets no timeout, so a
stalled socket blocks forever. Its ``TradingClient`` exposes neither setting, so
this module switches off the client's retries (``_retry``, ``_retry_codes``) and
gives it a session of the plugin's own (``_session``, a :class:`~.wire.Wire`):
kept-alive connections with finite ``(connect, read)`` timeouts, the
environment's proxy and CA bundle read once per host, and none of requests'
per-call work. A test fails if a release of alpaca-py moves those attributes.

Retries are the plugin's: reads are retried on 429 (waiting until
``X-RateLimit-Reset``) and 5xx with backoff; order-creating calls never are - a
timeout or reset after sending becomes ``OrderOutcomeUnknownError`` and the
core's gate looks the order up by its client order id.

Every request is first drawn from a request budget (the core's ``SlidingBudget``):
Alpaca allows 200 requests a minute per account, whatever number of processes
share it. The budgets come from ``BrokerSettings.request_budget``: a broker built
by the core with a store draws from the account's ``RequestBudget`` there, shared
by every process and host on it; one built by hand limits itself alone (a
``LocalRequestBudget``). Market-data requests (the data host, ``base_url=``) draw
from a budget of their own (scope ``data``): Alpaca counts them apart. Either way
a caller never sleeps silently for long: a wait longer than the budget's
``max_wait`` in all raises ``RequestBudgetExhaustedError`` (nothing was sent),
and a read's retries after a 429 sleep no longer than that either.

Errors are built outside the ``except`` blocks, so no SDK exception (whose
request headers carry the keys) is chained to them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tradingagents_brokers import (
    BrokerAPIError,
    BrokerError,
    BrokerRateLimitError,
    OrderOutcomeUnknownError,
)

from .errors import map_error
from .wire import Wire

if TYPE_CHECKING:
    from tradingagents_brokers.store.budget import SlidingBudget

__all__ = ["Transport"]

log = logging.getLogger("tradingagents.broker.alpaca")


class Transport:
    """One Alpaca REST client with timeouts, the plugin's retries and the request budgets.

    ``budget`` counts the Trading API's requests, ``data_budget`` those to the
    market-data host, which are the calls given a ``base_url``.
    """

    def __init__(
        self,
        client: Callable[[], Any],
        *,
        connect_timeout: float,
        read_timeout: float,
        budget: SlidingBudget,
        data_budget: SlidingBudget,
        read_retries: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._make = client
        self._made: Any = None
        self._timeouts = (connect_timeout, read_timeout)
        self.read_retries = read_retries
        self.sleep = sleep
        self.budget = budget
        self.data_budget = data_budget

    def __repr__(self) -> str:
        return "<Transport to Alpaca>"

    @property
    def _client(self) -> Any:
        """alpaca-py's REST client, built at the first request (it reads the keys then)."""
        if self._made is None:
            client = self._make()
            client._retry = 0
            client._retry_codes = []
            client._session.close()  # requests' session, never used
            client._session = Wire(*self._timeouts)
            self._made = client
        return self._made

    def close(self) -> None:
        if self._made is not None:
            self._made._session.close()

    def call(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        base_url: str | None = None,
        retry: bool = True,
    ) -> Any:
        """One request. ``retry=False`` for calls that create or change orders.

        Raises ``RequestBudgetExhaustedError`` when the budget refuses the request:
        then nothing was sent (for an order, it was not placed by this call).
        """
        from alpaca.common.exceptions import APIError
        from requests import RequestException

        budget = self.budget if base_url is None else self.data_budget
        attempt = 0
        slept = 0.0
        while True:
            attempt += 1
            budget.acquire()
            failure: BrokerError
            try:
                return self._client._request(method, path, data, base_url=base_url)
            except APIError as exc:
                failure = _from_api_error(exc)
            except (RequestException, ValueError) as exc:
                failure = _transport_failure(exc, method, path, retry)
            if not retry or attempt > self.read_retries or not _worth_retrying(failure):
                raise failure
            wait = _wait(failure, attempt)
            if slept + wait > budget.max_wait:
                raise failure  # a long wait is the caller's to choose (retry_after says it)
            if wait >= 1:
                log.warning(
                    "Alpaca answered %s to %s %s; retrying in %.1fs",
                    failure.code,
                    method,
                    path,
                    wait,
                )
            self.sleep(wait)
            slept += wait


def _from_api_error(exc: Any) -> BrokerError:
    response = exc.response
    status = getattr(response, "status_code", None) or 0
    text = getattr(response, "text", None)
    headers = dict(getattr(response, "headers", None) or {})
    return map_error(status, text, headers)


def _transport_failure(exc: Exception, method: str, path: str, retry: bool) -> BrokerError:
    what = type(exc).__name__
    if not retry:
        return OrderOutcomeUnknownError(
            f"Alpaca did not answer {method} {path} ({what}); the order may exist - it is looked "
            "up by its client order id, do not resend it by hand",
        )
    return BrokerAPIError(f"Alpaca did not answer {method} {path} ({what})")


def _worth_retrying(error: BrokerError) -> bool:
    if isinstance(error, BrokerRateLimitError):
        return True
    return (
        isinstance(error, BrokerAPIError)
        and type(error) is BrokerAPIError
        and (error.status_code is None or error.status_code >= 500)
    )


def _wait(error: BrokerError, attempt: int) -> float:
    if isinstance(error, BrokerRateLimitError) and error.retry_after is not None:
        return min(error.retry_after + 1.0, 60.0)
    return min(0.5 * 2.0 ** (attempt - 1), 8.0)
