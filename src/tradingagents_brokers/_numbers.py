"""Strict conversion of user and broker numbers to :class:`~decimal.Decimal`.

Money, prices and quantities are never binary floats in this package. A float
that arrives anyway (from JSON, an LLM tool call, a user typing ``10.5``) is
converted through its shortest ``repr``, so ``0.1`` becomes ``Decimal("0.1")``
and not ``Decimal("0.1000000000000000055511151231257827...")``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "MAX_MAGNITUDE",
    "broker_decimal",
    "clip",
    "decimal_places",
    "format_decimal",
    "money",
    "parse_datetime",
    "to_decimal",
]

#: Numbers are refused beyond 10**15 in size or below 10**-15 (but for zero): no price,
#: quantity or balance comes near, and beyond them Decimal arithmetic can overflow.
MAX_MAGNITUDE = 15
#: A number written with more characters than this is refused before it is parsed.
MAX_NUMBER_TEXT = 64


def clip(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for messages that echo input.

    >>> clip("x" * 100, 10)
    "'xxxxxxxx... (102 characters)"
    """
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}... ({len(text)} characters)"


def to_decimal(value: Any, field: str, error: Callable[[str], Exception] = ValueError) -> Decimal:
    """Convert ``value`` to a finite Decimal, or raise ``error(message naming field)``."""
    if isinstance(value, bool):
        raise error(f"{field} must be a number, got a boolean ({value!r})")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip().replace("_", "")
        if len(text) > MAX_NUMBER_TEXT:
            raise error(
                f"{field} must be a number of at most {MAX_NUMBER_TEXT} characters, "
                f"got {clip(value)}"
            )
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise error(f"{field} must be a number, got {clip(value)}") from None
    else:
        raise error(f"{field} must be a number, got {type(value).__name__} {clip(value)}")
    if not result.is_finite():
        raise error(f"{field} must be a finite number, got {clip(value)}")
    if result and not -MAX_MAGNITUDE <= result.adjusted() < MAX_MAGNITUDE:
        raise error(
            f"{field} must be between 1e-{MAX_MAGNITUDE} and 1e{MAX_MAGNITUDE} in size "
            f"(or 0), got {clip(value)}"
        )
    return result


def broker_decimal(value: Any, field: str) -> Decimal:
    """A number reported by a broker. Floats are refused: the plugin converts at its boundary."""
    if isinstance(value, float):
        raise ValueError(
            f"{field} is a float ({value!r}); a broker plugin must return Decimal, int or str "
            "(convert the broker's numbers where they enter the plugin)"
        )
    return to_decimal(value, field)


def decimal_places(value: Decimal) -> int:
    """Number of digits after the decimal point, ignoring trailing zeros (``1.50`` -> 1)."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only
    return max(0, -exponent)


def format_decimal(value: Decimal) -> str:
    """Plain notation without exponent and without trailing zeros (``1E+1`` -> ``"10"``)."""
    text = format(value.normalize(), "f")
    return text


def parse_datetime(value: Any, field: str) -> dt.datetime | None:
    """ISO-8601 text, a datetime or None -> an aware UTC datetime (naive means UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{field} must be an ISO-8601 timestamp, got {value!r}") from None
    else:
        raise ValueError(f"{field} must be a timestamp, got {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def money(value: Decimal | None) -> str:
    """Dollars for people and models: ``$1,234.50``, ``-$12.00``, ``n/a`` when missing.

    >>> money(Decimal("-1234.5"))
    '-$1,234.50'
    """
    if value is None:
        return "n/a"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"
