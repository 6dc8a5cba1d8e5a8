"""Contracts, reference prices and the market clock, from TWS (coroutines on the session's loop).

* Symbols are qualified once (``reqContractDetails`` for a stock on SMART in the
  configured currency) and their contracts kept: IB's contract ids do not change.
* A quote is the last trade of a streaming market-data subscription
  (``reqMktData``), opened on the first ``get_quote`` of a symbol and kept for
  the next ones (at most ``quote_symbols`` at once; the longest unused is
  dropped). IB needs a market-data subscription for live prices (error 354
  without one); delayed data (``market_data_type`` 3) is 15 minutes old and is
  dated so, which the core's quote age check then refuses for market orders.
* The clock reads the liquid (regular) trading hours IB gives in the contract
  details of ``clock_symbol`` (SPY by default).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import zoneinfo
from typing import TYPE_CHECKING, Any

from tradingagents_brokers import (
    Asset,
    BrokerAPIError,
    Clock,
    InvalidOrderError,
    NotFoundError,
    Quote,
)

from .errors import map_error
from .mapping import core_symbol, to_quote
from .ordering import contract_for
from .session import Session

if TYPE_CHECKING:
    from ib_async import Contract, ContractDetails, Ticker

__all__ = ["Market", "parse_hours"]

#: Contract details (trading hours) are read again after this long.
DETAILS_TTL = dt.timedelta(hours=1)
#: Market-data codes that end a wait for a price (not subscribed, no permission, ...).
_NO_DATA = frozenset({200, 354, 10089, 10090, 10168, 10186, 10197})


class Market:
    """Contracts, quotes and the clock of one session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._contracts: dict[str, Contract] = {}
        self._details: dict[str, tuple[dt.datetime, ContractDetails]] = {}
        self._tickers: collections.OrderedDict[str, tuple[int, Ticker]] = collections.OrderedDict()
        self._lock = asyncio.Lock()
        #: Errors TWS sent about market-data requests: request id -> (code, message).
        self.errors: dict[int, tuple[int, str]] = {}
        self.delayed: set[str] = set()
        session.error_hooks.append(self.note_error)

    # -- contracts ------------------------------------------------------------------

    async def details(self, symbol: str) -> ContractDetails:
        """The contract details of the stock ``symbol``; NotFoundError if IB has none."""
        now = dt.datetime.now(dt.UTC)
        cached = self._details.get(symbol)
        if cached is not None and now - cached[0] < DETAILS_TTL:
            return cached[1]
        options = self.session.options
        async with self._lock:  # ib_async keys concurrent detail requests apart, but TWS paces
            asked = self.session.ib.reqContractDetailsAsync(contract_for(symbol, options))
            found = await self.session.request(asked, f"the contract of {symbol}")
        stocks = [d for d in found if d.contract is not None and d.contract.secType == "STK"]
        if not stocks:
            raise NotFoundError(
                f"IB knows no stock {symbol} on {options.exchange} in {options.currency}"
            )
        details = stocks[0]
        self._details[symbol] = (now, details)
        return details

    async def qualified(self, symbol: str) -> Contract:
        """The stock ``symbol`` with IB's contract id, for orders and market data."""
        contract = self._contracts.get(symbol)
        if contract is None:
            try:
                details = await self.details(symbol)
            except NotFoundError as exc:
                raise InvalidOrderError(f"{exc.message}; check the symbol") from None
            found = details.contract
            assert found is not None
            contract = contract_for(symbol, self.session.options)
            contract.conId = found.conId
            contract.primaryExchange = found.primaryExchange
            self._contracts[symbol] = contract
        return contract

    async def asset(self, symbol: str) -> Asset:
        details = await self.details(symbol)
        contract = details.contract
        assert contract is not None
        currency = self.session.options.currency
        return Asset(
            symbol=core_symbol(contract.symbol),
            tradable=True,
            fractionable=False,  # IB's API fractions need a permission this plugin does not use
            shortable=False,  # IB does not say in contract details; see docs/ibkr.md
            exchange=str(contract.primaryExchange or contract.exchange or ""),
            asset_class="us_equity" if currency == "USD" else "equity",
        )

    async def clock(self) -> Clock:
        details = await self.details(self.session.options.clock_symbol)
        now = dt.datetime.now(dt.UTC)
        sessions = parse_hours(details.liquidHours, details.timeZoneId)
        is_open = any(start <= now < end for start, end in sessions)
        next_open = next((start for start, _ in sessions if start > now), None)
        next_close = next((end for start, end in sessions if end > now), None)
        return Clock(timestamp=now, is_open=is_open, next_open=next_open, next_close=next_close)

    # -- quotes ---------------------------------------------------------------------

    async def quote(self, symbol: str) -> Quote:
        """The last trade of ``symbol`` from its market-data subscription (opened if need be)."""
        session = self.session
        req_id, ticker = await self._ticker(symbol)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + session.options.quote_timeout
        while True:
            if req_id in self.errors:
                code, message = self.errors.pop(req_id)
                self._forget(symbol)
                raise map_error(code, message, symbol=symbol)
            delayed = session.options.delayed or symbol in self.delayed
            quote = to_quote(symbol, ticker, delayed=delayed, now=dt.datetime.now(dt.UTC))
            if quote is not None:
                return quote
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise BrokerAPIError(
                    f"IB sent no trade price for {symbol} within "
                    f"{session.options.quote_timeout:g}s (market closed and no last trade, or "
                    "no market-data subscription); the risk checks need one for market orders"
                )
            await session.changes(remaining)

    async def _ticker(self, symbol: str) -> tuple[int, Ticker]:
        ib = self.session.ib
        held = self._tickers.get(symbol)
        if held is not None and held[0] == self.session.generation:
            self._tickers.move_to_end(symbol)
            return self._request_id(held[1]), held[1]
        contract = await self.qualified(symbol)
        ticker = ib.reqMktData(contract, "", False, False)
        self._tickers[symbol] = (self.session.generation, ticker)
        while len(self._tickers) > self.session.options.quote_symbols:
            oldest = next(iter(self._tickers))
            self._forget(oldest)
        return self._request_id(ticker), ticker

    def _request_id(self, ticker: Ticker) -> int:
        ids: dict[Any, int] = self.session.ib.wrapper.ticker2ReqId.get("mktData", {})
        return ids.get(ticker, -2)

    def _forget(self, symbol: str) -> None:
        held = self._tickers.pop(symbol, None)
        session = self.session
        if held is not None and held[0] == session.generation and session.connected:
            contract = held[1].contract
            if contract is not None:
                session.ib.cancelMktData(contract)

    def note_error(self, req_id: int, code: int, message: str) -> None:
        """Called by the session for every error: keep those about market-data requests."""
        symbols = {self._request_id(t): s for s, (_, t) in self._tickers.items()}
        if req_id not in symbols:
            return
        if code == 10167:  # not subscribed: TWS sends delayed data instead
            self.delayed.add(symbols[req_id])
        elif code in _NO_DATA:
            self.errors[req_id] = (code, message)


def parse_hours(text: str, zone: str) -> list[tuple[dt.datetime, dt.datetime]]:
    """IB's trading hours (``20250102:0930-20250102:1600;20250104:CLOSED``) as UTC sessions."""
    try:
        tz: dt.tzinfo = zoneinfo.ZoneInfo(zone) if zone else dt.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise BrokerAPIError(f"IB sent the unknown time zone {zone!r}") from None
    sessions = []
    for part in filter(None, (p.strip() for p in (text or "").split(";"))):
        if "CLOSED" in part or "-" not in part:
            continue
        start, end = part.split("-", 1)
        try:
            begin = dt.datetime.strptime(start, "%Y%m%d:%H%M").replace(tzinfo=tz)
            finish = dt.datetime.strptime(end, "%Y%m%d:%H%M").replace(tzinfo=tz)
        except ValueError:
            raise BrokerAPIError(
                f"IB sent trading hours this plugin cannot read: {part!r}"
            ) from None
        sessions.append((begin.astimezone(dt.UTC), finish.astimezone(dt.UTC)))
    return sorted(sessions)
