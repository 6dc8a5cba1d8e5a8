"""A fake Alpaca Trading API on loopback, serving Alpaca's documented bodies (tests/fixtures).

It keeps orders by client order id and refuses a second one with the same id,
as Alpaca does, and injects faults on the next order POST: ``504_after_accept``,
``reset_after_accept`` (the connection closes with no answer), ``hang`` (the
answer comes after ``hang_seconds``), ``429`` (with rate-limit headers) and
``html_502`` (a load balancer's HTML page). It records every request, headers
included, so tests can count POSTs per client order id.
"""

from __future__ import annotations

import collections
import copy
import datetime as dt
import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class FakeAlpaca:
    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}  # by client order id, oldest first
        self.faults: collections.deque[str] = collections.deque()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.hang_seconds = 3.0
        self._lock = threading.Lock()
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

    def posts(self, client_order_id: str) -> int:
        return sum(
            1
            for method, path, body in self.requests
            if method == "POST" and body.get("client_order_id") == client_order_id
        )

    def new_order(self, body: dict[str, Any], status: str = "accepted") -> dict[str, Any]:
        order = copy.deepcopy(fixture("order_equity_limit_accepted.spec.json"))
        now = dt.datetime.now(dt.UTC) + dt.timedelta(microseconds=len(self.orders))
        order.update(
            id=str(uuid.uuid4()),
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
        self.orders[order["client_order_id"]] = order
        return order


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAlpaca
    protocol_version = "HTTP/1.1"

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
            orders = list(reversed(fake.orders.values()))
            if "until" in query:
                orders = [o for o in orders if o["submitted_at"] < query["until"]]
            return self._send(200, orders[: int(query.get("limit", 50))])
        if path.startswith("/orders/"):
            return self._one_order(method, path.removeprefix("/orders/"), body)
        static = {
            ("GET", "/account"): (200, "account.json"),
            ("GET", "/positions"): (200, "positions_list.json"),
            ("GET", "/positions/AAPL"): (200, "position_single.json"),
            ("GET", "/positions/NONE"): (404, "error_404_position_does_not_exist.json"),
            ("DELETE", "/positions"): (207, "close_all_positions_207.json"),
            ("GET", "/clock"): (200, "clock.spec.json"),
            ("GET", "/assets/AAPL"): (200, "asset.json"),
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
        if path.startswith("/stocks/") and path.endswith("/trades/latest"):
            symbol = path.split("/")[2]
            now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
            return self._send(200, {"symbol": symbol, "trade": {"t": now, "p": 190.5, "s": 10}})
        return self._send(404, {"code": 40410000, "message": f"no route {method} {path}"})

    def _post_order(self, body: dict[str, Any]) -> None:
        fake = self.fake
        fault = fake.faults.popleft() if fake.faults else None
        if fault == "429":
            reset = str(int(time.time()) + 1)
            return self._send(
                429,
                fixture("error_429_rate_limited.json"),
                {
                    "X-RateLimit-Limit": "200",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset,
                },
            )
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
        return self._send(200, order)

    def _one_order(self, method: str, order_id: str, body: dict[str, Any]) -> None:
        fake = self.fake
        order = next((o for o in fake.orders.values() if o["id"] == order_id), None)
        if order is None:
            return self._send(404, fixture("error_404_order_not_found.json"))
        if method == "GET":
            return self._send(200, order)
        if method == "DELETE":
            order["status"] = "canceled"
            return self._send(204)
        new = fake.new_order(
            {
                **order,
                **{k: v for k, v in body.items() if k != "client_order_id"},
                "client_order_id": body.get("client_order_id"),
            }
        )
        new["replaces"] = order_id
        order.update(status="replaced", replaced_by=new["id"])
        return self._send(200, new)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_PATCH(self) -> None:
        self._route("PATCH")
