"""Conversion of models to JSON-safe values: Decimals as strings, enums as values, UTC ISO times."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import Enum
from typing import Any

import attrs

from ._numbers import format_decimal

__all__ = ["to_contract", "to_json"]


#: Types that are JSON already (the common case, answered first).
_PLAIN = frozenset({str, int, bool, float, type(None)})
#: The field names of each attrs class met so far.
_FIELDS: dict[type, tuple[str, ...]] = {}


def to_json(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    names = _FIELDS.get(type(value))
    if names is None and attrs.has(type(value)):
        names = _FIELDS[type(value)] = tuple(f.name for f in attrs.fields(type(value)))
    if names is not None:
        return {name: to_json(getattr(value, name)) for name in names}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def to_contract(value: Any) -> Any:
    """The JSON-safe contract form of a result: ``to_dict()`` of models, lists of them."""
    if isinstance(value, list | tuple):
        return [to_contract(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else to_json(value)
