"""Alpaca's ``trade_updates`` websocket as the core's order stream, through alpaca-py.

alpaca-py's ``TradingStream`` connects, authenticates, listens to
``trade_updates`` and reconnects with backoff; it runs its own asyncio loop (so
it runs here in a thread of its own). It says nothing about its connection, so
a small subclass adds what the core's listener needs:

* ``on_connected`` when Alpaca acknowledges the ``listen`` (every (re)connect);
* ``on_disconnected`` when the socket closes, and on a failed authentication;
* ``on_alive`` after each answered heartbeat ping (``stream_heartbeat_seconds``);
  an unanswered one closes the socket, which makes alpaca-py reconnect.

Before a trade update is parsed, the loop offers it to the listener's
``on_own_update`` (which never blocks): the echo of an order this process is
still submitting is taken there, and parsed later only if it says more than
the broker's answer. The listener's other methods block (they read from Alpaca
and write the journal), so they run one at a time, in the order the messages
came, on a worker thread fed by a queue; the loop hands a message over and goes
back to the socket at once, without waiting to be woken again (an executor's
future cost every update several turns of the loop and a thread wake-up, on the
cores the order path runs on). The socket is opened with websockets' current
client. The subclass reads private hooks of ``TradingStream`` (``_connect``,
``_consume``, ``_dispatch``, ``close``), pinned like the REST client's by
``alpaca-py<0.45`` and by the tests. The keys live only inside alpaca-py's
objects.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import queue
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

from alpaca.common.utils import get_default_user_agent
from alpaca.trading.stream import TradingStream
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

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


class _TradeUpdates(TradingStream):
    """``TradingStream`` that reports its connection to :class:`AlpacaOrderStream`."""

    # alpaca-py leaves this unannotated (initialised to None); give it its real type.
    _ws: Any

    def __init__(self, key: str, secret: str, url: str, owner: AlpacaOrderStream) -> None:
        super().__init__(
            key,
            secret,
            raw_data=True,
            url_override=url,
            # The heartbeat below replaces the library's keepalive pings. Trade updates
            # are small and wanted at once: compressing each one costs both ends CPU
            # on the order path and saves next to nothing.
            websocket_params={
                "ping_interval": None,
                "max_queue": 1024,
                "compression": None,
                "open_timeout": owner.connect_timeout,
                "close_timeout": 1,
            },
        )
        self._owner = owner
        self._heartbeat: asyncio.Task[None] | None = None
        self.subscribe_trade_updates(self._on_trade_update)

    async def _connect(self) -> None:
        # alpaca-py connects with websockets' legacy implementation, which runs a task, a
        # stream reader and several turns of the loop for each frame; the current one
        # parses frames as they arrive. The socket's interface (send, recv, ping, close,
        # and ConnectionClosed, which alpaca-py reconnects on) is the same.
        params: dict[str, Any] = dict(self._websocket_params or {})
        self._ws = await connect(
            self._endpoint,
            logger=WEBSOCKET_LOG,
            additional_headers={"User-Agent": get_default_user_agent()},
            **params,
        )

    async def _on_trade_update(self, message: dict[str, Any]) -> None:
        data = message.get("data") or {}
        if not self._owner.offer_own(data):
            self._owner.deliver("update", data)

    async def _auth(self) -> None:
        try:
            await super()._auth()  # type: ignore[no-untyped-call]
        except ValueError:
            self._owner.reason = "Alpaca refused the stream's keys"  # told when it closes
            raise

    async def _consume(self) -> None:
        # alpaca-py wraps each recv() in wait_for(..., 5) to look at its stop queue every
        # five seconds: a task and a timer per message. Stopping closes the socket (see
        # _stop), which ends a recv() at once, so it is awaited directly; a stop that came
        # while connecting, before there was a socket to close, is seen here.
        while True:
            if not self._should_run:
                await self.close()
                return
            try:
                frame = await self._ws.recv()
            except ConnectionClosed:
                if not self._stopping():
                    raise  # a drop: alpaca-py reconnects
                await self.close()  # our own stop: not an error to log
                return
            message = json.loads(frame)
            if message.get("stream") == "trade_updates":
                self._data_received = True
            await self._dispatch(message)

    def _stopping(self) -> bool:
        """Whether a stop was asked for (set by another task while this one waited)."""
        return not self._should_run

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        if msg.get("stream") == "listening":
            if "trade_updates" in ((msg.get("data") or {}).get("streams") or []):
                self._owner.deliver("connected")
                self._heartbeat = asyncio.ensure_future(self._beat())
            return
        await super()._dispatch(msg)

    async def _beat(self) -> None:
        interval = self._owner.heartbeat
        while self._ws is not None:
            await asyncio.sleep(interval)
            socket = self._ws
            if socket is None:
                return
            try:
                pong = await socket.ping()
                await asyncio.wait_for(pong, timeout=interval)
            except Exception:  # noqa: BLE001 - no answer: drop the socket, alpaca-py reconnects
                self._owner.reason = "a heartbeat went unanswered"
                await socket.close()
                return
            self._owner.deliver("alive")

    async def close(self) -> None:
        had_socket = self._ws is not None
        if self._heartbeat is not None and self._heartbeat is not asyncio.current_task():
            self._heartbeat.cancel()
        self._heartbeat = None
        await super().close()
        if had_socket:
            reason, self._owner.reason = self._owner.reason, "the connection closed"
            self._owner.deliver("disconnected", reason)


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
            target=asyncio.run,
            args=(self._stream._run_forever(),),  # type: ignore[no-untyped-call]
            daemon=True,
        )
        self._thread.name = "alpaca-trade-updates"
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
        """Stop the stream: close the socket, end alpaca-py's loop, wait for the thread."""
        stream, loop = self._stream, cast("asyncio.AbstractEventLoop | None", self._stream._loop)
        if loop is not None and loop.is_running():
            stopping = asyncio.run_coroutine_threadsafe(_stop(stream), loop)
            try:
                stopping.result(timeout=5)
            except (concurrent.futures.TimeoutError, RuntimeError):
                log.warning("the Alpaca order stream did not stop in 5 seconds")
        else:
            stream._should_run = False
            stream._stop_stream_queue.put_nowait({"should_stop": True})
        self._thread.join(timeout=5)
        self._inbox.put(None)  # after what is queued: each of those is still handled
        if threading.current_thread() is not self._worker:
            self._worker.join()  # a listener call in progress ends before we return


async def _stop(stream: _TradeUpdates) -> None:
    await stream.stop_ws()
    socket = stream._ws
    if socket is not None:
        await socket.close()  # wakes the loop's receive at once
