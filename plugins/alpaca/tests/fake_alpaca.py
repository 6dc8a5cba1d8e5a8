"""A fake Alpaca on loopback: the Trading API over HTTP and the trade_updates websocket.

HTTP serves Alpaca's documented bodies (tests/fixtures) around a small book:
orders by client order id (a second order with one id is refused, as Alpaca
does), positions that fills move, open/closed listings. Faults on the next order
POST: ``504_after_accept``, ``reset_after_accept`` (the connection closes with no
answer), ``hang`` (the answer comes after ``hang_seconds``), ``429`` (with
rate-limit headers) and ``html_502`` (a load balancer's HTML page); on the next
GETs, ``429`` (``read_faults``). Every request is recorded, headers included, so
tests can count requests per order.

The websocket (:class:`TradeUpdates`, at ``stream_url``) speaks Alpaca's
protocol: ``authenticate``, ``listen``, then binary JSON frames of
``trade_updates`` for every change of the book (new, fill, partial_fill,
canceled, replaced). Faults on the next message (``stream_faults``): ``drop``
(the connection closes and the message is lost), ``duplicate``, ``hold`` (sent
after the next one: out of order); ``reject_auth`` refuses the keys.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime as dt
import json
import socket
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

FIXTURES = Path(__file__).parent / "fixtures"
OPEN = {"new", "accepted", "pending_new", "partially_filled", "pending_cancel", "pending_replace"}
PRICE = Decimal("190.5")


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


class TradeUpdates:
    """Alpaca's ``trade_updates`` websocket on loopback (its own thread and event loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.clients: set[Any] = set()
        self.faults: collections.deque[str] = collections.deque()
        self.held: list[bytes] = []
        self.sent: list[dict[str, Any]] = []
        self.logins: list[str] = []
        #: Each connection's offered extensions (Sec-WebSocket-Extensions), or None.
        self.extensions: list[str | None] = []
        self.reject_auth = False
        self.thread.start()
        self._run(self._start_sender())
        self.server = self._run(self._serve())
        self.url = f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/stream"

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    async def _start_sender(self) -> None:
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._sending = asyncio.ensure_future(self._sender())

    async def _serve(self) -> Any:
        from websockets.asyncio.server import serve

        return await serve(self._session, "127.0.0.1", 0)

    async def _session(self, ws: Any) -> None:
        self.extensions.append(ws.request.headers.get("Sec-WebSocket-Extensions"))
        hello = json.loads(await ws.recv())
        if hello.get("action") != "authenticate" or self.reject_auth:
            refusal = {"stream": "authorization", "data": {"status": "unauthorized"}}
            await ws.send(json.dumps(refusal).encode())
            return
        self.logins.append(str((hello.get("data") or {}).get("key_id")))
        ok = {"stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}}
        await ws.send(json.dumps(ok).encode())
        listen = json.loads(await ws.recv())
        streams = (listen.get("data") or {}).get("streams") or []
        await ws.send(json.dumps({"stream": "listening", "data": {"streams": streams}}).encode())
        self.clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            self.clients.discard(ws)

    def publish(self, data: dict[str, Any]) -> None:
        """Queue one trade update for every listening client; sent in order, after the caller
        moves on (Alpaca's stream does not hold up its REST answers either)."""
        self.sent.append(data)
        self.loop.call_soon_threadsafe(self._outbox.put_nowait, data)

    async def _sender(self) -> None:
        while True:
            await self._send(await self._outbox.get())
            self._outbox.task_done()

    def flush(self) -> None:
        """Wait until every queued update has been sent."""
        self._run(self._outbox.join())

    async def _send(self, data: dict[str, Any]) -> None:
        fault = self.faults.popleft() if self.faults else None
        frame = json.dumps({"stream": "trade_updates", "data": data}).encode()
        if fault == "drop":
            for ws in list(self.clients):
                await ws.close()
            return
        if fault == "hold":
            self.held.append(frame)
            return
        frames = [frame, *self.held]
        self.held = []
        if fault == "duplicate":
            frames.insert(0, frame)
        for ws in list(self.clients):
            for each in frames:
                await ws.send(each)

    def drop(self) -> None:
        """Close every connection (the client reconnects)."""

        async def close_all() -> None:
            for ws in list(self.clients):
                await ws.close()

        self._run(close_all())

    def close(self) -> None:
        self._sending.cancel()
        self.server.close()
        self._run(self.server.wait_closed())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class FakeAlpaca:
    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}  # by client order id, oldest first
        self.positions: dict[str, dict[str, Any]] = {
            p["symbol"]: p for p in fixture("positions_list.json")
        }
        self.faults: collections.deque[str] = collections.deque()
        #: Faults of the next GETs: ``429`` (Alpaca's reset ``reset_seconds`` ahead).
        self.read_faults: collections.deque[str] = collections.deque()
        self.reset_seconds = 1
        #: Seconds each HTTP request waits before it is handled: the distance to Alpaca.
        self.latency = 0.0
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.hang_seconds = 3.0
        #: Market orders fill right after their answer (as in market hours).
        self.fill_market_orders = False
        #: Orders whose client order id starts with one of these are not streamed, as if
        #: another account had placed them (the benchmark's raw alpaca-py orders).
        self.unstreamed: tuple[str, ...] = ()
        self._lock = threading.RLock()
        self._stream: TradeUpdates | None = None
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAlpaca:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._stream is not None:
            self._stream.close()

    @property
    def stream(self) -> TradeUpdates:
        """The trade_updates websocket, started on first use."""
        with self._lock:
            if self._stream is None:
                self._stream = TradeUpdates()
            return self._stream

    @property
    def stream_url(self) -> str:
        return self.stream.url

    def posts(self, client_order_id: str) -> int:
        return sum(
            1
            for method, path, body in self.requests
            if method == "POST" and body.get("client_order_id") == client_order_id
        )

    def by_id(self, order_id: str) -> dict[str, Any] | None:
        return next((o for o in self.orders.values() if o["id"] == order_id), None)

    def open_orders(self) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if o["status"] in OPEN]

    def publish(self, event: str, order: dict[str, Any], **fields: Any) -> None:
        if self._stream is not None and not order["client_order_id"].startswith(self.unstreamed):
            self._stream.publish(
                {"event": event, "timestamp": _now(), **fields, "order": copy.deepcopy(order)}
            )

    def new_order(
        self,
        body: dict[str, Any],
        status: str = "accepted",
        *,
        order_id: str | None = None,
        replaces: str | None = None,
    ) -> dict[str, Any]:
        order = copy.deepcopy(fixture("order_equity_limit_accepted.spec.json"))
        now = dt.datetime.now(dt.UTC) + dt.timedelta(microseconds=len(self.orders))
        order.update(
            id=order_id or str(uuid.uuid4()),
            replaces=replaces,
            client_order_id=body.get("client_order_id") or str(uuid.uuid4()),
            symbol=body["symbol"],
            side=body["side"],
            type=body["type"],
            order_type=body["type"],
            time_in_force=body["time_in_force"],
            qty=body.get("qty"),
            notional=body.get("notional"),
            limit_price=body.get("limit_price"),
            stop_price=body.get("stop_price"),
            status=status,
            submitted_at=now.isoformat().replace("+00:00", "Z"),
            created_at=now.isoformat().replace("+00:00", "Z"),
            extended_hours=bool(body.get("extended_hours")),
        )
        with self._lock:
            self.orders[order["client_order_id"]] = order
        self.publish("new", order)
        return order

    def fill(
        self, order_id: str, qty: Decimal | int | str | None = None, price: Decimal | None = None
    ) -> dict[str, Any]:
        """Fill ``qty`` of an open order (default: the rest) at ``price``; moves the position."""
        with self._lock:
            order = self.by_id(order_id)
            assert order is not None, order_id
            assert order["status"] in OPEN, order
            filled = Decimal(order["filled_qty"] or 0)
            total = Decimal(order["qty"] or 0) or (Decimal(order["notional"]) / PRICE)
            amount = total - filled if qty is None else Decimal(qty)
            price = price or PRICE
            filled += amount
            done = filled >= total
            order.update(
                filled_qty=str(filled),
                filled_avg_price=str(price),
                status="filled" if done else "partially_filled",
                filled_at=_now() if done else None,
                updated_at=_now(),
            )
            held = self._move_position(order["symbol"], order["side"], amount, price)
        self.publish(
            "fill" if done else "partial_fill",
            order,
            execution_id=str(uuid.uuid4()),
            price=str(price),
            qty=str(amount),
            position_qty=str(held),
        )
        return order

    def _move_position(self, symbol: str, side: str, amount: Decimal, price: Decimal) -> Decimal:
        current = self.positions.get(symbol)
        held = Decimal(current["qty"]) if current else Decimal(0)
        held += amount if side == "buy" else -amount
        if held == 0:
            self.positions.pop(symbol, None)
            return held
        position = copy.deepcopy(current or fixture("position_single.json"))
        position.update(symbol=symbol, qty=str(held), side="long" if held > 0 else "short")
        if current is None:
            position.update(avg_entry_price=str(price), cost_basis=str(held * price))
        self.positions[symbol] = position
        return held

    def cancel(self, order: dict[str, Any]) -> None:
        with self._lock:
            order.update(status="canceled", canceled_at=_now(), updated_at=_now())
        self.publish("canceled", order)

    def foreign_order(self, symbol: str = "AAPL", qty: str = "1") -> dict[str, Any]:
        """An order placed elsewhere (the dashboard): in the book, streamed, never journaled."""
        body = {"symbol": symbol, "side": "buy", "type": "market", "time_in_force": "day"}
        return self.new_order({**body, "qty": qty, "client_order_id": f"web-{uuid.uuid4()}"})


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAlpaca
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, the second waits
    # for the client's delayed ACK (40 ms a request on Linux loopback).
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        return None

    def _send(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        data = (
            b""
            if body is None
            else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        self._distance()
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        fake = self.fake
        with fake._lock:
            fake.requests.append((method, url.path, body if method == "POST" else query))
            headers = dict(self.headers.items())
            fake.requests[-1][2]["_headers"] = headers
        path = url.path.removeprefix("/v2")
        if method == "GET" and fake.read_faults and fake.read_faults.popleft() == "429":
            return self._rate_limited()
        if method == "POST" and path == "/orders":
            return self._post_order(body)
        if path == "/orders:by_client_order_id":
            order = fake.orders.get(query.get("client_order_id", ""))
            return (
                self._send(200, order)
                if order
                else self._send(404, fixture("error_404_order_not_found.json"))
            )
        if path == "/orders" and method == "GET":
            return self._send(200, self._listing(query))
        if path.startswith("/orders/"):
            return self._one_order(method, path.removeprefix("/orders/"), body)
        if path == "/positions" and method == "GET":
            return self._send(200, list(fake.positions.values()))
        if path.startswith("/positions/") and method == "GET":
            position = fake.positions.get(path.split("/")[2])
            if position is None:
                return self._send(404, fixture("error_404_position_does_not_exist.json"))
            return self._send(200, position)
        static = {
            ("GET", "/account"): (200, "account.json"),
            ("DELETE", "/positions"): (207, "close_all_positions_207.json"),
            ("GET", "/clock"): (200, "clock.spec.json"),
            ("GET", "/account/portfolio/history"): (200, "portfolio_history.json"),
        }
        if method == "DELETE" and path.startswith("/positions/"):
            # Alpaca answers a close with the sell order it placed (the documented body,
            # close_position_order.json, is a buy: a quirk of alpaca-py's test data).
            qty = query.get("qty") or "1"
            sell = {
                "symbol": path.split("/")[2],
                "side": "sell",
                "type": "market",
                "time_in_force": "day",
                "qty": qty,
            }
            return self._send(200, fake.new_order(sell))
        if (method, path) in static:
            status, name = static[(method, path)]
            return self._send(status, fixture(name))
        if method == "GET" and path.startswith("/assets/"):
            return self._send(200, {**fixture("asset.json"), "symbol": path.split("/")[2]})
        if path.startswith("/stocks/") and path.endswith("/trades/latest"):
            symbol = path.split("/")[2]
            trade = {"t": _now(), "p": float(PRICE), "s": 10}
            return self._send(200, {"symbol": symbol, "trade": trade})
        return self._send(404, {"code": 40410000, "message": f"no route {method} {path}"})

    def _listing(self, query: dict[str, str]) -> list[dict[str, Any]]:
        status = query.get("status", "open")
        orders = list(reversed(self.fake.orders.values()))
        if status != "all":
            orders = [o for o in orders if (o["status"] in OPEN) == (status == "open")]
        if "symbols" in query:
            wanted = set(query["symbols"].split(","))
            orders = [o for o in orders if o["symbol"] in wanted]
        # both edges exclusive, as Alpaca's OpenAPI spec says
        if "until" in query:
            until = dt.datetime.fromisoformat(query["until"])
            orders = [o for o in orders if dt.datetime.fromisoformat(o["submitted_at"]) < until]
        if "after" in query:
            after = dt.datetime.fromisoformat(query["after"])
            orders = [o for o in orders if dt.datetime.fromisoformat(o["submitted_at"]) > after]
        return orders[: int(query.get("limit", 50))]

    def _rate_limited(self) -> None:
        reset = str(int(time.time()) + self.fake.reset_seconds)
        limits = {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0"}
        headers = {**limits, "X-RateLimit-Reset": reset}
        return self._send(429, fixture("error_429_rate_limited.json"), headers)

    def _post_order(self, body: dict[str, Any]) -> None:
        fake = self.fake
        fault = fake.faults.popleft() if fake.faults else None
        if fault == "429":
            return self._rate_limited()
        if fault == "html_502":
            page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
            return self._send(502, page, content_type="text/html")
        with fake._lock:
            if body.get("client_order_id") in fake.orders:
                return self._send(422, fixture("error_422_duplicate_client_order_id.json"))
            order = fake.new_order(body)
        if fault == "504_after_accept":
            return self._send(504, "<html>504 Gateway Time-out</html>", content_type="text/html")
        if fault == "reset_after_accept":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return None
        if fault == "hang":
            time.sleep(fake.hang_seconds)
        self._send(200, order)
        if fake.fill_market_orders and order["type"] == "market":
            fake.fill(order["id"])
        return None

    def _one_order(self, method: str, order_id: str, body: dict[str, Any]) -> None:
        fake = self.fake
        order = fake.by_id(order_id)
        if order is None:
            return self._send(404, fixture("error_404_order_not_found.json"))
        if method == "GET":
            return self._send(200, order)
        if order["status"] not in OPEN:
            return self._send(422, {"code": 42210000, "message": "order is not cancelable"})
        if method == "DELETE":
            fake.cancel(order)
            return self._send(204)
        new_id = str(uuid.uuid4())
        with fake._lock:
            order.update(status="replaced", replaced_by=new_id, updated_at=_now())
        fake.publish("replaced", order)
        new = fake.new_order(
            {
                **order,
                **{k: v for k, v in body.items() if k != "client_order_id"},
                "client_order_id": body.get("client_order_id"),
            },
            order_id=new_id,
            replaces=order_id,
        )
        return self._send(200, new)

    def do_GET(self) -> None:
        self._route("GET")

    def _distance(self) -> None:
        if self.fake.latency:
            time.sleep(self.fake.latency)

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_PATCH(self) -> None:
        self._route("PATCH")
