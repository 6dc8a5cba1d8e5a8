"""A fake TWS on loopback: the API handshake, the requests ib_async makes, and faults.

It runs an asyncio server in a thread of its own. Each connection does IB's
handshake (``API\\0``, the client's version range, the server's version and
time), then ``startApi`` with a client id (a second connection with a client id
in use gets error 326, as TWS does), then gets ``nextValidId`` and
``managedAccounts``. Requests are answered from :class:`~.book.Book`: positions,
account updates and summaries, open (own or all) and completed orders, executions,
contract details, market data, the time; ``placeOrder``, cancels, global cancel.

Faults and controls, from the test's thread: ``book.faults`` (next placeOrder),
:meth:`FakeTWS.drop` (every connection closes), ``refuse`` (the next n
connections are closed at once), ``mute_pings`` (``reqCurrentTime`` goes
unanswered), :meth:`FakeTWS.send_error` (1100, 1102, ... to every client),
``no_data`` (symbols whose market data needs a subscription: error 354).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import struct
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from . import wire
from .book import Book


class Client:
    """One API connection."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.client_id = -1
        self.positions = False
        self.account = False
        self.market: dict[int, str] = {}  # market-data request id -> symbol
        self.data_type = 1
        self.muted: set[int] = set()  # order ids whose answers are swallowed

    def send(self, fields: list[Any]) -> None:
        if not self.writer.is_closing():
            self.writer.write(wire.frame(fields))


class FakeTWS:
    """TWS's API socket on 127.0.0.1, an ephemeral port. Use as a context manager."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.problems: list[str] = []
        self.book = Book(self, self.problems)
        self.clients: dict[int, Client] = {}
        self.connections = 0
        self.refuse = 0
        self.mute_pings = False
        self.no_data: set[str] = set()
        self.hours = _hours()
        self.requests: list[list[str]] = []
        self.server = self.call(self._start)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _start(self) -> asyncio.Server:
        return await asyncio.start_server(self._session, "127.0.0.1", 0)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the fake's loop (a coroutine function is awaited)."""

        async def run() -> Any:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def __enter__(self) -> FakeTWS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.loop.is_closed():
            return

        async def stop() -> None:
            self.server.close()
            for client in list(self.clients.values()):
                client.writer.close()
            await self.server.wait_closed()

        self.call(stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()

    # -- controls (from the test's thread) -------------------------------------------

    def drop(self) -> None:
        """Close every connection, as a TWS restart or a network fault does."""
        self.call(lambda: [self.drop_client(c) for c in list(self.clients.values())])

    def send_error(self, code: int, message: str) -> None:
        rows = wire.error(-1, code, message)
        self.call(lambda: [c.send(rows) for c in list(self.clients.values())])

    def set_price(self, symbol: str, price: Decimal | str) -> None:
        self.call(self.book.set_price, symbol, Decimal(price))

    def release(self) -> None:
        """Answer what ``silent`` swallowed: the orders' current state, as TWS would re-send."""

        def go() -> None:
            for client in self.clients.values():
                client.muted.clear()
            for order in self.book.orders.values():
                self.to(order.client_id, wire.open_order(order))
                self.to(order.client_id, wire.order_status(order))

        self.call(go)

    # -- what the book sends (on the loop) --------------------------------------------

    def to(self, client_id: int, fields: list[Any]) -> None:
        client = self.clients.get(client_id)
        if client is None:
            return
        if fields[0] in (3, 5, 11) and _order_id(fields) in client.muted:
            return
        client.send(fields)

    def to_positions(self, fields: list[Any]) -> None:
        for client in self.clients.values():
            if client.positions:
                client.send(fields)

    def to_account(self, fields: list[Any]) -> None:
        for client in self.clients.values():
            if client.account:
                client.send(fields)

    def ticks(self, symbol: str) -> None:
        for client in self.clients.values():
            for req_id, wanted in client.market.items():
                if wanted == symbol:
                    self._tick(client, req_id, symbol)

    def drop_client(self, client: Client) -> None:
        self.clients.pop(client.client_id, None)
        client.writer.close()

    def mute(self, client_id: int, order_id: int) -> None:
        client = self.clients.get(client_id)
        if client is not None:
            client.muted.add(order_id)

    # -- a connection ---------------------------------------------------------------------

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        client = Client(writer)
        try:
            if self.refuse:
                self.refuse -= 1
                return
            if await reader.readexactly(4) != b"API\0":
                return
            size = struct.unpack(">I", await reader.readexactly(4))[0]
            low, high = (await reader.readexactly(size)).decode()[1:].split("..")
            version = min(int(high.split()[0]), wire.SERVER_VERSION)
            if version < int(low):
                return
            client.send([version, wire.tws_time()])
            while True:
                size = struct.unpack(">I", await reader.readexactly(4))[0]
                fields = wire.split(await reader.readexactly(size))
                self.requests.append(fields)
                if not self._handle(client, fields):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception as exc:  # the test sees it at teardown
            self.problems.append(f"{type(exc).__name__}: {exc}")
        finally:
            if self.clients.get(client.client_id) is client:
                del self.clients[client.client_id]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _handle(self, client: Client, fields: list[str]) -> bool:
        """Answer one request; False ends the connection."""
        book, msg = self.book, int(fields[0])
        if msg == 71:  # startApi
            client.client_id = int(fields[2])
            if client.client_id in self.clients:
                text = "Unable to connect as the client id is already in use. Retry with a unique"
                client.send(wire.error(-1, 326, f"{text} client id."))
                return False
            self.clients[client.client_id] = client
            client.send([9, 1, book.next_id(client.client_id)])
            client.send([15, 1, ",".join(book.accounts)])
            client.send(wire.error(-1, 2104, "Market data farm connection is OK:usfarm"))
        elif msg == 3:
            book.place(client, fields)
        elif msg == 4:
            book.cancel(client.client_id, int(fields[2]))
        elif msg == 58:
            book.cancel_all()
        elif msg in (5, 16):  # open orders: this client's, or every client's
            wanted = client.client_id if msg == 5 else None
            for order in book.open_orders(wanted):
                client.send(wire.open_order(order))
                client.send(wire.order_status(order))
            client.send([53, 1])
        elif msg == 99:
            for order in [o for o in book.orders.values() if o.done]:
                client.send(wire.completed_order(order))
            client.send([102])
        elif msg == 7:  # executions
            req_id = int(fields[2])
            for order in book.orders.values():
                for execution in order.executions:
                    client.send(wire.exec_details(req_id, order, execution))
            client.send([55, 1, req_id])
        elif msg == 61:
            client.positions = True
            for symbol, (qty, avg) in book.positions.items():
                client.send(wire.position(book.account, book.stocks[symbol], qty, avg))
            client.send([62, 1])
        elif msg == 6:
            client.account = fields[2] == "1"
            if client.account:
                for row in [*book.account_values(), *book.portfolio_rows()]:
                    client.send(row)
                client.send([8, 1, "12:00"])
                client.send([54, 1, book.account])
        elif msg == 62:  # account summary: the same values, by request id
            req_id = int(fields[2])
            for row in book.account_values():
                client.send([63, 1, req_id, book.account, row[2], row[3], row[4]])
            client.send([64, 1, req_id])
        elif msg == 76:  # account updates by model: nothing but the end
            client.send([74, 1, int(fields[2])])
        elif msg == 9:
            self._details(client, int(fields[2]), fields[4])
        elif msg == 1:
            self._market_data(client, fields)
        elif msg == 2:
            client.market.pop(int(fields[2]), None)
        elif msg == 59:
            client.data_type = int(fields[2])
        elif msg == 49 and not self.mute_pings:
            client.send([49, 1, int(dt.datetime.now(dt.UTC).timestamp())])
        elif msg == 8:
            client.send([9, 1, book.next_id(client.client_id)])
        return True

    def _details(self, client: Client, req_id: int, symbol: str) -> None:
        stock = self.book.stocks.get(symbol)
        if stock is None:
            client.send(wire.error(req_id, 200, "No security definition has been found"))
            return
        client.send(wire.contract_details(req_id, stock, self.hours, "US/Eastern"))
        client.send([52, 1, req_id])

    def _market_data(self, client: Client, fields: list[str]) -> None:
        req_id, symbol, snapshot = int(fields[2]), fields[4], fields[-3] == "1"
        if symbol in self.no_data:
            text = "Requested market data is not subscribed."
            client.send(wire.error(req_id, 354, text))
            return
        client.market[req_id] = symbol
        self._tick(client, req_id, symbol)
        if snapshot:
            client.send([57, 1, req_id])

    def _tick(self, client: Client, req_id: int, symbol: str) -> None:
        price = self.book.prices[symbol]
        now = int(dt.datetime.now(dt.UTC).timestamp())
        if client.data_type in (3, 4):
            client.send(wire.error(req_id, 10167, "Displaying delayed market data."))
            client.send(wire.tick_price(req_id, 68, price))
            client.send(wire.tick_string(req_id, 88, str(now - 900)))
        else:
            client.send(wire.tick_price(req_id, 4, price))
            client.send(wire.tick_string(req_id, 45, str(now)))


def _order_id(fields: list[Any]) -> int:
    return int(fields[2] if fields[0] == 11 else fields[1])


def _hours() -> str:
    """Regular hours for today and the next days, every day open (US/Eastern)."""
    today = dt.datetime.now(dt.UTC).date()
    days = [today + dt.timedelta(days=n) for n in range(-1, 4)]
    return ";".join(f"{d:%Y%m%d}:0930-{d:%Y%m%d}:1600" for d in days)
