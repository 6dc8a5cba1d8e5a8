"""Alpaca's market-data websocket (stock trades) as the core's quote stream.

The protocol (``wss://stream.data.alpaca.markets/v2/{feed}``): the server greets
with ``[{"T":"success","msg":"connected"}]``, the client sends
``{"action":"auth","key":...,"secret":...}`` and gets ``authenticated``, then
``{"action":"subscribe","trades":[...]}`` (and ``unsubscribe``); every change of
the subscription is answered with the complete set (``"T":"subscription"``), and
trades arrive as ``{"T":"t","S":symbol,"p":price,"t":time,...}``. Frames are
JSON, read with exact decimals. Trade corrections and cancellations (``"c"``,
``"x"``), which a trade subscription brings along, are not applied: a busted
trade's price stands until the next trade. Busted trades are rare, and the price
collar needs a price within its band (10% by default), not the exact print.

alpaca-py's ``StockDataStream`` is not used: it spins its loop until something
is subscribed, blocks the caller of ``subscribe_trades`` until the message is
sent, and reports no subscription or connection changes. This client is small
and speaks the same protocol over websockets' asyncio client, on a loop in a
thread of its own:

* ``want(symbol)`` is handed to the loop and never blocks. At most ``limit``
  symbols are followed (Alpaca's free plan allows 30); the one wanted longest
  ago is dropped first, and the listener hears of the drop before Alpaca does;
* the listener gets the confirmed set on every acknowledgement (only symbols
  still wanted), each trade of them, and ``on_alive`` after each answered ping
  (every ``listener.heartbeat_seconds``); an unanswered ping closes the socket;
* a dropped connection is retried with backoff (1 s doubling to 30 s, with
  jitter); after a reconnect every wanted symbol is subscribed again;
* answers no retry can fix end the stream for the session, with a warning that
  says what to do: refused keys (402) and a plan without the feed (409, 410).
  Alpaca's one connection per feed already taken (406) is tried again
  ``SLOT_RETRIES`` times with the backoff (about half a minute: the holder may
  be this account's own connection from before a restart or a drop, not yet let
  go), then left to its holder for the session. Prices are then read before
  orders, as without a stream.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import random
import threading
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any

from alpaca.common.utils import get_default_user_agent
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException as _WebSocketError

from tradingagents_brokers.models import Quote
from tradingagents_brokers.streams import QuoteListener

from .stream import WEBSOCKET_LOG

__all__ = ["AlpacaQuoteStream", "QuoteStreamStopped"]

log = logging.getLogger("tradingagents.broker.alpaca")

#: Alpaca's stream errors that reconnecting cannot fix, and what to do about each.
FATAL = {
    402: "Alpaca refused the keys on the market-data stream; check the API keys",
    406: (
        "another connection of this account holds Alpaca's market-data stream (one per "
        "feed); prices are read before each order instead. Stop the other stream, or set "
        "broker_options.alpaca.quote_stream_url to '' to leave the slot to it"
    ),
    409: (
        "the account's market-data plan does not include this feed; set "
        "broker_options.alpaca.quote_feed to 'iex'"
    ),
    410: (
        "the feed does not take trade subscriptions; set broker_options.alpaca.quote_feed "
        "to 'iex' or 'sip'"
    ),
}
MIN_BACKOFF = 1.0
MAX_BACKOFF = 30.0
#: A connection refused for the account's slot (406) is tried again this many times.
SLOT_RETRIES = 5


class QuoteStreamStopped(Exception):
    """Alpaca answered with an error that retrying cannot fix (see FATAL)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class AlpacaQuoteStream:
    """A running subscription to Alpaca's stock trades (the core's ``QuoteStream``)."""

    def __init__(
        self,
        key: str,
        secret: str,
        url: str,
        listener: QuoteListener,
        *,
        limit: int,
        connect_timeout: float,
    ) -> None:
        self.url = url
        self.limit = limit
        self.connect_timeout = connect_timeout
        self.min_backoff, self.max_backoff = MIN_BACKOFF, MAX_BACKOFF
        #: Why the stream is not connected (None while it is).
        self.reason: str | None = "connecting"
        self.stopped = False
        self._auth = json.dumps({"action": "auth", "key": key, "secret": secret})
        self._listener = listener
        # Touched only on the loop's thread.
        self._wanted: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._confirmed: set[str] = set()
        self._ws: ClientConnection | None = None
        self._closing = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._run, name="alpaca-quotes", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<AlpacaQuoteStream {self.url}>"

    # -- the core's QuoteStream --------------------------------------------------------

    def want(self, symbol: str) -> None:
        """Follow ``symbol``'s trades (stocks only); returns at once."""
        if "/" in symbol:  # a crypto pair: not on the stock feed
            return
        try:
            self._loop.call_soon_threadsafe(self._want, symbol)
        except RuntimeError:  # closed: prices are read
            return

    def close(self) -> None:
        """Close the socket and end the loop; the listener is not called afterwards."""
        self._closing.set()
        with contextlib.suppress(RuntimeError):  # the loop has already ended
            self._loop.call_soon_threadsafe(self._stop)
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            log.warning("the Alpaca quote stream did not stop in 5 seconds")

    # -- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    def _stop(self) -> None:
        self._wake.set()
        if self._ws is not None:
            self._spawn(self._ws.close())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the loop, keeping the task referenced until it is done."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _main(self) -> None:
        failures = refusals = 0
        while not self._closing.is_set():
            heard = False
            try:
                heard = await self._session()
                reason = "the connection closed"
            except QuoteStreamStopped as exc:
                # A refused slot may be this account's own old connection, not yet let go
                # (a restart, a drop): tried again a few times, then left to its holder.
                if exc.code != 406 or refusals >= SLOT_RETRIES:
                    self._stopped(str(exc))
                    return
                refusals += 1
                reason = str(exc)
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect with backoff
                reason = f"{type(exc).__name__}: {_clean(exc)}"
                log.warning("Alpaca's quote stream dropped (%s); reconnecting", reason)
            if self._closing.is_set():
                return
            self.reason = reason
            self._listener.on_disconnected(reason)
            if heard:
                failures = refusals = 0
            failures += 1
            await self._pause(failures)

    def _stopped(self, reason: str) -> None:
        self.stopped = True
        self.reason = reason
        log.warning("Alpaca's quote stream stopped: %s", reason)
        if not self._closing.is_set():
            self._listener.on_disconnected(reason)

    async def _pause(self, failures: int) -> None:
        delay = min(self.max_backoff, self.min_backoff * 2 ** (failures - 1))
        jitter = random.uniform(0, delay / 2)  # noqa: S311 - spreads reconnects, not a secret
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay / 2 + jitter)

    async def _session(self) -> bool:
        """One connection, until it closes; True if it got as far as subscribing."""
        async with connect(
            self.url,
            logger=WEBSOCKET_LOG,
            additional_headers={"User-Agent": get_default_user_agent()},
            compression=None,
            open_timeout=self.connect_timeout,
            ping_interval=None,
            close_timeout=1,
        ) as ws:
            await self._expect(ws, "connected")
            await ws.send(self._auth)
            await self._expect(ws, "authenticated")
            if self._closing.is_set():
                return False
            self._ws, self.reason = ws, None
            self._confirmed = set()
            self._listener.on_subscribed(set())
            if self._wanted:
                await ws.send(json.dumps({"action": "subscribe", "trades": list(self._wanted)}))
            beat = asyncio.ensure_future(self._beat(ws))
            try:
                async for frame in ws:
                    self._dispatch(json.loads(frame, parse_float=Decimal))
            finally:
                beat.cancel()
                self._ws = None
            return True

    async def _expect(self, ws: ClientConnection, what: str) -> None:
        frame = await asyncio.wait_for(ws.recv(), self.connect_timeout)
        for message in json.loads(frame):
            if message.get("T") == "error":
                _raise(message)
            if message.get("T") == "success" and message.get("msg") == what:
                return
        raise ValueError(f"Alpaca's market-data stream did not say {what!r}")

    def _dispatch(self, messages: Any) -> None:
        listener = self._listener
        for message in messages if isinstance(messages, list) else [messages]:
            kind = message.get("T")
            if kind == "t":
                try:
                    quote = Quote(
                        symbol=message["S"],
                        price=message["p"],
                        as_of=message["t"],
                        source="alpaca:stream_trade",
                    )
                except (KeyError, TypeError, ValueError, ArithmeticError):
                    log.warning("an unreadable trade on Alpaca's quote stream was skipped")
                    continue
                listener.on_quote(quote)
            elif kind == "subscription":
                wanted = self._wanted
                self._confirmed = {s for s in message.get("trades") or () if s in wanted}
                listener.on_subscribed(set(self._confirmed))
            elif kind == "error":
                _raise(message, fatal_only=True)

    def _want(self, symbol: str) -> None:
        wanted = self._wanted
        if symbol in wanted:
            wanted.move_to_end(symbol)
            return
        wanted[symbol] = None
        dropped = []
        while len(wanted) > self.limit:
            dropped.append(wanted.popitem(last=False)[0])
        ws = self._ws
        if ws is None:
            return  # subscribed when connected
        messages = [{"action": "subscribe", "trades": [symbol]}]
        if dropped:
            # The listener stops trusting them before Alpaca stops sending them.
            self._confirmed.difference_update(dropped)
            self._listener.on_subscribed(set(self._confirmed))
            messages.insert(0, {"action": "unsubscribe", "trades": dropped})
        self._spawn(_send(ws, messages))

    async def _beat(self, ws: ClientConnection) -> None:
        interval = max(0.05, float(self._listener.heartbeat_seconds))
        while True:
            await asyncio.sleep(interval)
            try:
                pong = await ws.ping()
                await asyncio.wait_for(pong, timeout=max(interval, self.connect_timeout))
            except (TimeoutError, _WebSocketError):
                self.reason = "a heartbeat went unanswered"
                await ws.close()
                return
            self._listener.on_alive()


async def _send(ws: ClientConnection, messages: list[dict[str, Any]]) -> None:
    try:
        for message in messages:
            await ws.send(json.dumps(message))
    except _WebSocketError:
        return  # the connection is going; the reconnect subscribes again


def _raise(message: dict[str, Any], *, fatal_only: bool = False) -> None:
    code, text = message.get("code"), message.get("msg")
    if code in FATAL:
        raise QuoteStreamStopped(f"{FATAL[code]} (Alpaca: {code} {text})", code)
    if fatal_only:
        log.warning("Alpaca's quote stream answered %s %s", code, text)
        return
    raise ValueError(f"Alpaca's market-data stream answered {code} {text}")


def _clean(exc: BaseException) -> str:
    """An exception's text, cut short (it never holds the keys: they are only sent)."""
    return str(exc)[:200]
