"""The ``sim`` broker type, registered like any third-party broker plugin."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from .. import hookimpl
from .._numbers import to_decimal
from ..broker import BrokerSettings, BrokerType
from ..errors import BrokerConfigurationError
from .broker import SIM_CAPABILITIES, SimBroker
from .prices import price_source_from_options
from .store import SimStore

KNOWN_OPTIONS = frozenset(
    {
        "path",
        "initial_cash",
        "prices",
        "prices_csv",
        "price_source",
        "reset",
        "order_latency_seconds",
    }
)


def account_path(options: Mapping[str, Any], state_dir: Path) -> Path:
    """The sim account's database: ``broker_options.sim.path``, else ``sim.db`` in the state dir."""
    return Path(options.get("path") or state_dir / "sim.db")


def build_sim(settings: BrokerSettings) -> SimBroker:
    """Build a sim broker from ``broker_options["sim"]`` (see ``docs/sim.md``)."""
    options = dict(settings.options)
    unknown = sorted(set(options) - KNOWN_OPTIONS)
    if unknown:
        raise BrokerConfigurationError(
            f"unknown broker_options.sim key(s): {', '.join(unknown)}; "
            f"known: {', '.join(sorted(KNOWN_OPTIONS))}"
        )
    path = account_path(options, settings.state_dir)
    try:
        cash = to_decimal(options.get("initial_cash", 100_000), "initial_cash")
    except ValueError as exc:
        raise BrokerConfigurationError(f"broker_options.sim.{exc}") from None
    if cash < 0:
        raise BrokerConfigurationError("broker_options.sim.initial_cash must not be negative")
    try:
        latency = to_decimal(options.get("order_latency_seconds", 0), "order_latency_seconds")
    except ValueError as exc:
        raise BrokerConfigurationError(f"broker_options.sim.{exc}") from None
    if not 0 <= latency <= 60:
        raise BrokerConfigurationError(
            "broker_options.sim.order_latency_seconds must be between 0 and 60"
        )
    prices = price_source_from_options(options)
    store = SimStore(path, reset=bool(options.get("reset")))
    return SimBroker(store, prices, initial_cash=Decimal(cash), order_latency=float(latency))


@hookimpl
def register_brokers() -> list[BrokerType]:
    return [
        BrokerType(
            name="sim",
            factory=build_sim,
            description=(
                "Local simulated broker (SQLite, offline); prices are synthetic unless configured"
            ),
            capabilities=SIM_CAPABILITIES,
        )
    ]
