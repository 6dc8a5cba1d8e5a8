"""The ``ibkr`` broker type. Importing this module does not import ib_async."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradingagents_brokers import BrokerCapabilities, BrokerType, hookimpl

if TYPE_CHECKING:
    from tradingagents_brokers import BrokerSettings

    from .broker import IBKRBroker

#: What IB does for US stocks through this plugin. ``replace`` modifies the order in
#: place: the same order and id with new terms and the replacement's client order id
#: as its ``orderRef`` (docs/ibkr.md). ``gtd`` is IB's ``GTD`` with ``goodTillDate``.
#: Fractional shares and notional orders need permissions the API does not grant by
#: default.
CAPABILITIES = BrokerCapabilities(
    order_types={"market", "limit", "stop", "stop_limit", "trailing_stop"},
    time_in_force={"day", "gtc", "ioc", "fok", "opg", "cls", "gtd"},
    order_classes={"simple", "bracket", "oco", "oto"},
    fractional=False,
    notional=False,
    short_selling=True,
    extended_hours=True,
    replace=True,
    order_updates=True,
    quote_updates=False,
    portfolio_history=False,
)


def build(settings: BrokerSettings) -> IBKRBroker:
    from .broker import build_ibkr  # ib_async is imported here, not at discovery

    return build_ibkr(settings)


@hookimpl
def register_brokers() -> list[BrokerType]:
    return [
        BrokerType(
            name="ibkr",
            factory=build,
            description=(
                "Interactive Brokers through TWS or IB Gateway (ib_async): paper by default, "
                "live through the core's opt-in"
            ),
            capabilities=CAPABILITIES,
            # TWS and IB Gateway log in to IB themselves; the API socket takes no keys.
            credential_env={},
        )
    ]
