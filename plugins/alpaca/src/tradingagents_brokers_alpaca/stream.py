"""Alpaca's ``trade_updates`` websocket as the core's order stream.

The protocol (``wss://paper-api.alpaca.markets/stream``, or the live host): the
client sends ``{"action": "authenticate", "data": {"key_id", "secret_key"}}`` and
gets ``{"stream": "authorization", "data": {"status": "authorized"}}``, then
``{"action": "listen", "data": {"streams": ["trade_updates"]}}`` and gets
``{"stream": "listening", ...}``; trade updates follow as
``{"stream": "trade_updates", "data": {...}}``, in binary frames of JSON.

The client is small and speaks it over websockets' asyncio client (as the quote
stream does), on a loop in a thread of its own. What the core's listener needs:

* ``on_connected`` when Alpaca acknowledges the ``listen`` (every (re)connect);
* ``on_disconnected`` when the socket closes, and on refused keys;
* ``on_alive`` after each answered heartbeat ping (``stream_heartbeat_seconds``);
  an unanswered one closes the socket, and the client reconnects;
* a dropped connection is retried with backoff (1 s doubling to 30 s, with
  jitter); refused keys end the stream for the session, with a warning.

Before a trade update is parsed, the loop offers it to the listener's
``on_own_update`` (which never blocks): the echo of an order this process is
still submitting is taken there, and parsed later only if it says more than
the broker's answer. The listener's other methods block (they read from Alpaca
and write the journal), so they run one at a time, in the order the messages
came, on a worker thread fed by a queue; the loop hands a message over and goes
back to the socket at once. alpaca-py's ``TradingStream`` is not used: it says
nothing of its connection, so following it meant overriding its private methods
(ADR 0006). The keys live only in this client's closure, never in its repr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import random
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from alpaca.common.utils import get_default_user_agent
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from tradingagents_brokers import BrokerError
from tradingagents_brokers.streams import OrderUpdate, OrderUpdateListener

from . import mapping

__all__ = ["AlpacaOrderStream", "to_update"]

log = logging.getLogger("tradingagents.broker.alpaca")


class _NoFrames(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets' logger for sockets that send the keys: nothing below INFO, ever.

    At DEBUG, websockets logs every frame and handshake header, shortened but not
    cut out: the start and the end of the authentication message, key id and
    secret included. These sockets' own messages (connected, dropped) are INFO.
    """

    def isEnabledFor(self, level: int) -> bool:
        return level >= logging.INFO and self.logger.isEnabledFor(level)


#: Give this to every websocket that authenticates with the keys.
WEBSOCKET_LOG = _NoFrames(logging.getLogger("websockets.client"), {})
#: Seconds before the first reconnect, and the most between two.
MIN_BACKOFF, MAX_BACKOFF = 1.0, 30.0


def to_update(data: dict[str, Any]) -> OrderUpdate:
    """One ``trade_updates`` message's ``data`` as an :class:`OrderUpdate`."""
    return OrderUpdate(
        event=data.get("event"),
        order=mapping.to_order(data.get("order") or {}),
        at=data.get("timestamp") or None,
        execution_id=data.get("execution_id"),
        qty=mapping.exact(data.get("qty")),
        price=mapping.exact(data.get("price")),
        position_qty=mapping.exact(data.get("position_qty")),
    )


class _Refused(Exception):
    """Alpaca refused the keys: reconnecting cannot help."""


class _TradeUpdates:
    """The ``trade_updates`` connection: log in, listen, reconnect, beat, stop."""

    min_backoff = MIN_BACKOFF
    max_backoff = MAX_BACKOFF

    def __init__(self, key: str, secret: str, url: str, owner: AlpacaOrderStream) -> None:
        self.url = url
        self._owner = owner
        self._login: Callable[[], str] = lambda: json.dumps(
            {"action": "authenticate", "data": {"key_id": key, "secret_key": secret}}
        )
        self.loop = asyncio.new_event_loop()
        self._stopping = False
        self._stop: asyncio.Event | None = None
        self._socket: ClientConnection | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<_TradeUpdates {self.url}>"

    def run(self) -> None:
        """The stream thread's body: connect and reconnect until stopped."""
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._run())
        finally:
            self.loop.close()

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        backoff = self.min_backoff
        while not self.stopped():
            try:
                if await self._session():
                    backoff = self.min_backoff  # it went live: start the backoff again
            except _Refused:
                log.warning(
                    "Alpaca refused the order stream's keys; orders are checked on fresh "
                    "reads. Check the API keys"
                )
                return
            except (OSError, TimeoutError, WebSocketException, ValueError) as exc:
                log.info("the Alpaca order stream dropped (%s); reconnecting", type(exc).__name__)
            if self.stopped():
                break
            pause = backoff * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not secrecy
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), pause)
            backoff = min(backoff * 2, self.max_backoff)
        if self._closing is not None:
            await self._closing

    def stopped(self) -> bool:
        """Whether a stop was asked for (by another thread, or while a session ran)."""
        return self._stopping

    async def _session(self) -> bool:
        """One connection, until it closes; whether it went live."""
        owner = self._owner
        socket = await connect(
            self.url,
            logger=WEBSOCKET_LOG,
            additional_headers={"User-Agent": get_default_user_agent()},
            # The heartbeat below replaces the library's keepalive pings. Trade updates are
            # small and wanted at once: compressing each one costs both ends CPU on the
            # order path and saves next to nothing.
            ping_interval=None,
            max_queue=1024,
            compression=None,
            open_timeout=owner.connect_timeout,
            close_timeout=1,
        )
        self._socket, live = socket, False
        try:
            if self.stopped():  # a stop that came while connecting
                return False
            await socket.send(self._login())
            answer = json.loads(await asyncio.wait_for(socket.recv(), owner.connect_timeout))
            if (answer.get("data") or {}).get("status") != "authorized":
                owner.reason = "Alpaca refused the stream's keys"  # told when it closes
                raise _Refused
            listen = {"action": "listen", "data": {"streams": ["trade_updates"]}}
            await socket.send(json.dumps(listen))
            async for frame in socket:
                message = json.loads(frame)
                kind = message.get("stream")
                data = message.get("data") or {}
                if kind == "trade_updates":
                    if not owner.offer_own(data):
                        owner.deliver("update", data)
                elif kind == "listening" and "trade_updates" in (data.get("streams") or []):
                    live = True
                    owner.deliver("connected")
                    self._heartbeat = asyncio.ensure_future(self._beat(socket))
            return live
        finally:
            if self._heartbeat is not None:
                self._heartbeat.cancel()
                self._heartbeat = None
            self._socket = None
            await socket.close()
            reason, owner.reason = owner.reason, "the connection closed"
            owner.deliver("disconnected", "stopped" if self._stopping else reason)

    async def _beat(self, socket: ClientConnection) -> None:
        interval = self._owner.heartbeat
        while True:
            await asyncio.sleep(interval)
            try:
                pong = await socket.ping()
                await asyncio.wait_for(pong, timeout=interval)
            except Exception:  # noqa: BLE001 - no answer: drop the socket and reconnect
                self._owner.reason = "a heartbeat went unanswered"
                await socket.close()
                return
            self._owner.deliver("alive")

    def request_stop(self) -> None:
        """End the stream (on its loop): close the socket, which ends a receive at once."""
        self._stopping = True
        if self._stop is not None:
            self._stop.set()
        if self._socket is not None:
            self._closing = asyncio.ensure_future(self._socket.close())


class AlpacaOrderStream:
    """A running subscription to Alpaca's trade updates (the core's ``OrderStream``)."""

    def __init__(
        self,
        key: str,
        secret: str,
        url: str,
        listener: OrderUpdateListener,
        *,
        heartbeat: float,
        connect_timeout: float,
    ) -> None:
        self.url = url
        self.heartbeat = heartbeat
        self.connect_timeout = connect_timeout
        self.reason = "the connection closed"
        self._listener = listener
        #: The listener's optional shortcut (streams.OwnUpdateListener), when it has one.
        self._take_own: Callable[..., bool] | None = getattr(listener, "on_own_update", None)
        self._inbox: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, name="alpaca-order-updates")
        self._worker.daemon = True
        self._worker.start()
        self._stream = _TradeUpdates(key, secret, url, self)
        self._thread = threading.Thread(
            target=self._stream.run, name="alpaca-trade-updates", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"<AlpacaOrderStream {self.url}>"

    def poll(self) -> None:
        """Updates are pushed; there is nothing to pull."""

    def offer_own(self, data: dict[str, Any]) -> bool:
        """Offer an update, unparsed, to the listener's ``on_own_update``; True if taken.

        The echo of an order this process is still submitting is then neither parsed
        nor queued unless it turns out to say more than the broker's answer.
        """
        take = self._take_own
        order = data.get("order")
        if take is None or not isinstance(order, dict):
            return False
        coid, status = order.get("client_order_id"), order.get("status")
        try:
            filled = Decimal(str(mapping.exact(order.get("filled_qty")) or 0))
        except ArithmeticError:
            return False
        if not coid or not status or not filled.is_finite():
            return False
        return bool(take(str(coid), str(status), filled, lambda: to_update(data)))

    def deliver(self, kind: str, data: Any = None) -> None:
        """Queue one event for the listener; the worker thread handles them in order."""
        self._inbox.put((kind, data))

    def _work(self) -> None:
        while (item := self._inbox.get()) is not None:
            self._call(*item)

    def _call(self, kind: str, data: Any) -> None:
        listener = self._listener
        try:
            if kind == "update":
                try:
                    update = to_update(data)
                except BrokerError as exc:
                    # Unreadable: whatever it said is missed, so resynchronise as on a reconnect.
                    listener.on_disconnected(f"an unreadable trade update ({exc.message})")
                    listener.on_connected()
                    return
                listener.on_update(update)
            elif kind == "connected":
                listener.on_connected()
            elif kind == "alive":
                listener.on_alive()
            else:
                listener.on_disconnected(str(data))
        except Exception:
            log.exception("the order stream's listener failed on %s", kind)

    def close(self) -> None:
        """Stop the stream: close the socket, end its loop, wait for the thread."""
        with contextlib.suppress(RuntimeError):  # its loop has already ended (refused keys)
            self._stream.loop.call_soon_threadsafe(self._stream.request_stop)
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            log.warning("the Alpaca order stream did not stop in 5 seconds")
        self._inbox.put(None)  # after what is queued: each of those is still handled
        if threading.current_thread() is not self._worker:
            self._worker.join()  # a listener call in progress ends before we return
