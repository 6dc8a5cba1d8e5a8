"""The Alpaca broker's settings: hosts, options, keys and request budgets.

Everything :func:`~.broker.build_alpaca` reads from ``BrokerSettings`` and the
environment is checked here, with messages that name the option or variable
(never a key's value).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from tradingagents_brokers import BrokerConfigurationError, BrokerSettings, TradingMode

from .plugin import LIVE_VARIABLES, PAPER_VARIABLES

if TYPE_CHECKING:
    from tradingagents_brokers.store.budget import SlidingBudget

__all__ = [
    "DATA_URL",
    "LIVE_URL",
    "OPTIONS",
    "PAPER_URL",
    "budgets",
    "credentials",
    "market_stream_url",
    "order_stream_url",
    "read_option",
    "trading_url",
]

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"
DATA_STREAM_URL = "wss://stream.data.alpaca.markets"
OPTIONS = {
    "base_url": str,
    "data_url": str,
    "stream_url": str,
    "connect_timeout": float,
    "read_timeout": float,
    "max_requests_per_minute": int,
    "max_data_requests_per_minute": int,
    "read_retries": int,
    "stream_heartbeat_seconds": float,
    "quote_stream_url": str,
    "quote_feed": str,
    "quote_stream_symbols": int,
}
#: Options that must be above zero.
_POSITIVE = (
    "connect_timeout",
    "read_timeout",
    "max_requests_per_minute",
    "max_data_requests_per_minute",
    "stream_heartbeat_seconds",
    "quote_stream_symbols",
)
#: Alpaca's stock feeds that stream trades: IEX (every plan), SIP (paid plans).
QUOTE_FEEDS = ("iex", "sip")


def read_option(options: Mapping[str, Any], name: str, default: Any) -> Any:
    kind = OPTIONS[name]
    value = options.get(name, default)
    try:
        converted = kind(value)
    except (TypeError, ValueError):
        raise BrokerConfigurationError(
            f"broker_options.alpaca.{name} must be a {kind.__name__}, got {value!r}"
        ) from None
    if kind in (int, float) and (converted < 0 or converted != converted):
        raise BrokerConfigurationError(f"broker_options.alpaca.{name} must not be negative")
    if name in _POSITIVE and converted <= 0:
        raise BrokerConfigurationError(f"broker_options.alpaca.{name} must be above 0")
    return converted


def credentials(mode: TradingMode) -> tuple[str, str]:
    names = LIVE_VARIABLES if mode is TradingMode.LIVE else PAPER_VARIABLES
    values = [os.environ.get(name, "") for name in names]
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise BrokerConfigurationError(
            f"Alpaca {mode.value} trading needs {', '.join(missing)} in the environment; "
            f"set {' and '.join(names)} (tradingagents-brokers doctor --broker alpaca)",
            details={"missing": missing},
        )
    for name, value in zip(names, values, strict=True):
        if value != value.strip() or not value.isprintable() or len(value) < 8:
            raise BrokerConfigurationError(
                f"{name} is malformed (too short, or has spaces or control characters); "
                "copy the key again from the Alpaca dashboard"
            )
    return values[0], values[1]


def check_host(mode: TradingMode, url: str, option: str) -> str:
    """Refuse Alpaca's live host in paper mode, and its paper host in live mode."""
    host = urlparse(url).hostname or ""
    if mode is TradingMode.PAPER and host == urlparse(LIVE_URL).hostname:
        raise BrokerConfigurationError(
            f"broker_options.alpaca.{option} points at Alpaca's live host in paper mode; "
            "live trading goes through broker_mode = 'live' and the live opt-in"
        )
    if mode is TradingMode.LIVE and host == urlparse(PAPER_URL).hostname:
        raise BrokerConfigurationError(
            f"broker_mode is 'live' but broker_options.alpaca.{option} is the paper host"
        )
    return url


def trading_url(mode: TradingMode, configured: str | None) -> str:
    url = (configured or (LIVE_URL if mode is TradingMode.LIVE else PAPER_URL)).rstrip("/")
    return check_host(mode, url, "base_url")


def order_stream_url(mode: TradingMode, base_url: str, configured: str | None) -> str:
    """The trade_updates websocket: ``stream_url``, else the REST host's ``/stream``.

    Alpaca serves it there (``wss://paper-api.alpaca.markets/stream``), so a paper
    base URL gives the paper stream and a live one the live stream.
    """
    if configured:
        return check_host(mode, configured.rstrip("/"), "stream_url")
    scheme, rest = base_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/stream"


def market_stream_url(options: Mapping[str, Any], data_url: str) -> str | None:
    """Alpaca's market-data websocket for ``quote_feed``; None where it cannot be known.

    ``quote_stream_url`` wins ('' turns the stream off). With a ``data_url`` of
    one's own and no ``quote_stream_url``, there is no stream: prices are read.
    """
    feed = str(options.get("quote_feed", "iex"))
    if feed not in QUOTE_FEEDS:
        raise BrokerConfigurationError(
            f"broker_options.alpaca.quote_feed must be one of {', '.join(QUOTE_FEEDS)}, "
            f"got {feed!r}"
        )
    if "quote_stream_url" in options:
        return str(options["quote_stream_url"]).rstrip("/") or None
    return f"{DATA_STREAM_URL}/v2/{feed}" if data_url == DATA_URL else None


def budgets(
    settings: BrokerSettings, options: Mapping[str, Any]
) -> tuple[SlidingBudget, SlidingBudget]:
    """The budgets the Trading API's requests and the market-data requests are drawn from.

    Both come from ``settings.request_budget``: built by the core with a store, the
    account's budgets there, shared by every process and host on it - the Trading
    API's, and one of scope ``data`` for market data, which Alpaca counts apart.
    Built by hand, budgets of this process alone. How long a call may wait for
    either is the budget's ``max_wait`` (the core's ``request_wait_max_seconds``).
    """
    per_minute = read_option(options, "max_requests_per_minute", 190)
    data_per_minute = read_option(options, "max_data_requests_per_minute", 190)
    return (
        settings.request_budget(per_minute),
        settings.request_budget(data_per_minute, scope="data"),
    )
