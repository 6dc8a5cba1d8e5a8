"""Alpaca's error answers, mapped to the core's error classes by HTTP status, code and message.

Bodies are read defensively: Alpaca sends ``{"code": 40310000, "message": ...}``
but also bodies without a code, HTML pages from its load balancers, and empty
bodies. Messages are built from the body's ``message`` only; the request (whose
headers hold the keys) is never part of an error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from tradingagents_brokers import (
    BrokerAPIError,
    BrokerAuthenticationError,
    BrokerError,
    BrokerRateLimitError,
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    InvalidOrderError,
    NotFoundError,
    OrderRejectedError,
    Reason,
)

__all__ = ["map_error", "parse_body"]

#: Refusals that are the broker's business rules, not malformed requests.
_REJECTIONS = {
    "wash trade": "WASH_TRADE",
    "not allowed to short": "SHORT_NOT_ALLOWED",
    "not shortable": "SHORT_NOT_ALLOWED",
    "fractionable": "NOT_FRACTIONABLE",
    "pattern day trading": "PATTERN_DAY_TRADING",
    "day trading": "PATTERN_DAY_TRADING",
}


def parse_body(text: str | None) -> dict[str, Any]:
    """The JSON object of an error body, or ``{}`` for HTML, empty or odd bodies."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            pass
    after = headers.get("Retry-After")
    if after:
        try:
            return max(0.0, float(after))
        except ValueError:
            return None
    return None


def map_error(
    status: int,
    text: str | None,
    headers: Mapping[str, str] | None = None,
    *,
    now: float | None = None,
) -> BrokerError:
    """The core error for one Alpaca error answer."""
    body = parse_body(text)
    message = str(body.get("message") or "").strip()
    code = body.get("code")
    lowered = message.lower()
    details: dict[str, Any] = {"status_code": status, "alpaca_code": code}
    details.update({k: v for k, v in body.items() if k not in ("code", "message")})
    said = message or f"HTTP {status} without a readable body"
    if status == 401 or (status == 403 and code is None and "forbidden" in lowered):
        return BrokerAuthenticationError(
            f"Alpaca refused the credentials ({said}); check the API key variables for this "
            "mode (paper keys only work on the paper endpoint, live keys on the live one)",
            status_code=status,
            details=details,
        )
    if "client_order_id must be unique" in lowered or "client order id must be unique" in lowered:
        return DuplicateClientOrderIdError(f"Alpaca: {said}", details=details)
    if "insufficient buying power" in lowered or "insufficient qty" in lowered:
        return InsufficientFundsError(f"Alpaca: {said}", details=details)
    for needle, reason in _REJECTIONS.items():
        if needle in lowered:
            return OrderRejectedError(
                f"Alpaca rejected the order: {said}",
                reasons=[Reason(reason, said, "alpaca")],
                details=details,
            )
    if status == 404:
        return NotFoundError(f"Alpaca: {said}", status_code=status, details=details)
    if status == 429:
        wait = _retry_after(headers or {}, time.time() if now is None else now)
        return BrokerRateLimitError(
            f"Alpaca's rate limit was hit ({said}); slow down", retry_after=wait, details=details
        )
    if status == 403:
        return OrderRejectedError(
            f"Alpaca refused the request: {said}",
            reasons=[Reason("BROKER_REFUSED", said, "alpaca")],
            details=details,
        )
    if status in (400, 422):
        return InvalidOrderError(
            f"Alpaca: {said}; fix the order and send it again", details=details
        )
    return BrokerAPIError(
        f"Alpaca answered HTTP {status}: {said}", status_code=status, details=details
    )
