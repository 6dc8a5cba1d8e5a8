"""The price and size rules the gate applies to a request before anything is journaled.

* A broker that declares ``instruments=True`` gives each symbol's rules
  (:class:`~tradingagents_brokers.models.Instrument`): prices are whole ticks,
  quantities whole lots and at least ``min_qty``, the order's value at least
  ``min_notional``, and the instrument's quote currency is the account's (the
  limits are in the account's currency; the core converts nothing). The rules are
  kept for :data:`INSTRUMENT_SECONDS` per symbol; a failed look-up refuses the order.
* Any other broker gets the fixed rule: prices with at most
  :data:`DEFAULT_PRICE_PLACES` decimal places (quantities and amounts keep the
  places :class:`~tradingagents_brokers.orders.OrderRequest` allows).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from .._numbers import decimal_places, format_decimal
from ..errors import InvalidOrderError, NotFoundError
from ..models import Instrument
from ..orders import OrderRequest

__all__ = [
    "DEFAULT_PRICE_PLACES",
    "INSTRUMENT_SECONDS",
    "InstrumentRules",
    "check_instrument",
    "check_price_places",
]

#: Decimal places of a price at a broker that gives no instrument rules.
DEFAULT_PRICE_PLACES = 4
#: How long a symbol's rules are kept before they are read again.
INSTRUMENT_SECONDS = 300.0


def _prices(request: OrderRequest) -> Iterator[tuple[str, Decimal]]:
    for name in ("limit_price", "stop_price", "trail_price"):
        value = getattr(request, name)
        if value is not None:
            yield name, value
    if request.take_profit is not None:
        yield "take_profit.limit_price", request.take_profit.limit_price
    if request.stop_loss is not None:
        yield "stop_loss.stop_price", request.stop_loss.stop_price
        if request.stop_loss.limit_price is not None:
            yield "stop_loss.limit_price", request.stop_loss.limit_price


def check_price_places(request: OrderRequest) -> None:
    """The fixed rule for brokers without instrument rules: prices in 4 decimal places."""
    for name, value in _prices(request):
        if decimal_places(value) > DEFAULT_PRICE_PLACES:
            raise InvalidOrderError(
                f"{name} {format_decimal(value)} has more than {DEFAULT_PRICE_PLACES} "
                "decimal places; round it"
            )


def _near(value: Decimal, step: Decimal) -> tuple[Decimal, Decimal]:
    """The multiples of ``step`` just below and just above ``value``."""
    units = value / step
    return (
        units.to_integral_value(ROUND_FLOOR) * step,
        units.to_integral_value(ROUND_CEILING) * step,
    )


def _off_step(name: str, value: Decimal, step: Decimal, what: str, symbol: str) -> None:
    if value % step == 0:
        return
    below, above = _near(value, step)
    options = [format_decimal(v) for v in (below, above) if v > 0]
    raise InvalidOrderError(
        f"{name} {format_decimal(value)} is not a whole number of {what} "
        f"{format_decimal(step)} for {symbol}; use {' or '.join(options)}",
        details={name: format_decimal(value), "step": format_decimal(step)},
    )


def check_instrument(
    request: OrderRequest,
    instrument: Instrument,
    price: Callable[[], Decimal],
    currency: Callable[[], str],
) -> None:
    """Refuse ``request`` where it breaks ``instrument``'s rules (see the module docstring).

    ``price`` gives the reference price, asked only for a market order that needs a
    value checked; ``currency`` the account's currency, asked only when the
    instrument names its quote currency.
    """
    symbol = request.symbol
    if instrument.quote_currency is not None:
        account = currency().upper()
        if instrument.quote_currency.upper() != account:
            raise InvalidOrderError(
                f"{symbol} is priced in {instrument.quote_currency} and the account's limits "
                f"and buying power are in {account}; the core converts no currency, so trade a "
                f"symbol quoted in {account} or use an account held in "
                f"{instrument.quote_currency}",
                details={"quote_currency": instrument.quote_currency, "account": account},
            )
    if instrument.tick_size is not None:
        for name, value in _prices(request):
            _off_step(name, value, instrument.tick_size, "ticks of", symbol)
    qty = request.qty
    if qty is not None:
        if instrument.lot_size is not None:
            _off_step("qty", qty, instrument.lot_size, "lots of", symbol)
        if instrument.min_qty is not None and qty < instrument.min_qty:
            raise InvalidOrderError(
                f"qty {format_decimal(qty)} is under the least {symbol} takes; "
                f"order at least {format_decimal(instrument.min_qty)}",
                details={"qty": format_decimal(qty), "min_qty": format_decimal(instrument.min_qty)},
            )
    least = instrument.min_notional
    if least is not None:
        if request.notional is not None:
            value = request.notional
        else:
            assert qty is not None  # a request has qty or notional
            value = qty * (request.limit_price or request.stop_price or price())
        if value < least:
            raise InvalidOrderError(
                f"the order's value {format_decimal(value)} is under the least {symbol} takes "
                f"({format_decimal(least)}); order more",
                details={"value": format_decimal(value), "min_notional": format_decimal(least)},
            )


class InstrumentRules:
    """Each symbol's rules, read through ``look_up`` and kept :data:`INSTRUMENT_SECONDS`."""

    def __init__(
        self,
        look_up: Callable[[str], Instrument],
        seconds: float = INSTRUMENT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._look_up = look_up
        self._seconds = seconds
        self._clock = clock
        self._kept: dict[str, tuple[float, Instrument]] = {}
        self._lock = threading.Lock()

    def get(self, symbol: str) -> Instrument:
        """``symbol``'s rules; a symbol the broker does not know is an InvalidOrderError."""
        now = self._clock()
        with self._lock:
            kept = self._kept.get(symbol)
        if kept is not None and now - kept[0] < self._seconds:
            return kept[1]
        try:
            instrument = self._look_up(symbol)
        except NotFoundError:
            raise InvalidOrderError(
                f"the broker has no instrument {symbol}; check the symbol (for example 'BTC/USDT')",
                details={"symbol": symbol},
            ) from None
        except (ValueError, TypeError, ArithmeticError):  # rules the models would not take
            raise InvalidOrderError(
                f"the broker's rules for {symbol} are malformed (a step or minimum not a "
                "positive number, or an unreadable currency); the order was not sent",
                details={"symbol": symbol},
            ) from None
        if not isinstance(instrument, Instrument) or instrument.symbol != symbol:
            raise InvalidOrderError(
                f"the broker's rules for {symbol} could not be used (it answered for another "
                "symbol or with something else); the order was not sent",
                details={"symbol": symbol},
            )
        with self._lock:
            self._kept[symbol] = (now, instrument)
        return instrument
