"""Reference prices for the risk checks: read ones for a moment, streamed ones while current.

A quote the gate had to read is reused for ``quote_cache_seconds``. Where the
broker streams trades (``subscribe_quotes``; the contract is in
:mod:`tradingagents_brokers.streams`), the board asks the stream for every
symbol it reads, and once the stream confirms the symbol, its price comes from
the stream: with every trade of the symbol delivered, the newest one held *is*
the latest trade for as long as the connection is known to be current, however
long ago that trade was. An order on such a symbol costs no read at all.

Fail-closed rules, each a comment where it is enforced below:

* the stream counts only while it was heard from (a trade, a confirmation or a
  heartbeat) within ``quote_cache_seconds``: a quiet connection may be a dead
  one, and then the board reads as if there were no stream;
* a symbol counts once a price was read *after* the stream confirmed it on the
  current connection: the read holds every trade before it, the stream every
  one reported since. Until then its streamed trades are not used (one reported
  before the confirmation, never delivered, may be later than one reported
  after it: exchanges report some trades late), nor is a price read before the
  confirmation: the next order reads again, and that read anchors the stream;
* a disconnect, or a symbol dropped from the confirmed set, forgets what the
  stream said of it;
* of two prices of a symbol, the one with the later market time is kept;
* a streamed trade older than ``quote_max_age_seconds`` is not used: the price is
  read instead, for the broker may know a later trade on another feed than the
  streamed one (Alpaca's IEX stream against a paid plan's consolidated tape).

Whether a read price is too old remains the price collar's call
(``quote_max_age_seconds``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Collection
from typing import Any

from ..models import Quote
from ..streams import QuoteStream

__all__ = ["QuoteBoard"]

log = logging.getLogger("tradingagents.broker")


class QuoteBoard:
    """One gated broker's recent quotes, and the core's listener of its quote stream."""

    def __init__(
        self,
        max_age_seconds: float,
        now: Callable[[], dt.datetime],
        *,
        trade_age_seconds: float | None = None,
    ) -> None:
        self.max_age = dt.timedelta(seconds=max_age_seconds)
        self.trade_age = (
            None if trade_age_seconds is None else dt.timedelta(seconds=trade_age_seconds)
        )
        self.now = now
        #: How often a quote stream must say it is alive (streams.QuoteListener).
        self.heartbeat_seconds = max_age_seconds / 2
        self.stream: QuoteStream | None = None
        self.reads = 0
        self.streamed = 0
        self._lock = threading.Lock()
        self._read: dict[str, tuple[dt.datetime, Quote]] = {}
        self._confirmed: dict[str, dt.datetime] = {}
        self._latest: dict[str, Quote] = {}
        self._heard: dt.datetime | None = None
        self.reason = "no quote stream"

    def __repr__(self) -> str:
        return f"<QuoteBoard {len(self._confirmed)} streamed symbols>"

    def quote(self, symbol: str, read: Callable[[str], Quote]) -> Quote:
        """``symbol``'s streamed price, one read within ``quote_cache_seconds``, or a read."""
        now = self.now()
        with self._lock:
            found = self._current(symbol, now)
        if found is not None:
            return found
        if self.stream is not None:
            try:
                self.stream.want(symbol)
            except Exception:  # the order goes on; the price is read below
                log.exception("the quote stream failed to take %s", symbol)
        quote = read(symbol)
        with self._lock:
            self.reads += 1
            self._read[symbol] = (now, quote)
            confirmed = self._confirmed.get(symbol)
            # Only a read begun after the confirmation anchors the stream's trades
            # (at the same instant, which came first is unknown).
            if confirmed is not None and confirmed < now:
                self._keep(quote)
        return quote

    def held(self, symbol: str) -> Quote | None:
        """``symbol``'s price if :meth:`quote` would answer it without a read, else None."""
        with self._lock:
            return self._current(symbol, self.now())

    def _current(self, symbol: str, now: dt.datetime) -> Quote | None:
        if symbol in self._confirmed:
            latest = self._latest.get(symbol)
            if latest is None:
                return None  # confirmed but not anchored yet: read now, which anchors it
            heard, too_old = self._heard, self.trade_age
            # A stream not heard from within quote_cache_seconds may be dead; an old trade
            # on it may be beaten by a later one the broker knows from another feed.
            if (
                heard is not None
                and now - heard <= self.max_age
                and (too_old is None or now - latest.as_of <= too_old)
            ):
                self.streamed += 1
                return latest
        entry = self._read.get(symbol)
        if entry is not None and now - entry[0] <= self.max_age:
            return entry[1]
        return None

    def _keep(self, quote: Quote) -> None:
        held = self._latest.get(quote.symbol)
        # Of two prices the later trade wins, whichever arrived last.
        if held is None or quote.as_of >= held.as_of:
            self._latest[quote.symbol] = quote

    def forget_reads(self) -> None:
        """Drop the read quotes (a new snapshot of the broker's state was taken)."""
        with self._lock:
            self._read.clear()

    def status(self) -> dict[str, Any]:
        now = self.now()
        with self._lock:
            heard = self._heard
            current = heard is not None and now - heard <= self.max_age
            return {
                "subscribed": self.stream is not None,
                "current": self.stream is not None and current,
                "symbols": sorted(self._confirmed),
                "reason": None if self.stream is not None and current else self._why(heard),
                "reads": self.reads,
                "streamed": self.streamed,
            }

    def _why(self, heard: dt.datetime | None) -> str:
        if self.stream is None or heard is None:
            return self.reason
        return f"the quote stream has been silent longer than {self.max_age.total_seconds():g}s"

    # -- streams.QuoteListener ---------------------------------------------------------

    def on_subscribed(self, symbols: Collection[str]) -> None:
        now = self.now()
        with self._lock:
            self._confirmed = {s: self._confirmed.get(s, now) for s in symbols}
            # A symbol no longer confirmed forgets what the stream said of it.
            self._latest = {s: q for s, q in self._latest.items() if s in self._confirmed}
            self._heard = now

    def on_quote(self, quote: Quote) -> None:
        now = self.now()
        with self._lock:
            self._heard = now
            # Only an anchored symbol's trades count (an anchor holds every earlier one).
            if quote.symbol in self._confirmed and quote.symbol in self._latest:
                self._keep(quote)

    def on_alive(self) -> None:
        now = self.now()
        with self._lock:
            self._heard = now

    def on_disconnected(self, reason: str) -> None:
        with self._lock:
            # Nothing the stream said can be trusted until it confirms symbols again.
            self._confirmed.clear()
            self._latest.clear()
            self._heard = None
            self.reason = f"the quote stream dropped ({reason})"

    # -- lifecycle ---------------------------------------------------------------------

    def attach(self, stream: QuoteStream | None, reason: str) -> None:
        """Use ``stream`` from now on (None: no stream, for ``reason``)."""
        with self._lock:
            self.stream = stream
            self.reason = reason

    def detach(self, reason: str) -> QuoteStream | None:
        """Stop using the stream; returns it for the caller to close."""
        stream, self.stream = self.stream, None
        self.on_disconnected(reason)
        with self._lock:
            self.reason = reason
        return stream
