"""One API connection to TWS or IB Gateway, through ib_async, on an event loop of its own.

ib_async is asyncio-based and not thread-safe; the core calls brokers from any
thread and expects blocking calls. So the session owns one ``IB`` object on one
event loop in one thread, and every operation is a coroutine run there
(:meth:`Session.call`), with a finite timeout.

The session also keeps the connection:

* it connects when built, checks the account the login reports (paper accounts
  start with ``D``: ``DU1234567``) against the mode, and refuses the other kind;
* after a drop it reconnects with backoff (0.1 s doubling to
  ``reconnect_max_seconds``); ib_async then fetches the open orders, today's
  completed orders and executions again, so nothing it knew is lost;
* a heartbeat (``reqCurrentTime`` every ``heartbeat_seconds``) notices a socket
  that went silent and drops it, which starts a reconnect;
* TWS's own link to IB (errors 1100/2110, back with 1101/1102) counts as a drop
  for orders: nothing is sent while it is down.

Streams register a :class:`SessionSink`; its methods are called on the loop
thread and must not block.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tradingagents_brokers import (
    BrokerAPIError,
    BrokerConfigurationError,
    BrokerError,
    BrokerUnavailableError,
    TradingMode,
)

from .errors import CONNECTION_LOST, CONNECTION_RESTORED, map_error
from .options import IBKROptions

if TYPE_CHECKING:
    from ib_async import IB

__all__ = ["Session", "SessionSink"]

log = logging.getLogger("tradingagents.broker.ibkr")
T = TypeVar("T")

#: The first reconnect waits this long (seconds); each next one twice as long.
FIRST_RETRY = 0.1
#: How much longer than ib_async's pacing window (1 s) a heartbeat's answer may take.
PING_GRACE = 0.5


class SessionSink(Protocol):
    """What a stream registers with the session. Called on the loop thread; never blocks."""

    def connected(self) -> None: ...

    def disconnected(self, reason: str) -> None: ...

    def alive(self) -> None: ...

    def trade_changed(self, trade: Any, fill: Any | None) -> None: ...


class Session:
    """An ib_async ``IB`` connection on its own loop thread. Build, then :meth:`start`."""

    def __init__(self, options: IBKROptions) -> None:
        self.options = options
        self.account = options.account
        self.connected = False
        #: TWS's link to IB's servers (False between errors 1100 and 1101/1102).
        self.link_up = True
        #: Bumped by every drop (of the socket or of TWS's link to IB).
        self.generation = 0
        self.last_error = ""
        self._fatal: str | None = None
        self._closed = False
        self._sinks: list[SessionSink] = []
        #: Called with (request id, code, message) for every error TWS sends.
        self.error_hooks: list[Callable[[int, int, str], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, name=f"ibkr-session-{options.client_id}", daemon=True
        )
        self._thread.start()
        self.ib: IB = self.call(self._make, 5.0, what="setting up ib_async", connected=False)

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<Session {self.options.where} {state}>"

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def _make(self) -> IB:
        from ib_async import IB

        ib = IB()
        self._changed = asyncio.Event()
        ib.disconnectedEvent += self._on_disconnected
        ib.errorEvent += self._on_error
        ib.orderStatusEvent += self._on_status
        ib.openOrderEvent += self._on_open_order
        ib.execDetailsEvent += self._on_fill
        ib.pendingTickersEvent += lambda tickers: self._notify()
        return ib

    # -- calls from other threads -----------------------------------------------------

    def call(
        self,
        make: Callable[[], Awaitable[T]],
        timeout: float | None,
        *,
        what: str,
        connected: bool = True,
        late: Callable[[], BrokerError] | None = None,
    ) -> T:
        """Run ``make()`` on the loop and wait for it (the connection first, if ``connected``).

        ``timeout`` bounds the coroutine (None: it bounds itself); ``late`` is raised
        when the whole call outlasts its bound (the default: "TWS did not answer").
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("Session.call() from the session's own loop would deadlock")
        if self._closed:
            raise BrokerUnavailableError("this IBKR broker is closed; build a new one")
        coroutine = self._run(make, timeout, what, connected)
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        options = self.options
        own = options.request_timeout * 2 + options.order_timeout if timeout is None else timeout
        bound = own + options.connect_timeout + 2
        try:
            return future.result(timeout=bound)
        except concurrent.futures.TimeoutError:
            future.cancel()
            if late is not None:
                raise late() from None
            raise BrokerAPIError(f"TWS did not answer {what} within {bound:g}s") from None

    async def _run(
        self, make: Callable[[], Awaitable[T]], timeout: float | None, what: str, connected: bool
    ) -> T:
        if connected:
            await self.ready()
        try:
            if timeout is None:
                return await make()
            return await asyncio.wait_for(make(), timeout)
        except TimeoutError:
            raise BrokerAPIError(f"TWS did not answer {what} within {timeout:g}s") from None
        except ConnectionError:
            raise BrokerAPIError(f"the connection to TWS dropped during {what}") from None

    async def request(self, awaitable: Awaitable[T], what: str) -> T:
        """Await one request to TWS, at most ``request_timeout``."""
        try:
            return await asyncio.wait_for(awaitable, self.options.request_timeout)
        except TimeoutError:
            raise BrokerAPIError(
                f"TWS did not answer {what} within {self.options.request_timeout:g}s"
            ) from None

    async def ready(self) -> None:
        """Return once connected with TWS linked to IB; wait at most ``connect_timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.connect_timeout
        while not (self.connected and self.link_up):
            if self._fatal is not None:
                raise BrokerConfigurationError(self._fatal)
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closed:
                why = self.last_error or "not connected"
                raise BrokerUnavailableError(
                    f"no connection to IB through TWS/IB Gateway at {self.options.where} "
                    f"({why}); nothing was sent. The plugin keeps reconnecting"
                )
            await self.changes(remaining)

    async def changes(self, timeout: float) -> None:
        """Wait until something happens on the connection (an order status, an error, a drop)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- connecting ---------------------------------------------------------------------

    def start(self) -> None:
        """Connect now; raise a clear error if TWS cannot be reached or the account is wrong."""
        bound = self.options.connect_timeout * 4
        self.call(self._connect, bound, what="the connection", connected=False)

    async def _connect(self) -> None:
        ib, options = self.ib, self.options
        failed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        refused: list[int] = []

        def on_api_error(message: str) -> None:
            if not failed.done():
                failed.set_result(message)

        def on_error(req_id: int, code: int, message: str, contract: Any) -> None:
            if code in (326, 502):
                refused.append(code)
                on_api_error(f"{code} {message}")

        def on_closed(message: str) -> None:
            on_api_error(message or "TWS closed the connection during the handshake")

        ib.client.apiError += on_api_error
        ib.client.conn.disconnected += on_closed
        ib.errorEvent += on_error
        task = asyncio.ensure_future(
            ib.connectAsync(
                options.host,
                options.port,
                options.client_id,
                timeout=options.connect_timeout,
                account=options.account,
                raiseSyncErrors=True,
            )
        )
        try:
            await asyncio.wait({task, failed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ib.client.apiError -= on_api_error
            ib.client.conn.disconnected -= on_closed
            ib.errorEvent -= on_error
        if not task.done():
            task.cancel()
        error = await _outcome(task)
        if error is not None or failed.done():
            ib.disconnect()
            why = failed.result() if failed.done() else _describe(error)
            if 326 in refused:
                raise map_error(326, why)
            raise BrokerAPIError(
                f"cannot connect to TWS/IB Gateway at {options.where} ({why}): start it, "
                "enable its API (Configure > API > Settings: 'Enable ActiveX and Socket "
                "Clients') and check broker_options.ibkr.host and port"
            )
        self._check_account()
        ib.reqMarketDataType(options.market_data_type)
        self.connected, self.link_up, self.last_error = True, True, ""
        self._heartbeat = self._spawn(self._beat())
        self._notify()
        for sink in list(self._sinks):
            sink.connected()
        log.info("connected to IB at %s, account %s", options.where, self.account)

    def _check_account(self) -> None:
        accounts = list(self.ib.client.getAccounts())
        wanted = self.options.account
        if not wanted and len(accounts) != 1:
            self._refuse(
                f"the login at {self.options.where} manages {len(accounts)} accounts "
                f"({', '.join(accounts) or 'none'}); name one in broker_options.ibkr.account"
            )
        account = wanted or accounts[0]
        if account not in accounts:
            self._refuse(
                f"broker_options.ibkr.account {account!r} is not managed by the login at "
                f"{self.options.where} (it manages {', '.join(accounts)})"
            )
        paper = account.upper().startswith("D")
        if self.options.mode is TradingMode.PAPER and not paper:
            self._refuse(
                f"TWS/IB Gateway at {self.options.where} is logged in to the live account "
                f"{account}, but broker_mode is 'paper': log in with your paper-trading user "
                "(paper accounts start with 'D'), or trade live through broker_mode = 'live' "
                "and the live opt-in"
            )
        if self.options.mode is TradingMode.LIVE and paper:
            self._refuse(
                f"broker_mode is 'live' but TWS/IB Gateway at {self.options.where} is logged "
                f"in to the paper account {account}; log in with your live user"
            )
        self.account = account

    def _refuse(self, message: str) -> None:
        self._fatal = message
        self.ib.disconnect()
        raise BrokerConfigurationError(message)

    def _on_disconnected(self) -> None:
        if not self.connected:
            return  # a connect that failed: its caller reports it
        self.connected = False
        self.generation += 1
        self.last_error = self.last_error or "TWS closed the connection"
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        self._notify()
        for sink in list(self._sinks):
            sink.disconnected(self.last_error)
        log.warning("the connection to IB at %s dropped: %s", self.options.where, self.last_error)
        if not self._closed and self._fatal is None and self._reconnecting is None:
            self._reconnecting = self._spawn(self._reconnect())

    async def _reconnect(self) -> None:
        delay = FIRST_RETRY
        try:
            while not self._closed:
                await asyncio.sleep(delay)
                try:
                    await asyncio.wait_for(self._connect(), self.options.connect_timeout * 4)
                    return
                except BrokerConfigurationError as exc:
                    if self._fatal is not None:  # the login changed: never trade on it
                        self.last_error = exc.message
                        for sink in list(self._sinks):
                            sink.disconnected(exc.message)
                        self._notify()
                        return
                    self.last_error = exc.message  # 326: TWS has not seen the old socket go
                except (BrokerError, TimeoutError, OSError) as exc:
                    self.last_error = _describe(exc)
                delay = min(delay * 2, self.options.reconnect_max_seconds)
        finally:
            self._reconnecting = None

    async def _beat(self) -> None:
        interval = self.options.heartbeat_seconds
        # ib_async holds back requests beyond 45 a second (IB's pacing): a ping may wait
        # that long behind them without the connection being at fault.
        patience = max(interval, self.ib.client.RequestsInterval + PING_GRACE)
        while self.connected:
            await asyncio.sleep(interval)
            try:
                await asyncio.wait_for(self.ib.reqCurrentTimeAsync(), patience)
            except (TimeoutError, ConnectionError):
                self.last_error = "a heartbeat went unanswered"
                self._heartbeat = None
                self.ib.disconnect()  # reported through disconnectedEvent; we reconnect
                return
            for sink in list(self._sinks):
                sink.alive()

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- events from ib_async (on the loop thread) ------------------------------------

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        for hook in self.error_hooks:
            hook(req_id, code, message)
        if code in CONNECTION_LOST and self.link_up:
            self.link_up = False
            self.generation += 1
            reason = f"TWS lost its connection to IB ({code} {message})"
            self.last_error = reason
            for sink in list(self._sinks):
                sink.disconnected(reason)
        elif code in CONNECTION_RESTORED and not self.link_up:
            self.link_up = True
            self.last_error = ""
            for sink in list(self._sinks):
                sink.connected()  # the core reconciles what it may have missed
        self._notify()

    def _on_status(self, trade: Any) -> None:
        self._notify()
        if self.connected:  # while (re)connecting, ib_async replays; the core reconciles
            for sink in list(self._sinks):
                sink.trade_changed(trade, None)

    def _on_open_order(self, trade: Any) -> None:
        # TWS echoes an order's terms before its status: that echo alone says nothing new.
        if trade.orderStatus.status in ("PendingSubmit", "ApiPending"):
            self._notify()
        else:
            self._on_status(trade)

    def _on_fill(self, trade: Any, fill: Any) -> None:
        self._notify()
        if self.connected:
            for sink in list(self._sinks):
                sink.trade_changed(trade, fill)

    # -- streams --------------------------------------------------------------------------

    def subscribe(self, sink: SessionSink) -> None:
        """Start telling ``sink`` about the connection and the orders (``connected`` first)."""

        def add() -> None:
            self._sinks.append(sink)
            if self.connected and self.link_up:
                sink.connected()

        self.loop.call_soon_threadsafe(add)

    def unsubscribe(self, sink: SessionSink) -> None:
        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._sinks.remove(sink)

        if not self._closed:
            self.loop.call_soon_threadsafe(remove)

    # -- closing ----------------------------------------------------------------------

    def close(self) -> None:
        """Disconnect, stop the loop and its thread. Safe to call twice."""
        if self._closed:
            return
        try:
            self.call(self._shutdown, None, what="closing", connected=False)
        except BrokerError as exc:
            log.warning("closing the IBKR session: %s", exc.message)
        self._closed = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()

    async def _shutdown(self) -> None:
        self._closed = True
        self._sinks.clear()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]  # ours and ib_async's
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.connected = False
        self.ib.disconnect()
        for _ in range(3):  # let the transport report its closing before the loop stops
            await asyncio.sleep(0)
        with contextlib.suppress(Exception):
            await self.loop.shutdown_asyncgens()


async def _outcome(task: asyncio.Future[Any]) -> BaseException | None:
    """Wait for ``task`` and return its exception (None when it succeeded)."""
    try:
        await task
    except asyncio.CancelledError:
        return TimeoutError("cancelled")
    except Exception as exc:  # noqa: BLE001 - reported by the caller, in its words
        return exc
    return None


def _describe(error: BaseException | None) -> str:
    if isinstance(error, BrokerError):
        return error.message
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    return f"{type(error).__name__}: {error}" if error is not None else "unknown error"
