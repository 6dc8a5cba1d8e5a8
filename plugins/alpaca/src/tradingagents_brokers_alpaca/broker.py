"""The Alpaca broker: every operation of the core's Broker protocol over Alpaca's Trading API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

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
from tradingagents_brokers.listing import in_window
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
from .options import (
    DATA_URL,
    LIVE_URL,
    OPTIONS,
    PAPER_URL,
    budgets,
    credentials,
    market_stream_url,
    order_stream_url,
    read_option,
    trading_url,
)
from .plugin import CAPABILITIES
from .transport import Transport

__all__ = ["DATA_URL", "LIVE_URL", "PAPER_URL", "AlpacaBroker", "build_alpaca"]

PAGE = 500
#: Asset attributes (tradable, fractionable) change rarely, and Alpaca refuses an order
#: its asset does not allow: an order may pass on a look this old (seconds)...
ASSET_TTL = 86_400.0
#: ... but is refused by the plugin only on a look this recent (else it looks again).
ASSET_REFUSAL_TTL = 60.0


def build_alpaca(settings: BrokerSettings) -> AlpacaBroker:
    """Build an Alpaca broker for ``settings.mode`` from the environment's keys."""
    options = dict(settings.options)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise BrokerConfigurationError(
            f"unknown broker_options.alpaca key(s): {', '.join(unknown)}; "
            f"known: {', '.join(sorted(OPTIONS))}"
        )
    if settings.mode is TradingMode.PAPER:
        credentials(settings.mode)  # paper keys are checked now: the first hour's error
    # Live keys are read at the first request, so that the core's live opt-in, which
    # comes before any request, answers a live broker built without them ("blocked").
    base_url = trading_url(settings.mode, options.get("base_url"))

    def client() -> Any:
        from alpaca.trading.client import TradingClient

        key, secret = credentials(settings.mode)
        return TradingClient(
            api_key=key,
            secret_key=secret,
            paper=settings.mode is TradingMode.PAPER,
            raw_data=True,
            url_override=base_url,
        )

    budget, data_budget = budgets(settings, options)
    transport = Transport(
        client,
        connect_timeout=read_option(options, "connect_timeout", 5.0),
        read_timeout=read_option(options, "read_timeout", 15.0),
        budget=budget,
        data_budget=data_budget,
        read_retries=read_option(options, "read_retries", 3),
    )
    data_url = str(options.get("data_url") or DATA_URL).rstrip("/")
    return AlpacaBroker(
        transport,
        base_url=base_url,
        data_url=data_url,
        mode=settings.mode,
        stream_url=order_stream_url(settings.mode, base_url, options.get("stream_url")),
        heartbeat=read_option(options, "stream_heartbeat_seconds", 5.0),
        connect_timeout=read_option(options, "connect_timeout", 5.0),
        quote_stream_url=market_stream_url(options, data_url),
        quote_symbols=read_option(options, "quote_stream_symbols", 30),
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
        self.stream_url = stream_url or order_stream_url(mode, base_url, None)
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

    def _stream_keys(self) -> tuple[str, str] | None:
        """The keys for a stream; None for a live broker built without them (no stream:
        its first request says which variables to set)."""
        try:
            return credentials(self.mode)
        except BrokerConfigurationError:
            if self.mode is TradingMode.PAPER:
                raise  # checked when the broker was built; reaching here means they went
            return None

    def subscribe_order_updates(self, listener: OrderUpdateListener) -> OrderStream | None:
        """Stream this account's trade updates (see :mod:`.stream`)."""
        from .stream import AlpacaOrderStream

        keys = self._stream_keys()
        if keys is None:
            return None
        key, secret = keys
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

        keys = self._stream_keys()
        if keys is None:
            return None
        key, secret = keys
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
        """Send one order (never retried here: the core's gate owns an order's retries).

        A refusal of the request budget is ``RequestBudgetExhaustedError``: nothing
        was sent. A failure after sending is ``OrderOutcomeUnknownError``, or the
        error Alpaca answered; the gate looks the order up by its client order id.
        """
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
        after: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Order]:
        """Newest first, following Alpaca's pages (500 at most each) until ``limit``.

        ``after`` and ``until`` go to Alpaca, whose spec makes both exclusive; the window is
        applied again here, so an order on an edge never leaks into a page.
        """
        params: dict[str, Any] = {"status": status, "direction": "desc", "nested": "false"}
        if symbols:
            params["symbols"] = ",".join(symbols)
        if after is not None:
            params["after"] = _stamp(after)
        if until is not None:
            params["until"] = _stamp(until)
        seen: dict[str, Order] = {}
        while True:
            params["limit"] = min(PAGE, limit - len(seen)) if limit else PAGE
            page = [
                mapping.to_order(item)
                for item in self._http.call("GET", "/orders", dict(params)) or []
            ]
            new = [
                order
                for order in page
                if order.order_id not in seen and in_window(order, after, until)
            ]
            seen.update((order.order_id, order) for order in new)
            oldest = page[-1].submitted_at if page else None
            if len(page) < params["limit"] or not new or oldest is None:
                break
            if limit is not None and len(seen) >= limit:
                break
            params["until"] = _stamp(oldest)
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


def _stamp(at: datetime) -> str:
    """A time as Alpaca's ``after``/``until`` take it: UTC, with microseconds, ``Z``."""
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _path(symbol: str) -> str:
    """Alpaca's paths take ``BTCUSD``, not ``BTC/USD`` (alpaca-py does not encode the slash)."""
    return symbol.replace("/", "")
