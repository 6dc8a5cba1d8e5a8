"""The Alpaca broker: every operation of the core's Broker protocol over Alpaca's Trading API."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from tradingagents_brokers import (
    BrokerConfigurationError,
    BrokerSettings,
    ClosePositionResult,
    InvalidOrderError,
    Order,
    OrderChanges,
    OrderRequest,
    TradingMode,
)
from tradingagents_brokers.broker import OrderQuery
from tradingagents_brokers.models import (
    Account,
    Asset,
    BrokerCapabilities,
    Clock,
    PortfolioHistory,
    Position,
    Quote,
)
from tradingagents_brokers.streams import (
    OrderStream,
    OrderUpdateListener,
    QuoteListener,
    QuoteStream,
)

from . import mapping
from .errors import map_error
from .plugin import CAPABILITIES, LIVE_VARIABLES, PAPER_VARIABLES
from .transport import Transport

__all__ = ["LIVE_URL", "PAPER_URL", "AlpacaBroker", "build_alpaca"]

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"
DATA_STREAM_URL = "wss://stream.data.alpaca.markets"
PAGE = 500
#: Asset attributes (tradable, fractionable) change rarely, and Alpaca refuses an order
#: its asset does not allow: an order may pass on a look this old (seconds)...
ASSET_TTL = 86_400.0
#: ... but is refused by the plugin only on a look this recent (else it looks again).
ASSET_REFUSAL_TTL = 60.0
OPTIONS = {
    "base_url": str,
    "data_url": str,
    "stream_url": str,
    "connect_timeout": float,
    "read_timeout": float,
    "max_requests_per_minute": int,
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
    "stream_heartbeat_seconds",
    "quote_stream_symbols",
)
#: Alpaca's stock feeds that stream trades: IEX (every plan), SIP (paid plans).
QUOTE_FEEDS = ("iex", "sip")


def _option(options: Mapping[str, Any], name: str, default: Any) -> Any:
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


def _credentials(mode: TradingMode) -> tuple[str, str]:
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


def _check_host(mode: TradingMode, url: str, option: str) -> str:
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


def _base_url(mode: TradingMode, configured: str | None) -> str:
    url = (configured or (LIVE_URL if mode is TradingMode.LIVE else PAPER_URL)).rstrip("/")
    return _check_host(mode, url, "base_url")


def _stream_url(mode: TradingMode, base_url: str, configured: str | None) -> str:
    """The trade_updates websocket: ``stream_url``, else the REST host's ``/stream``.

    Alpaca serves it there (``wss://paper-api.alpaca.markets/stream``), so a paper
    base URL gives the paper stream and a live one the live stream.
    """
    if configured:
        return _check_host(mode, configured.rstrip("/"), "stream_url")
    scheme, rest = base_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/stream"


def _quote_stream_url(options: Mapping[str, Any], data_url: str) -> str | None:
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


def build_alpaca(settings: BrokerSettings) -> AlpacaBroker:
    """Build an Alpaca broker for ``settings.mode`` from the environment's keys."""
    options = dict(settings.options)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise BrokerConfigurationError(
            f"unknown broker_options.alpaca key(s): {', '.join(unknown)}; "
            f"known: {', '.join(sorted(OPTIONS))}"
        )
    key, secret = _credentials(settings.mode)
    base_url = _base_url(settings.mode, options.get("base_url"))
    from alpaca.trading.client import TradingClient

    client = TradingClient(
        api_key=key,
        secret_key=secret,
        paper=settings.mode is TradingMode.PAPER,
        raw_data=True,
        url_override=base_url,
    )
    transport = Transport(
        client,
        connect_timeout=_option(options, "connect_timeout", 5.0),
        read_timeout=_option(options, "read_timeout", 15.0),
        max_per_minute=_option(options, "max_requests_per_minute", 190),
        read_retries=_option(options, "read_retries", 3),
    )
    data_url = str(options.get("data_url") or DATA_URL).rstrip("/")
    return AlpacaBroker(
        transport,
        base_url=base_url,
        data_url=data_url,
        mode=settings.mode,
        stream_url=_stream_url(settings.mode, base_url, options.get("stream_url")),
        heartbeat=_option(options, "stream_heartbeat_seconds", 5.0),
        connect_timeout=_option(options, "connect_timeout", 5.0),
        quote_stream_url=_quote_stream_url(options, data_url),
        quote_symbols=_option(options, "quote_stream_symbols", 30),
    )


class AlpacaBroker:
    """Alpaca's Trading API behind the core's Broker protocol. Build with :func:`build_alpaca`."""

    def __init__(
        self,
        transport: Transport,
        *,
        base_url: str,
        data_url: str = DATA_URL,
        mode: TradingMode = TradingMode.PAPER,
        stream_url: str | None = None,
        heartbeat: float = 5.0,
        connect_timeout: float = 5.0,
        quote_stream_url: str | None = None,
        quote_symbols: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = transport
        self.base_url = base_url
        self.data_url = data_url
        self.mode = mode
        self.stream_url = stream_url or _stream_url(mode, base_url, None)
        self.heartbeat = heartbeat
        self.connect_timeout = connect_timeout
        self.quote_stream_url = quote_stream_url
        self.quote_symbols = quote_symbols
        self._clock = clock
        self._assets: dict[str, tuple[float, Asset]] = {}

    def __repr__(self) -> str:
        return f"<AlpacaBroker {self.base_url}>"

    @property
    def capabilities(self) -> BrokerCapabilities:
        return CAPABILITIES

    def close(self) -> None:
        self._http.close()

    def subscribe_order_updates(self, listener: OrderUpdateListener) -> OrderStream:
        """Stream this account's trade updates (see :mod:`.stream`)."""
        from .stream import AlpacaOrderStream

        key, secret = _credentials(self.mode)
        return AlpacaOrderStream(
            key,
            secret,
            self.stream_url,
            listener,
            heartbeat=self.heartbeat,
            connect_timeout=self.connect_timeout,
        )

    def subscribe_quotes(self, listener: QuoteListener) -> QuoteStream | None:
        """Stream the trades of the symbols the gate asks for (see :mod:`.quotes`)."""
        if not self.quote_stream_url:
            return None
        from .quotes import AlpacaQuoteStream

        key, secret = _credentials(self.mode)
        return AlpacaQuoteStream(
            key,
            secret,
            self.quote_stream_url,
            listener,
            limit=self.quote_symbols,
            connect_timeout=self.connect_timeout,
        )

    # -- orders ----------------------------------------------------------------------

    def place_order(self, request: OrderRequest) -> Order:
        mapping.validate_request(request)
        self._check_asset(request)
        data = self._http.call("POST", "/orders", mapping.order_body(request), retry=False)
        return mapping.to_order(data)

    def cancel_order(self, order_id: str) -> None:
        self._http.call("DELETE", f"/orders/{order_id}")

    def replace_order(self, order_id: str, changes: OrderChanges) -> Order:
        body = mapping.replace_body(changes)
        return mapping.to_order(self._http.call("PATCH", f"/orders/{order_id}", body, retry=False))

    def get_order(self, order_id: str) -> Order:
        return mapping.to_order(self._http.call("GET", f"/orders/{order_id}"))

    def get_order_by_client_id(self, client_order_id: str) -> Order:
        data = self._http.call(
            "GET", "/orders:by_client_order_id", {"client_order_id": client_order_id}
        )
        return mapping.to_order(data)

    def get_orders(
        self,
        status: OrderQuery = "open",
        limit: int | None = None,
        symbols: Sequence[str] | None = None,
    ) -> list[Order]:
        """Newest first, following Alpaca's pages (500 at most each) until ``limit``."""
        params: dict[str, Any] = {"status": status, "direction": "desc", "nested": "false"}
        if symbols:
            params["symbols"] = ",".join(symbols)
        seen: dict[str, Order] = {}
        while True:
            params["limit"] = min(PAGE, limit - len(seen)) if limit else PAGE
            page = [
                mapping.to_order(item)
                for item in self._http.call("GET", "/orders", dict(params)) or []
            ]
            new = [order for order in page if order.order_id not in seen]
            seen.update((order.order_id, order) for order in new)
            oldest = page[-1].submitted_at if page else None
            if len(page) < params["limit"] or not new or oldest is None:
                break
            if limit is not None and len(seen) >= limit:
                break
            params["until"] = oldest.isoformat().replace("+00:00", "Z")
        return list(seen.values())

    # -- positions and account -------------------------------------------------------

    def get_positions(self) -> list[Position]:
        return [mapping.to_position(item) for item in self._http.call("GET", "/positions") or []]

    def get_position(self, symbol: str) -> Position:
        return mapping.to_position(self._http.call("GET", f"/positions/{_path(symbol)}"))

    def close_position(self, symbol: str, qty: Any = None, percentage: Any = None) -> Order:
        params = {}
        if qty is not None:
            params["qty"] = str(qty)
        if percentage is not None:
            params["percentage"] = str(percentage)
        data = self._http.call("DELETE", f"/positions/{_path(symbol)}", params or None, retry=False)
        return mapping.to_order(data)

    def close_all_positions(self, cancel_orders: bool = False) -> list[ClosePositionResult]:
        params = {"cancel_orders": "true"} if cancel_orders else None
        answers = self._http.call("DELETE", "/positions", params, retry=False) or []
        results = []
        for item in answers:
            status = int(item.get("status") or 0)
            body = item.get("body") or {}
            symbol = str(item.get("symbol") or body.get("symbol") or "")
            if 200 <= status < 300:
                results.append(
                    ClosePositionResult(symbol=symbol, ok=True, order=mapping.to_order(body))
                )
            else:
                error = map_error(status, json.dumps(body)).to_dict()
                results.append(ClosePositionResult(symbol=symbol, ok=False, error=error))
        return results

    def get_account(self) -> Account:
        return mapping.to_account(self._http.call("GET", "/account"))

    def get_portfolio_history(
        self, period: str | None = None, timeframe: str | None = None
    ) -> PortfolioHistory:
        params = {k: v for k, v in (("period", period), ("timeframe", timeframe)) if v}
        data = self._http.call("GET", "/account/portfolio/history", params or None)
        return mapping.to_portfolio_history(data)

    def get_clock(self) -> Clock:
        return mapping.to_clock(self._http.call("GET", "/clock"))

    def get_asset(self, symbol: str) -> Asset:
        return mapping.to_asset(self._http.call("GET", f"/assets/{_path(symbol)}"))

    def _cached_asset(self, symbol: str, max_age: float) -> Asset:
        now = self._clock()
        cached = self._assets.get(symbol)
        if cached is not None and now - cached[0] < max_age:
            return cached[1]
        asset = self.get_asset(symbol)
        self._assets[symbol] = (now, asset)
        return asset

    def _check_asset(self, request: OrderRequest) -> None:
        """Refuse what the asset does not allow: untradable, or fractional where it cannot be.

        Alpaca refuses such orders itself; the check only saves the round trip and
        words the refusal better. So an order passes on what the plugin looked up
        in the last day (Alpaca still refuses it if the asset changed since), but
        is refused only on a look of the last minute: a halted asset trades again,
        an asset becomes fractionable.
        """
        problem = _asset_problem(self._cached_asset(request.symbol, ASSET_TTL), request)
        if problem is not None:
            problem = _asset_problem(self._cached_asset(request.symbol, ASSET_REFUSAL_TTL), request)
        if problem is not None:
            raise InvalidOrderError(problem)

    def get_quote(self, symbol: str) -> Quote:
        data = self._http.call(
            "GET", f"/stocks/{_path(symbol)}/trades/latest", base_url=self.data_url
        )
        return mapping.to_quote(symbol, data)


def _asset_problem(asset: Asset, request: OrderRequest) -> str | None:
    if not asset.tradable:
        return f"Alpaca does not trade {request.symbol} (asset not tradable)"
    fractional = request.notional is not None or (
        request.qty is not None and request.qty != request.qty.to_integral_value()
    )
    if fractional and not asset.fractionable:
        return (
            f"{request.symbol} is not fractionable at Alpaca: order whole shares, not notional "
            "amounts or fractions"
        )
    return None


def _path(symbol: str) -> str:
    """Alpaca's paths take ``BTCUSD``, not ``BTC/USD`` (alpaca-py does not encode the slash)."""
    return symbol.replace("/", "")
