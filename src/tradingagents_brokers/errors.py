"""The error hierarchy of DESIGN §7.

Every error carries a stable ``code`` (what went wrong, for programs and agents),
says whether retrying the same call can help (``retryable``) and whether the
outcome of the order it concerns is known (``outcome_known``), and converts to the
error dict of DESIGN §4 with :meth:`BrokerError.to_dict`.

Messages say what to do next. They never contain credentials: plugins convert SDK
exceptions into these classes at their boundary and drop the original exception
(``raise ... from None``), because SDK exceptions can carry request headers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "BrokerAPIError",
    "BrokerAuthenticationError",
    "BrokerConfigurationError",
    "BrokerError",
    "BrokerRateLimitError",
    "BrokerUnavailableError",
    "DuplicateClientOrderIdError",
    "InsufficientFundsError",
    "InvalidOrderError",
    "JournalDamagedError",
    "NotFoundError",
    "NotSupportedError",
    "OrderBlockedError",
    "OrderOutcomeUnknownError",
    "OrderRejectedError",
    "PluginLoadError",
    "Reason",
    "RequestBudgetExhaustedError",
    "StoreUnavailableError",
]


class BrokerError(Exception):
    """Base class of every error this package raises about brokers and orders."""

    code: ClassVar[str] = "broker_error"
    retryable: ClassVar[bool] = False
    outcome_known: ClassVar[bool] = True

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe error dict: ``error, message, code, details``."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "code": self.code,
            "details": _json_safe(self.details),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class BrokerConfigurationError(BrokerError):
    """The configuration, the credentials or the installed plugins are wrong.

    Nothing was sent to a broker. Fix the named key, variable or plugin and retry.
    """

    code = "configuration_error"


class PluginLoadError(BrokerConfigurationError):
    """A plugin could not be imported or registered. The message names it and its distribution."""

    code = "plugin_load_error"


class BrokerAPIError(BrokerError):
    """The broker answered with an error, or could not be reached.

    ``status_code`` is the HTTP status when there was one. Transport failures
    before anything was sent are retryable; see :class:`OrderOutcomeUnknownError`
    for failures after an order may have reached the broker.
    """

    code = "broker_api_error"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        merged = dict(details or {})
        if status_code is not None:
            merged.setdefault("status_code", status_code)
        super().__init__(message, details=merged)
        self.status_code = status_code


class BrokerRateLimitError(BrokerAPIError):
    """The broker's rate limit was hit. Wait ``retry_after`` seconds (when known) and retry."""

    code = "rate_limited"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = 429,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        merged = dict(details or {})
        if retry_after is not None:
            merged.setdefault("retry_after", retry_after)
        super().__init__(message, status_code=status_code, details=merged)
        self.retry_after: float | None = retry_after


class RequestBudgetExhaustedError(BrokerRateLimitError):
    """The account's request budget is spent for longer than the caller may wait.

    Nothing was sent: the budget refuses before the request. Wait ``retry_after``
    seconds and retry, or spread the work out: every process on the account draws
    from one budget (``request_wait_max_seconds`` bounds the wait).
    """

    code = "request_budget_exhausted"
    outcome_known = True

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, retry_after=round(retry_after, 3), status_code=None)


class BrokerUnavailableError(BrokerAPIError):
    """The broker could not be reached, and nothing was sent: retry when it is back.

    A plugin raises it only when it knows the request never left (no connection
    before writing it); a failure after writing is :class:`OrderOutcomeUnknownError`.
    """

    code = "broker_unavailable"
    retryable = True
    outcome_known = True


class NotSupportedError(BrokerError):
    """The broker cannot do this at all (its capabilities say so); use another way."""

    code = "not_supported"


class BrokerAuthenticationError(BrokerAPIError):
    """The broker refused the credentials. Check the environment variables the message names."""

    code = "authentication_failed"
    retryable = False


class NotFoundError(BrokerAPIError):
    """The order, position or asset does not exist at the broker."""

    code = "not_found"
    retryable = False


class InsufficientFundsError(BrokerError):
    """Not enough buying power, or not enough shares to sell. Reduce the size or add funds."""

    code = "insufficient_funds"


class InvalidOrderError(BrokerError):
    """The order request is malformed. The message says which field to fix; nothing was sent."""

    code = "invalid_order"


class DuplicateClientOrderIdError(InvalidOrderError):
    """The broker already has an order with this ``client_order_id``.

    ``details["client_order_id"]`` names it; the order path resolves it to the
    existing order instead of placing a second one.
    """

    code = "duplicate_client_order_id"


class Reason:
    """One reason an order was refused: a stable code, a sentence, and who said it."""

    __slots__ = ("check", "code", "message")

    def __init__(self, code: str, message: str, check: str = "") -> None:
        self.code = code
        self.message = message
        self.check = check

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "check": self.check}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reason) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.code, self.message, self.check))

    def __repr__(self) -> str:
        return f"Reason({self.code!r}, {self.message!r}, check={self.check!r})"


class OrderRejectedError(BrokerError):
    """The order was refused, by the safety gate or by the broker.

    ``reasons`` holds every reason at once (the gate runs every check), so a caller
    can fix them all in one go.
    """

    code = "order_rejected"

    def __init__(
        self,
        message: str,
        *,
        reasons: Sequence[Reason] = (),
        details: Mapping[str, Any] | None = None,
    ) -> None:
        merged = dict(details or {})
        merged["reasons"] = [r.to_dict() for r in reasons]
        super().__init__(message, details=merged)
        self.reasons: tuple[Reason, ...] = tuple(reasons)

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)


class OrderBlockedError(BrokerError):
    """The mode gate stopped the order: live trading is not switched on. Nothing was sent."""

    code = "blocked"

    def to_dict(self) -> dict[str, Any]:
        # The origin design's blocked answer: {"status": "blocked", "message": ...}.
        result = super().to_dict()
        result["status"] = "blocked"
        return result


class StoreUnavailableError(BrokerError):
    """The journal's store (its SQLite file or PostgreSQL server) cannot be used right now.

    Nothing was sent: the gate sends no order it cannot journal first. The message
    says what to check; retry once the store is back.
    """

    code = "store_unavailable"
    retryable = True


class JournalDamagedError(BrokerError):
    """The journal is damaged, replaced, emptied or cut back: no order is sent on it.

    The message says what was found and the way back (restore a backup, or keep
    the damaged file aside and start a new chain: ``tradingagents-brokers journal
    recover``). Retrying does not help until then.
    """

    code = "journal_damaged"


class OrderOutcomeUnknownError(BrokerError):
    """The order may or may not have reached the broker (timeout, reset, 5xx after sending).

    Do not place it again: the order is left for reconciliation, which looks it up
    by ``details["client_order_id"]``.
    """

    code = "outcome_unknown"
    retryable = False
    outcome_known = False


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else str(value)
        )
    return str(value)
