"""What every level of the conformance kit shares: the broker under test and the xfail rule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_FLOOR, Decimal
from typing import Any, ClassVar

import pytest

from .. import (
    BrokerError,
    BrokerType,
    GatedBroker,
    Order,
    PluginHost,
    get_broker,
    make_plugin_manager,
)

__all__ = ["KIT_MODULES", "KitBase", "TradingBase", "plugin_errors"]

#: The modules whose ``test_`` methods are kit tests (an override needs an xfail mark).
KIT_MODULES = frozenset(
    {
        "tradingagents_brokers.testing.offline",
        "tradingagents_brokers.testing.trading",
        "tradingagents_brokers.testing.streams",
        "tradingagents_brokers.testing.network",
        "tradingagents_brokers.testing.polling",
    }
)


@contextmanager
def plugin_errors() -> Iterator[None]:
    """Fail with advice when a broker raises anything but the core's errors."""
    try:
        yield
    except BrokerError:
        raise
    except Exception as exc:  # noqa: BLE001 - turned into a failure that says what to fix
        pytest.fail(
            f"the broker raised {type(exc).__name__}: {exc}. A plugin maps its broker's answers "
            "to the core's models - an unknown status becomes OrderStatus(value), which maps it "
            "to 'unknown' - and raises only tradingagents_brokers errors (NotSupportedError for "
            "an operation the broker lacks, never NotImplementedError)",
            pytrace=False,
        )


def _is_marked_xfail(function: Any) -> bool:
    marks = getattr(function, "pytestmark", [])
    return any(m.name == "xfail" and m.kwargs.get("reason") for m in marks)


class KitBase:
    """Set ``broker_name``; override ``broker_options`` if the broker needs any."""

    broker_name: ClassVar[str] = ""
    #: The distribution that should provide the plugin (None for brokers built into the core).
    distribution: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kit_tests = {
            name
            for base in cls.__mro__[1:]
            if base.__module__ in KIT_MODULES
            for name in vars(base)
            if name.startswith("test_")
        }
        for name in kit_tests & set(vars(cls)):
            if not _is_marked_xfail(vars(cls)[name]):
                raise TypeError(
                    f"{cls.__name__}.{name} overrides a conformance test; mark it "
                    "@pytest.mark.xfail(reason='why this broker cannot pass') instead of "
                    "replacing it silently"
                )

    def broker_options(self) -> dict[str, Any]:
        """``broker_options[broker_name]`` for the broker under test."""
        return {}

    def config(self, tmp_path: Any) -> dict[str, Any]:
        """The configuration the kit builds the broker from (state in a temporary directory)."""
        return {
            "trading_broker": self.broker_name,
            "state_dir": str(tmp_path),
            "duplicate_window_seconds": 0,
            "broker_options": {self.broker_name: self.broker_options()},
        }

    @pytest.fixture
    def host(self) -> PluginHost:
        return PluginHost(make_plugin_manager())

    @pytest.fixture
    def broker_type(self, host: PluginHost) -> BrokerType:
        return host.broker_types[self.broker_name]


class TradingBase(KitBase):
    """What the trading-level tests share: a gated broker and a resting order."""

    #: A symbol the broker trades (a crypto plugin sets e.g. ``"BTC/USDT"``).
    symbol: ClassVar[str] = "AAPL"
    #: The kit's order size; its tests order 1, 2, 3 or 10 times this. Keep it a whole
    #: number of lots, worth at least the instrument's minimum and well under
    #: ``max_order_value`` (10000 by default) ten times over.
    quantity: ClassVar[Decimal] = Decimal(1)
    #: The amount of the kit's notional order (in the account's currency).
    notional: ClassVar[Decimal] = Decimal(10)

    def qty(self, times: int = 1) -> Decimal:
        """``times`` the kit's order size."""
        return self.quantity * times

    def tick(self, gated: GatedBroker) -> Decimal:
        """The symbol's price step: its instrument's tick, else a cent."""
        if gated.capabilities.instruments:
            tick = gated.gate.instruments.get(self.symbol).tick_size
            if tick is not None:
                return tick
        return Decimal("0.01")

    def resting_price(self, gated: GatedBroker) -> Decimal:
        """A buy limit price that rests without filling: 5% under the reference, on a tick."""
        price = gated.get_quote(self.symbol).price
        tick = self.tick(gated)
        return (price * Decimal("0.95") / tick).to_integral_value(ROUND_FLOOR) * tick

    @pytest.fixture
    def gated(self, tmp_path: Any) -> Iterator[GatedBroker]:
        broker = get_broker(self.broker_name, config=self.config(tmp_path))
        yield broker
        broker.close()

    def _resting(self, gated: GatedBroker, **fields: Any) -> Order:
        values = {
            "symbol": self.symbol,
            "side": "buy",
            "qty": self.quantity,
            "order_type": "limit",
            "limit_price": self.resting_price(gated),
            "time_in_force": "gtc",
            **fields,
        }
        return gated.place_order(**values)
