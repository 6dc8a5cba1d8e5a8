"""IB's error codes, mapped to the core's error classes.

TWS reports problems as ``error(reqId, code, message)`` messages. For an order,
``reqId`` is its order id; ib_async records the code in the trade's log. The
codes that matter to an order path (IB's "message codes" reference):

=========  ==============================================  =================================
code       meaning                                         raised as
=========  ==============================================  =================================
103        duplicate order id                              DuplicateClientOrderIdError
104, 105   cannot modify a filled order / does not match   InvalidOrderError
110        price does not conform to the minimum tick      InvalidOrderError
200        no security definition found                    InvalidOrderError
201        order rejected (reason in the text)             OrderRejectedError, or
                                                           InsufficientFundsError (margin)
135, 10147 no such order                                   NotFoundError
161, 10148 order cannot be cancelled in its state          InvalidOrderError
100        too many messages per second                    BrokerRateLimitError
326        client id already in use                        BrokerConfigurationError
354, 10167 market data not subscribed                      BrokerAPIError
502, 504   cannot connect / not connected                  BrokerAPIError
1100       TWS lost its connection to IB                   (connection state, see session)
=========  ==============================================  =================================

Messages are built from IB's text, which never holds credentials (TWS logs in
by itself; the API socket carries none).
"""

from __future__ import annotations

from typing import Any

from tradingagents_brokers import (
    BrokerAPIError,
    BrokerConfigurationError,
    BrokerError,
    BrokerRateLimitError,
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    InvalidOrderError,
    NotFoundError,
    OrderRejectedError,
    Reason,
)

__all__ = [
    "CANCEL_CONFIRMED",
    "CANCEL_REFUSED",
    "CONNECTION_LOST",
    "CONNECTION_RESTORED",
    "INFORMATIONAL",
    "WARNINGS",
    "is_rejection",
    "map_error",
]

#: "Order Canceled - reason:": the confirmation of a cancel, not a failure.
CANCEL_CONFIRMED = 202
#: Answers to a cancel request that ib_async records as if the order were cancelled,
#: though it is not (already filled, not cancellable now, unknown).
CANCEL_REFUSED = frozenset({135, 136, 161, 10147, 10148, 10149})
#: TWS lost (1100), or TWS's link to IB is broken (2110): orders may not reach IB.
CONNECTION_LOST = frozenset({1100, 2110})
#: TWS's link to IB is back: with data lost (1101) or kept (1102).
CONNECTION_RESTORED = frozenset({1101, 1102})
#: Farm status and similar notes that TWS sends on every connect.
INFORMATIONAL = frozenset({2104, 2106, 2107, 2108, 2119, 2158})
#: Codes ib_async records as warnings: the order they concern is still live.
WARNINGS = frozenset({105, 110, 165, 321, 329, 399, 404, 434, 492, 10167})

_MARGIN_WORDS = ("margin", "buying power", "insufficient", "equity with loan", "available funds")
_SHORT_WORDS = ("short", "locate")


def is_rejection(code: int) -> bool:
    """True when an error code attached to an order means IB refused or dropped it."""
    return (
        code != CANCEL_CONFIRMED
        and code not in WARNINGS
        and code not in CANCEL_REFUSED
        and not 2100 <= code < 2200
    )


def map_error(code: int, message: str, **details: Any) -> BrokerError:
    """The core error for IB's error ``code`` with IB's ``message``."""
    said = " ".join(str(message).split()) or f"error {code}"
    info: dict[str, Any] = {"ib_code": code, **details}
    if code == 103:
        return DuplicateClientOrderIdError(
            f"IB already holds this order (103 {said}); it is looked up, not sent again",
            details=info,
        )
    if code == 201:
        lowered = said.lower()
        if any(word in lowered for word in _MARGIN_WORDS):
            return InsufficientFundsError(
                f"IB rejected the order for margin (201 {said}); reduce the size or add funds",
                details=info,
            )
        reason = "SHORT_NOT_ALLOWED" if any(w in lowered for w in _SHORT_WORDS) else "IB_REJECTED"
        return OrderRejectedError(
            f"IB rejected the order (201 {said})",
            reasons=[Reason(reason, said, "ibkr")],
            details=info,
        )
    if code in (135, 10147):
        return NotFoundError(f"IB has no such order ({code} {said})", details=info)
    if code in (104, 105, 110, 161, 200, 10148, 10326):
        return InvalidOrderError(f"IB refused the request ({code} {said}); fix it", details=info)
    if code == 100:
        return BrokerRateLimitError(
            f"IB's message rate limit was hit (100 {said}); slow down",
            retry_after=1.0,
            status_code=None,
            details=info,
        )
    if code == 326:
        return BrokerConfigurationError(
            f"TWS refused the client id ({said}); give every process its own "
            "broker_options.ibkr.client_id",
            details=info,
        )
    if code in (354, 10167, 10168, 10197):
        return BrokerAPIError(
            f"IB sent no market data ({code} {said}); the account needs a market-data "
            "subscription for this symbol (see docs/ibkr.md)",
            details=info,
        )
    return BrokerAPIError(f"IB error {code}: {said}", details=info)
