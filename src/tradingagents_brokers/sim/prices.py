"""Price sources for the simulated broker.

A price source answers "what does ``symbol`` cost at time ``at``?" with a
:class:`~tradingagents_brokers.models.Quote`, or None when it has no price.
Four are built in, chosen by ``broker_options["sim"]``:

* ``prices = {AAPL = 190.5, ...}`` - fixed prices (:class:`StaticPrices`);
* ``prices_csv = "bars.csv"`` - bars with ``timestamp,symbol,close`` columns (:class:`CsvBars`);
* ``price_source = "package.module:function"`` - ``function(symbol, at)`` returns a price;
* none of these - :class:`SyntheticPrices`, a deterministic made-up feed. Its
  quotes say ``source="synthetic"``: they are not market data.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import hashlib
import importlib
import math
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Protocol

from .._numbers import parse_datetime, to_decimal
from ..errors import BrokerConfigurationError
from ..models import Quote

__all__ = [
    "SYNTHETIC_UNIVERSE",
    "CallablePrices",
    "CsvBars",
    "PriceSource",
    "StaticPrices",
    "SyntheticPrices",
    "price_source_from_options",
]

CENT = Decimal("0.01")


class PriceSource(Protocol):
    #: Short description shown by the CLI ("synthetic", "static", "csv:bars.csv", ...).
    name: str

    def quote(self, symbol: str, at: dt.datetime) -> Quote | None:
        """The price of ``symbol`` at ``at``, or None if this source has none."""
        ...


class StaticPrices:
    """Fixed prices from a mapping (``broker_options.sim.prices``)."""

    name = "static"

    def __init__(self, prices: Mapping[str, Any]) -> None:
        self.prices: dict[str, Decimal] = {}
        for symbol, value in prices.items():
            try:
                price = to_decimal(value, f"prices.{symbol}")
            except ValueError as exc:
                raise BrokerConfigurationError(f"broker_options.sim.{exc}") from None
            if price <= 0:
                raise BrokerConfigurationError(
                    f"broker_options.sim.prices.{symbol} must be a positive price, got {value!r}"
                )
            self.prices[str(symbol).upper()] = price

    def quote(self, symbol: str, at: dt.datetime) -> Quote | None:
        price = self.prices.get(symbol)
        return (
            None if price is None else Quote(symbol=symbol, price=price, as_of=at, source=self.name)
        )


class CsvBars:
    """Prices from a CSV of bars: ``timestamp,symbol,close`` (other columns are ignored).

    The price at ``at`` is the close of the latest bar at or before ``at``; before
    the first bar of a symbol there is no price.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"csv:{self.path.name}"
        self._bars: dict[str, tuple[list[dt.datetime], list[Decimal]]] = {}
        try:
            with self.path.open(newline="") as handle:
                rows = list(csv.DictReader(handle))
        except OSError as exc:
            raise BrokerConfigurationError(
                f"broker_options.sim.prices_csv: cannot read {self.path} ({exc.strerror})"
            ) from None
        series: dict[str, list[tuple[dt.datetime, Decimal]]] = {}
        for number, row in enumerate(rows, start=2):
            try:
                at = parse_datetime(row["timestamp"], "timestamp")
                price = to_decimal(row["close"], "close")
                symbol = row["symbol"].strip().upper()
            except (KeyError, ValueError, AttributeError) as exc:
                raise BrokerConfigurationError(
                    f"{self.path}:{number}: a bar needs timestamp, symbol and close columns ({exc})"
                ) from None
            assert at is not None
            series.setdefault(symbol, []).append((at, price))
        for symbol, points in series.items():
            points.sort()
            self._bars[symbol] = ([p[0] for p in points], [p[1] for p in points])

    def quote(self, symbol: str, at: dt.datetime) -> Quote | None:
        bars = self._bars.get(symbol)
        if bars is None:
            return None
        index = bisect.bisect_right(bars[0], at) - 1
        if index < 0:
            return None
        return Quote(symbol=symbol, price=bars[1][index], as_of=bars[0][index], source=self.name)


class CallablePrices:
    """Prices from a function ``(symbol, at) -> price or None``."""

    def __init__(self, function: Callable[[str, dt.datetime], Any], name: str = "callable") -> None:
        self.function = function
        self.name = name

    def quote(self, symbol: str, at: dt.datetime) -> Quote | None:
        value = self.function(symbol, at)
        if value is None:
            return None
        return Quote(symbol=symbol, price=to_decimal(value, "price"), as_of=at, source=self.name)


#: Symbols the synthetic feed knows, with a starting price for each.
SYNTHETIC_UNIVERSE: dict[str, Decimal] = {
    symbol: Decimal(price)
    for symbol, price in {
        "AAPL": "190",
        "MSFT": "420",
        "GOOGL": "170",
        "AMZN": "185",
        "NVDA": "120",
        "META": "500",
        "TSLA": "250",
        "AMD": "160",
        "NFLX": "650",
        "INTC": "30",
        "JPM": "200",
        "BAC": "40",
        "XOM": "115",
        "KO": "62",
        "PEP": "170",
        "WMT": "70",
        "DIS": "100",
        "IBM": "190",
        "ORCL": "140",
        "CSCO": "50",
        "SPY": "550",
        "QQQ": "470",
        "IWM": "210",
        "DIA": "400",
        "GLD": "220",
        "TLT": "95",
        "VTI": "270",
        "BRK.B": "440",
        "V": "280",
        "MA": "470",
    }.items()
}


class SyntheticPrices:
    """A deterministic, made-up feed for demos and offline development. Not market data.

    Each symbol oscillates around its starting price (±2% over a 6.5-hour cycle);
    the same symbol and minute always give the same price.
    """

    name = "synthetic"

    def __init__(self, universe: Mapping[str, Decimal] | None = None) -> None:
        self.universe = dict(universe or SYNTHETIC_UNIVERSE)

    def quote(self, symbol: str, at: dt.datetime) -> Quote | None:
        base = self.universe.get(symbol)
        if base is None:
            return None
        minute = int(at.timestamp() // 60)
        digest = hashlib.sha256(symbol.encode()).digest()
        phase = digest[0] / 255 * 2 * math.pi
        wave = math.sin(2 * math.pi * (minute % 390) / 390 + phase)
        factor = Decimal(1) + Decimal(str(round(0.02 * wave, 6)))
        price = (base * factor).quantize(CENT, rounding=ROUND_HALF_EVEN)
        stamp = dt.datetime.fromtimestamp(minute * 60, dt.UTC)
        return Quote(symbol=symbol, price=price, as_of=stamp, source=self.name)


def price_source_from_options(options: Mapping[str, Any]) -> PriceSource:
    """The price source ``broker_options["sim"]`` asks for (synthetic when it asks for none)."""
    chosen = [key for key in ("prices", "prices_csv", "price_source") if options.get(key)]
    if len(chosen) > 1:
        raise BrokerConfigurationError(
            f"broker_options.sim sets {' and '.join(chosen)}; choose one price source"
        )
    if options.get("prices"):
        if not isinstance(options["prices"], Mapping):
            raise BrokerConfigurationError("broker_options.sim.prices must map symbols to prices")
        return StaticPrices(options["prices"])
    if options.get("prices_csv"):
        return CsvBars(options["prices_csv"])
    source = options.get("price_source")
    if callable(source):
        return CallablePrices(source)
    if isinstance(source, str):
        module_name, _, attr = source.partition(":")
        try:
            function = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError):
            raise BrokerConfigurationError(
                f"broker_options.sim.price_source {source!r} is not an importable "
                "'package.module:function'"
            ) from None
        return CallablePrices(function, name=source)
    return SyntheticPrices()
