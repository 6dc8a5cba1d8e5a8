"""Sending one journaled intent to its broker: idempotent, with bounded retries.

The intent's ``client_order_id`` goes with every attempt. After a timeout, a
reset, a 5xx or a 429 the outcome is *unknown*, never "not placed": the order is
looked up by that id, and only if it is not found is the same request sent again
(the broker refuses a second order with the same id; for a broker that declares
``unique_client_order_ids=False`` only after a look-up that said "not found", never
after a failed one). When the attempts run out
the intent stays UNKNOWN, counts against every limit, and waits for
reconciliation. A duplicate-id refusal resolves to the order the broker has.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..decisions import OrderContext
from ..errors import (
    BrokerAPIError,
    BrokerError,
    BrokerRateLimitError,
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    NotFoundError,
    OrderOutcomeUnknownError,
    RequestBudgetExhaustedError,
)
from ..events import kind_of_status
from ..orders import Order, OrderChanges, OrderRequest
from .cache import StateCache
from .journal import IntentRecord, Journal
from .link import BrokerLink, Recorder
from .records import order_record
from .stream import StreamConsumer, Submission

__all__ = ["Submitter", "is_ambiguous"]

log = logging.getLogger("tradingagents.broker")


def is_ambiguous(error: BaseException) -> bool:
    """True when a failed submission may still have reached the broker."""
    if isinstance(error, RequestBudgetExhaustedError | BrokerUnavailableError):
        return False  # refused before anything was sent
    if isinstance(error, OrderOutcomeUnknownError | BrokerRateLimitError):
        return True
    if isinstance(error, BrokerAPIError):
        return error.status_code is None or error.status_code >= 500
    return not isinstance(error, BrokerError)


class Submitter:
    """The send step of the gate for one gated broker.

    It is handed the broker link, the journal, the state cache, the stream consumer
    (which holds the order's stream updates while it is sent) and the recorder.
    ``timeout``: no attempt starts later than this many seconds after the send
    began; the intent is then left UNKNOWN for reconciliation.
    """

    def __init__(
        self,
        *,
        link: BrokerLink,
        journal: Journal,
        cache: StateCache,
        stream: StreamConsumer,
        recorder: Recorder,
        retries: int,
        timeout: float,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.link = link
        self.journal = journal
        self.cache = cache
        self.stream = stream
        self.recorder = recorder
        self.retries = retries
        self.timeout = timeout
        self.sleep = sleep
        self.monotonic = monotonic
        self._sending: set[str] = set()
        self._lock = threading.Lock()

    def claim(self, client_order_id: str) -> str:
        """Mark an intent as this process's to send (before its journal commit)."""
        with self._lock:
            self._sending.add(client_order_id)
        return client_order_id

    def release(self, client_order_id: str) -> None:
        with self._lock:
            self._sending.discard(client_order_id)

    def sending(self) -> frozenset[str]:
        """Client order ids this process is sending now: nobody else may judge them."""
        with self._lock:
            return frozenset(self._sending)

    def send(self, intent: IntentRecord, request: OrderRequest, ctx: OrderContext) -> Order:
        self.claim(intent.client_order_id)
        try:
            with self.stream.submitting(intent) as submission:
                return self._send(intent, request, ctx, submission)
        finally:
            self.release(intent.client_order_id)

    def _send(
        self, intent: IntentRecord, request: OrderRequest, ctx: OrderContext, submission: Submission
    ) -> Order:
        journal, link = self.journal, self.link
        coid = intent.client_order_id
        started = self.monotonic()
        attempt = 1
        sent = False  # whether an attempt may have reached the broker
        while True:
            try:
                order = link.place_order(request)
            except DuplicateClientOrderIdError:
                found = self._lookup(coid)
                if found is None:
                    error = OrderOutcomeUnknownError(
                        f"the broker says {coid} exists but cannot find it; "
                        "left for reconciliation",
                        details={"client_order_id": coid},
                    )
                    return self._unknown(intent, request, ctx, error)
                order = found
            except Exception as exc:
                if isinstance(exc, BrokerError) and not is_ambiguous(exc) and not sent:
                    self._refused(intent, request, ctx, exc, attempt)
                    raise
                # This attempt may have reached the broker, or an earlier one did: then a
                # refusal proves nothing (no budget left, no funds - spent by that very
                # order). Look the order up, and send again only after an ambiguous failure.
                sent = True
                found, certain = self._find(coid)
                if found is None:
                    wait = _backoff(exc, attempt + 1)
                    late = self.monotonic() + wait - started > self.timeout
                    retryable = not isinstance(exc, BrokerError) or is_ambiguous(exc)
                    # A broker that takes a second order with one id is sent the order
                    # again only once a look-up has said for certain that it has none.
                    safe = certain or self._unique_ids()
                    if attempt <= self.retries and not late and retryable and safe:
                        attempt += 1
                        self.sleep(wait)
                        journal.append(
                            "submit_attempt",
                            {"attempt": attempt, "after": _code(exc)},
                            intent_id=intent.intent_id,
                            broker=link.name,
                        )
                        continue
                    return self._unknown(intent, request, ctx, _as_unknown(exc, coid))
                order = found
            return self._answered(intent, request, ctx, submission, order, attempt)

    def send_replace(
        self,
        intent: IntentRecord,
        request: OrderRequest,
        current: Order,
        changes: OrderChanges,
        ctx: OrderContext,
    ) -> Order:
        """Send one replace, under the intent's client order id: never twice.

        A replace is not idempotent at the broker (the order it replaces is gone
        after the first), so an ambiguous failure is looked up once by the new id
        and otherwise left UNKNOWN for reconciliation.
        """
        self.claim(intent.client_order_id)
        try:
            with self.stream.submitting(intent) as submission:
                try:
                    order = self.link.replace_order(current.order_id, changes)
                except Exception as exc:
                    if isinstance(exc, BrokerError) and not is_ambiguous(exc):
                        self._refused(intent, request, ctx, exc, 1)
                        raise
                    found = self._lookup(intent.client_order_id)
                    if found is None:
                        error = _as_unknown(exc, intent.client_order_id)
                        return self._unknown(intent, request, ctx, error)
                    order = found
                return self._answered(intent, request, ctx, submission, order, 1)
        finally:
            self.release(intent.client_order_id)

    def _answered(
        self,
        intent: IntentRecord,
        request: OrderRequest,
        ctx: OrderContext,
        submission: Submission,
        order: Order,
        attempt: int,
    ) -> Order:
        coid = intent.client_order_id
        if order.client_order_id != coid:
            error = OrderOutcomeUnknownError(
                f"the broker answered with client_order_id {order.client_order_id!r} "
                f"instead of {coid!r}; left for reconciliation",
                details={"client_order_id": coid, "order_id": order.order_id},
            )
            return self._unknown(intent, request, ctx, error)
        # The stream may have told the journal more already: it only moves forward.
        try:
            status = self.journal.record_answer(
                intent,
                order,
                kind="broker_answer",
                event={
                    "attempt": attempt,
                    "order": order_record(order.to_dict(), request.to_dict()),
                },
            )
        except Exception as exc:  # noqa: BLE001 - a full disk, a lost store: it exists
            raise _unrecorded(order, coid, exc) from None
        # Held stream updates that say no more than this answer need no journal access.
        submission.recorded = (status, order.filled_qty)
        self.cache.apply(order, intent_id=intent.intent_id)
        self.recorder.record(kind_of_status(status), request, ctx, order=order)
        return order

    def _refused(
        self,
        intent: IntentRecord,
        request: OrderRequest,
        ctx: OrderContext,
        error: BrokerError,
        attempt: int,
    ) -> None:
        self.journal.set_status(
            intent.intent_id,
            "rejected",
            kind="broker_answer",
            event={"attempt": attempt, "error": error.to_dict()},
        )
        self.recorder.record("rejected", request, ctx, error=error.to_dict())

    def _unique_ids(self) -> bool:
        """Whether the broker refuses a second order with one client order id."""
        caps = self.link.host.broker_type(self.link.name).capabilities
        return caps.unique_client_order_ids

    def _symbol(self, client_order_id: str) -> str | None:
        return self.journal.symbol_of(self.link.name, client_order_id=client_order_id)

    def _find(self, client_order_id: str) -> tuple[Order | None, bool]:
        """The order with this id, and whether a miss is certain (the broker said not found)."""
        try:
            return self.link.get_order_by_client_id(
                client_order_id, self._symbol(client_order_id)
            ), True
        except NotFoundError:
            return None, True
        except Exception:  # noqa: BLE001 - the look-up failed: nothing is known
            return None, False

    def _lookup(self, client_order_id: str) -> Order | None:
        try:
            return self.link.get_order_by_client_id(client_order_id, self._symbol(client_order_id))
        except Exception:  # noqa: BLE001 - not found, or the look-up failed too: still unknown
            return None

    def _unknown(
        self,
        intent: IntentRecord,
        request: OrderRequest,
        ctx: OrderContext,
        error: OrderOutcomeUnknownError,
    ) -> Order:
        self.journal.set_status(
            intent.intent_id, "unknown", kind="broker_answer", event={"error": error.to_dict()}
        )
        self.recorder.record("unknown", request, ctx, error=error.to_dict())
        log.error("order %s outcome unknown: %s", intent.client_order_id, error.message)
        raise error


def _unrecorded(order: Order, client_order_id: str, error: Exception) -> OrderOutcomeUnknownError:
    what = error.message if isinstance(error, BrokerError) else f"{type(error).__name__}: {error}"
    log.error("order %s was accepted but not journaled: %s", client_order_id, what)
    return OrderOutcomeUnknownError(
        f"the broker took order {client_order_id} ({order.status.value}, id {order.order_id}) "
        f"but the journal could not record its answer ({what}); do not send it again - free "
        "the journal (disk space, the store) and run tradingagents-brokers reconcile",
        details={"client_order_id": client_order_id, "order_id": order.order_id},
    )


def _code(error: BaseException) -> str:
    return error.code if isinstance(error, BrokerError) else type(error).__name__


def _backoff(error: BaseException, attempt: int) -> float:
    if isinstance(error, BrokerRateLimitError) and error.retry_after:
        return min(float(error.retry_after), 30.0)  # honour the broker's reset time
    return min(0.25 * 2.0 ** (attempt - 1), 5.0)


def _as_unknown(error: BaseException, client_order_id: str) -> OrderOutcomeUnknownError:
    if isinstance(error, OrderOutcomeUnknownError):
        error.details.setdefault("client_order_id", client_order_id)  # what to look up
        return error
    what = error.message if isinstance(error, BrokerError) else type(error).__name__
    return OrderOutcomeUnknownError(
        f"order {client_order_id} may have reached the broker ({what}); do not resend it - "
        "it is left for reconciliation (tradingagents-brokers reconcile)",
        details={"client_order_id": client_order_id},
    )
