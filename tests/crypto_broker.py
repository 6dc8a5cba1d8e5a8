"""A crypto exchange for tests: the sim, open around the clock, priced in USDT.

The ``cryptosim`` broker type (``register_brokers`` below) is the sim with what
a crypto exchange changes in the contract:

* per-symbol rules (``instruments=True``): BTC/USDT in ticks of 0.01 and lots of
  0.00001 with orders worth at least 5, SHIB/USDT in ticks of 0.00000001 and
  whole lots, ETH/BTC quoted in BTC;
* an account held in USDT, fractional quantities, a market that never closes
  (``always_open``), ``gtc`` as the default time in force and no ``day`` at all;
  market orders take ``gtc`` or ``ioc`` only;
* ``get_order``, ``get_order_by_client_id`` and ``cancel_order`` take the order's
  ``symbol`` (Binance needs it) and note what they were given;
* positions without an entry price and an account without the equity at the
  previous close (an exchange keeps balances, and has no close).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs

from tradingagents_brokers import BrokerType, hookimpl
from tradingagents_brokers.enums import OrderType, TimeInForce
from tradingagents_brokers.errors import NotFoundError
from tradingagents_brokers.models import Account, Clock, Instrument, Position
from tradingagents_brokers.orders import Order
from tradingagents_brokers.sim.broker import SIM_CAPABILITIES, SimBroker
from tradingagents_brokers.sim.plugin import build_sim

INSTRUMENTS = {
    "BTC/USDT": Instrument(
        symbol="BTC/USDT",
        tick_size="0.01",
        lot_size="0.00001",
        min_notional="5",
        quote_currency="USDT",
    ),
    "SHIB/USDT": Instrument(
        symbol="SHIB/USDT",
        tick_size="0.00000001",
        lot_size="1",
        min_qty="1000",
        quote_currency="USDT",
    ),
    "ETH/BTC": Instrument(
        symbol="ETH/BTC", tick_size="0.00001", lot_size="0.0001", quote_currency="BTC"
    ),
}
PRICES = {"BTC/USDT": "60000", "SHIB/USDT": "0.00001234", "ETH/BTC": "0.05123"}

CRYPTO_CAPABILITIES = attrs.evolve(
    SIM_CAPABILITIES,
    time_in_force={TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK},
    default_time_in_force=TimeInForce.GTC,
    time_in_force_by_type={OrderType.MARKET: {TimeInForce.GTC, TimeInForce.IOC}},
    instruments=True,
    always_open=True,
)


class CryptoSim(SimBroker):
    """The sim as a crypto exchange: see the module docstring."""

    @property
    def capabilities(self) -> Any:
        return CRYPTO_CAPABILITIES

    #: (operation, symbol) of each look-up and cancel: an exchange needs the symbol.
    symbols_seen: list[tuple[str, str | None]]

    def _saw(self, operation: str, symbol: str | None) -> None:
        self.__dict__.setdefault("symbols_seen", []).append((operation, symbol))

    def get_order(self, order_id: str, symbol: str | None = None) -> Order:
        self._saw("get_order", symbol)
        return super().get_order(order_id)

    def get_order_by_client_id(self, client_order_id: str, symbol: str | None = None) -> Order:
        self._saw("get_order_by_client_id", symbol)
        return super().get_order_by_client_id(client_order_id)

    def cancel_order(self, order_id: str, symbol: str | None = None) -> None:
        self._saw("cancel_order", symbol)
        super().cancel_order(order_id)

    def get_instrument(self, symbol: str) -> Instrument:
        try:
            return INSTRUMENTS[symbol]
        except KeyError:
            raise NotFoundError(f"no instrument {symbol}") from None

    def get_account(self) -> Account:
        return attrs.evolve(super().get_account(), currency="USDT", last_equity=None)

    def get_clock(self) -> Clock:
        return Clock(timestamp=dt.datetime.now(dt.UTC), is_open=True)

    def get_positions(self) -> list[Position]:
        return [attrs.evolve(p, avg_entry_price=None) for p in super().get_positions()]

    def get_position(self, symbol: str) -> Position:
        return attrs.evolve(super().get_position(symbol), avg_entry_price=None)


def build_crypto_sim(settings: Any) -> CryptoSim:
    sim = build_sim(settings)  # checks the options and opens the account
    crypto = CryptoSim(sim.store, sim.prices, order_latency=sim.order_latency)
    for symbol, price in PRICES.items():
        crypto.set_price(symbol, Decimal(price))
    return crypto


@hookimpl
def register_brokers() -> list[BrokerType]:
    return [
        BrokerType(
            name="cryptosim",
            factory=build_crypto_sim,
            description="the sim as a crypto exchange: USDT, ticks of 1e-8, open always (tests)",
            capabilities=CRYPTO_CAPABILITIES,
        )
    ]
