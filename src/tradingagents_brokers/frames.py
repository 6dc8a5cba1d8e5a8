"""Orders, positions, intents and portfolio history as pandas DataFrames.

pandas is optional (the ``pandas`` extra); this module imports it only when
called. Money and quantities stay :class:`~decimal.Decimal` (object columns):
nothing is rounded through a float on the way. Times become UTC timestamps.

>>> from tradingagents_brokers import get_broker
>>> from tradingagents_brokers.frames import to_pandas
>>> broker = get_broker("sim", config={"state_dir": doctest_tmp})
>>> _ = broker.place_order(symbol="AAPL", side="buy", qty=2)
>>> frame = to_pandas(broker.get_orders("all"))
>>> frame[["symbol", "side", "qty", "status"]].to_dict("records")
[{'symbol': 'AAPL', 'side': 'buy', 'qty': Decimal('2'), 'status': 'filled'}]
>>> list(to_pandas(broker.get_portfolio_history()).columns)
['equity', 'profit_loss', 'profit_loss_pct']
>>> broker.close()
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import BrokerConfigurationError
from .models import PortfolioHistory

__all__ = ["to_pandas"]

#: Fields that hold numbers; their text becomes Decimal.
_NUMBERS = frozenset(
    {
        "qty",
        "notional",
        "value",
        "filled_qty",
        "limit_price",
        "stop_price",
        "trail_price",
        "trail_percent",
        "filled_avg_price",
        "avg_entry_price",
        "current_price",
        "market_value",
        "cost_basis",
        "unrealized_pl",
        "unrealized_plpc",
        "equity",
        "profit_loss",
        "profit_loss_pct",
        "price",
    }
)


def _pandas() -> Any:
    try:  # imported by name: pandas is optional, and its types are not needed here
        pandas = importlib.import_module("pandas")
    except ImportError:
        raise BrokerConfigurationError(
            "to_pandas needs pandas, which is not installed; install it with "
            "'python -m pip install pandas' (or the extra: python -m pip install '.[pandas]' "
            "in the source tree)"
        ) from None
    return pandas


def _record(item: Any) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return dict(item)
    to_dict = getattr(item, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"to_pandas takes records with to_dict() or mappings, not {item!r:.80}")
    result: dict[str, Any] = to_dict()
    return result


def _value(key: str, value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if key in _NUMBERS and isinstance(value, str | int | float) and not isinstance(value, bool):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return value
    return value


def to_pandas(items: PortfolioHistory | Iterable[Any]) -> Any:
    """A ``pandas.DataFrame`` of ``items``: orders, positions, intents, mappings, or one
    :class:`PortfolioHistory` (indexed by its timestamps)."""
    pd = _pandas()
    if isinstance(items, PortfolioHistory):
        frame = pd.DataFrame(
            {
                "equity": list(items.equity),
                "profit_loss": list(items.profit_loss),
                "profit_loss_pct": list(items.profit_loss_pct),
            },
            index=pd.DatetimeIndex(list(items.timestamps), name="timestamp"),
        )
        return frame
    rows = [{k: _value(k, v) for k, v in _record(item).items()} for item in items]
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        if str(column).endswith("_at") or column == "timestamp":
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame
