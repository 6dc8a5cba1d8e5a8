"""The IBKR broker's settings: where TWS or IB Gateway listens, and how patient to be.

Everything is read from ``broker_options.ibkr`` and checked here, with messages
that name the option. There are no credentials: TWS and IB Gateway log in to IB
themselves, and the API socket they open carries none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from tradingagents_brokers import BrokerConfigurationError, TradingMode

__all__ = ["LIVE_PORTS", "OPTIONS", "PAPER_PORTS", "IBKROptions", "read_options"]

#: IB's default API ports: TWS 7497 and IB Gateway 4002 for paper, 7496 and 4001 for live.
PAPER_PORTS = frozenset({7497, 4002})
LIVE_PORTS = frozenset({7496, 4001})

#: Every option, with its type and default (None: depends on the mode).
OPTIONS: dict[str, tuple[type, Any]] = {
    "host": (str, "127.0.0.1"),
    "port": (int, None),
    "client_id": (int, 1),
    "account": (str, ""),
    "connect_timeout": (float, 5.0),
    "request_timeout": (float, 10.0),
    "order_timeout": (float, 10.0),
    "heartbeat_seconds": (float, 5.0),
    "reconnect_max_seconds": (float, 30.0),
    "market_data_type": (int, 1),
    "quote_timeout": (float, 5.0),
    "quote_symbols": (int, 50),
    "exchange": (str, "SMART"),
    "currency": (str, "USD"),
    "clock_symbol": (str, "SPY"),
    "max_requests_per_minute": (int, 2400),
}
_POSITIVE = {
    "connect_timeout",
    "request_timeout",
    "order_timeout",
    "heartbeat_seconds",
    "reconnect_max_seconds",
    "quote_timeout",
    "quote_symbols",
    "max_requests_per_minute",
}


@attrs.frozen(kw_only=True)
class IBKROptions:
    """The checked options of one IBKR broker."""

    mode: TradingMode
    host: str
    port: int
    client_id: int
    account: str
    connect_timeout: float
    request_timeout: float
    order_timeout: float
    heartbeat_seconds: float
    reconnect_max_seconds: float
    market_data_type: int
    quote_timeout: float
    quote_symbols: int
    exchange: str
    currency: str
    clock_symbol: str
    max_requests_per_minute: int

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port} (client id {self.client_id})"

    @property
    def delayed(self) -> bool:
        """Whether quotes are IB's delayed data (market data types 3 and 4)."""
        return self.market_data_type in (3, 4)


def _read(options: Mapping[str, Any], name: str, mode: TradingMode) -> Any:
    kind, default = OPTIONS[name]
    if default is None:  # the port: TWS's paper or live default
        default = 7496 if mode is TradingMode.LIVE else 7497
    value = options.get(name, default)
    if isinstance(value, bool) or (kind is int and isinstance(value, float)):
        raise BrokerConfigurationError(
            f"broker_options.ibkr.{name} must be a {kind.__name__}, got {value!r}"
        )
    try:
        converted = kind(value)
    except (TypeError, ValueError):
        raise BrokerConfigurationError(
            f"broker_options.ibkr.{name} must be a {kind.__name__}, got {value!r}"
        ) from None
    if kind in (int, float) and not converted >= 0:  # negative, or NaN
        raise BrokerConfigurationError(f"broker_options.ibkr.{name} must not be negative")
    if name in _POSITIVE and converted <= 0:
        raise BrokerConfigurationError(f"broker_options.ibkr.{name} must be above 0")
    return converted.strip() if isinstance(converted, str) else converted


def read_options(options: Mapping[str, Any], mode: TradingMode) -> IBKROptions:
    """Check ``broker_options.ibkr``; refuse unknown keys and a port of the other mode."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise BrokerConfigurationError(
            f"unknown broker_options.ibkr key(s): {', '.join(unknown)}; "
            f"known: {', '.join(sorted(OPTIONS))}"
        )
    values = {name: _read(options, name, mode) for name in OPTIONS}
    port = values["port"]
    if not 0 < port < 65536:
        raise BrokerConfigurationError(f"broker_options.ibkr.port {port} is not a TCP port")
    if values["market_data_type"] not in (1, 2, 3, 4):
        raise BrokerConfigurationError(
            "broker_options.ibkr.market_data_type must be 1 (live), 2 (frozen), 3 (delayed) "
            "or 4 (delayed frozen)"
        )
    if not values["host"]:
        raise BrokerConfigurationError("broker_options.ibkr.host is empty")
    if mode is TradingMode.PAPER and port in LIVE_PORTS:
        raise BrokerConfigurationError(
            f"broker_options.ibkr.port {port} is IB's live-trading port, but broker_mode is "
            "'paper': use 7497 (TWS) or 4002 (IB Gateway) for paper trading; live trading "
            "goes through broker_mode = 'live' and the live opt-in"
        )
    if mode is TradingMode.LIVE and port in PAPER_PORTS:
        raise BrokerConfigurationError(
            f"broker_mode is 'live' but broker_options.ibkr.port {port} is IB's paper-trading "
            "port; use 7496 (TWS) or 4001 (IB Gateway)"
        )
    return IBKROptions(mode=mode, **values)
