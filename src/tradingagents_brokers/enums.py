"""Enumerations of the order model.

All are ``str`` enums whose values are the lower-case wire names most brokers use.
:class:`OrderStatus` is *open*: a status a broker invents tomorrow maps to
``OrderStatus.UNKNOWN`` (non-terminal, so it keeps counting against limits) and is
logged once, instead of crashing the caller after the order was accepted.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

__all__ = [
    "OrderClass",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "PositionSide",
    "TimeInForce",
    "TradingMode",
]

log = logging.getLogger("tradingagents.broker")


class _StrEnum(enum.StrEnum):
    @classmethod
    def accepted(cls) -> str:
        return ", ".join(m.value for m in cls)


class OrderSide(_StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(_StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(_StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    OPG = "opg"
    CLS = "cls"
    #: Good until ``expire_at`` (the order's expiry); a broker that has it says so.
    GTD = "gtd"


class OrderClass(_StrEnum):
    SIMPLE = "simple"
    BRACKET = "bracket"
    OCO = "oco"
    OTO = "oto"


class PositionSide(_StrEnum):
    LONG = "long"
    SHORT = "short"


class TradingMode(_StrEnum):
    PAPER = "paper"
    LIVE = "live"


_TERMINAL = frozenset({"filled", "canceled", "expired", "replaced", "rejected"})
_warned_statuses: set[str] = set()


class OrderStatus(_StrEnum):
    """Order status, open to values this package does not know yet."""

    NEW = "new"
    ACCEPTED = "accepted"
    PENDING_NEW = "pending_new"
    ACCEPTED_FOR_BIDDING = "accepted_for_bidding"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    DONE_FOR_DAY = "done_for_day"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    PENDING_REVIEW = "pending_review"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REPLACED = "replaced"
    REJECTED = "rejected"
    STOPPED = "stopped"
    SUSPENDED = "suspended"
    CALCULATED = "calculated"
    HELD = "held"
    #: The broker reported a status this package does not know, or the outcome
    #: of a submission is not known yet. Never terminal.
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: Any) -> OrderStatus:
        text = str(value).strip().lower()
        for member in cls:
            if member.value == text:
                return member
        if text not in _warned_statuses:
            _warned_statuses.add(text)
            log.warning("unknown order status %r from a broker; treating it as 'unknown'", text)
        return cls.UNKNOWN

    @property
    def is_terminal(self) -> bool:
        """True when the order can no longer fill or change (filled, canceled, expired, ...)."""
        return self.value in _TERMINAL

    @property
    def is_open(self) -> bool:
        return not self.is_terminal
