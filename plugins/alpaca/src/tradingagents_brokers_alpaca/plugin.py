"""The ``alpaca`` broker type. Importing this module does not import alpaca-py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradingagents_brokers import BrokerCapabilities, BrokerType, hookimpl

if TYPE_CHECKING:
    from tradingagents_brokers import BrokerSettings

    from .broker import AlpacaBroker

PAPER_VARIABLES = ("ALPACA_PAPER_API_KEY", "ALPACA_PAPER_SECRET_KEY")
LIVE_VARIABLES = ("ALPACA_LIVE_API_KEY", "ALPACA_LIVE_SECRET_KEY")

CAPABILITIES = BrokerCapabilities(
    order_types={"market", "limit", "stop", "stop_limit", "trailing_stop"},
    time_in_force={"day", "gtc", "ioc", "fok", "opg", "cls"},
    order_classes={"simple", "bracket", "oco", "oto"},
    fractional=True,
    notional=True,
    short_selling=True,
    extended_hours=True,
    order_updates=True,
    quote_updates=True,
)


def build(settings: BrokerSettings) -> AlpacaBroker:
    from .broker import build_alpaca  # alpaca-py is imported here, not at discovery

    return build_alpaca(settings)


@hookimpl
def register_brokers() -> list[BrokerType]:
    return [
        BrokerType(
            name="alpaca",
            factory=build,
            description="Alpaca (alpaca-py): paper by default, live through the core's opt-in",
            capabilities=CAPABILITIES,
            credential_env={"paper": PAPER_VARIABLES, "live": LIVE_VARIABLES},
        )
    ]
